//! Pure: the session socket's protocol. One JSON object per line each way.
//!
//! ```text
//! {"op":"read","name":"PHPSESSID","id":"abc","lifetime":1440}  -> {"ok":true,"data":"<base64>"}
//! {"op":"write","name":"PHPSESSID","id":"abc","data":"<base64>","lifetime":1440} -> {"ok":true}
//! {"op":"touch","name":"PHPSESSID","id":"abc","lifetime":1440} -> {"ok":true}
//! {"op":"destroy","name":"PHPSESSID","id":"abc"}               -> {"ok":true}
//! {"op":"exists","name":"PHPSESSID","id":"abc"}                -> {"ok":true,"exists":false}
//! {"op":"close"}                                               -> {"ok":true}
//! anything failing                              -> {"ok":false,"status":503,"error":"..."}
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What PHP asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Read the session (and lock it, when locking is on).
    Read {
        name: String,
        id: String,
        #[serde(default)]
        lifetime: u64,
    },
    /// Store the data (and unlock).
    Write {
        name: String,
        id: String,
        /// Base64.
        data: String,
        #[serde(default)]
        lifetime: u64,
    },
    /// Data unchanged: unlock, extend the expiry if it is due.
    Touch {
        name: String,
        id: String,
        #[serde(default)]
        lifetime: u64,
    },
    Destroy {
        name: String,
        id: String,
    },
    /// Whether a live session has this id (strict mode's validateId).
    Exists {
        name: String,
        id: String,
    },
    /// The request is done with the session: release any lock still held.
    Close,
}

/// What the bootstrap answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn ok() -> Response {
        Response {
            ok: true,
            data: None,
            exists: None,
            status: None,
            error: None,
        }
    }

    pub fn data(bytes: &[u8]) -> Response {
        Response {
            data: Some(STANDARD.encode(bytes)),
            ..Response::ok()
        }
    }

    pub fn exists(exists: bool) -> Response {
        Response {
            exists: Some(exists),
            ..Response::ok()
        }
    }

    pub fn error(status: u16, error: impl Into<String>) -> Response {
        Response {
            ok: false,
            status: Some(status),
            error: Some(error.into()),
            ..Response::ok()
        }
    }

    /// One line, newline included.
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a Response serializes");
        line.push('\n');
        line
    }
}

/// A line from PHP; a line that is no request is answered with a 500 and the reason.
pub fn parse(line: &str) -> Result<Request, String> {
    let request: Request =
        serde_json::from_str(line.trim_end()).map_err(|e| format!("bad request: {e}"))?;
    if let Request::Read { name, id, .. }
    | Request::Write { name, id, .. }
    | Request::Touch { name, id, .. }
    | Request::Destroy { name, id }
    | Request::Exists { name, id } = &request
    {
        if name.is_empty() || id.is_empty() {
            return Err("bad request: empty session name or id".to_owned());
        }
    }
    Ok(request)
}

/// Base64 data from a write.
pub fn decode_data(data: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(data)
        .map_err(|e| format!("bad request: data is not base64: {e}"))
}

/// The table's hash key, as the AWS SDK for PHP's handler writes it.
pub fn item_id(name: &str, id: &str) -> String {
    format!("{name}_{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse() {
        let table: [(&str, Result<Request, &str>); 7] = [
            (
                r#"{"op":"read","name":"PHPSESSID","id":"a","lifetime":60}"#,
                Ok(Request::Read {
                    name: "PHPSESSID".into(),
                    id: "a".into(),
                    lifetime: 60,
                }),
            ),
            (
                "{\"op\":\"write\",\"name\":\"S\",\"id\":\"b\",\"data\":\"eA==\"}\n",
                Ok(Request::Write {
                    name: "S".into(),
                    id: "b".into(),
                    data: "eA==".into(),
                    lifetime: 0,
                }),
            ),
            (
                r#"{"op":"destroy","name":"S","id":"b"}"#,
                Ok(Request::Destroy {
                    name: "S".into(),
                    id: "b".into(),
                }),
            ),
            (r#"{"op":"close"}"#, Ok(Request::Close)),
            (r#"{"op":"read","name":"","id":"a"}"#, Err("empty session")),
            (r#"{"op":"nope"}"#, Err("bad request")),
            ("not json", Err("bad request")),
        ];
        for (line, want) in table {
            match (parse(line), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{line}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{line}: {got}"),
                (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn responses_are_one_line_of_json() {
        let table = [
            (Response::ok(), "{\"ok\":true}\n"),
            (
                Response::data(b"a|i:1;"),
                "{\"ok\":true,\"data\":\"YXxpOjE7\"}\n",
            ),
            (Response::exists(false), "{\"ok\":true,\"exists\":false}\n"),
            (
                Response::error(503, "x"),
                "{\"ok\":false,\"status\":503,\"error\":\"x\"}\n",
            ),
        ];
        for (response, want) in table {
            assert_eq!(response.line(), want);
        }
        assert_eq!(decode_data("YXxpOjE7").unwrap(), b"a|i:1;");
        assert!(decode_data("!!").is_err());
        assert_eq!(item_id("PHPSESSID", "abc"), "PHPSESSID_abc");
    }
}
