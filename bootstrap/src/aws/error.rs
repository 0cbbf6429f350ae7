//! How an AWS call fails, and reading the services' error bodies: DynamoDB's JSON
//! (`__type`, `message`), S3's XML (`<Code>`, `<Message>`) and SES v2's JSON (`message`,
//! the code in the `x-amzn-ErrorType` header). The code is kept as AWS
//! spells it, since callers act on it (`ConditionalCheckFailedException` is how a
//! session lock is refused, `NoSuchBucket` is a configuration hint).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Region, credentials or an endpoint are missing or wrong: the deployment's to fix.
    #[error("{0}")]
    Config(String),
    /// No answer: connection refused or reset, DNS, TLS, a timeout.
    #[error("{0}")]
    Unreachable(String),
    /// The service answered with an error it named.
    #[error("{code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// The service answered with something that is neither success nor an error body.
    #[error("HTTP {status} with an unreadable body: {body}")]
    Response { status: u16, body: String },
}

impl Error {
    /// The AWS error code, when the service named one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A DynamoDB error answer: `{"__type": "com.amazonaws.dynamodb.v20120810#Code",
/// "message": "..."}` (some errors spell it `Message`).
pub fn dynamodb(status: u16, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "__type")]
        kind: String,
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(parsed) => Error::Service {
            status,
            code: parsed
                .kind
                .rsplit_once('#')
                .map_or(parsed.kind.as_str(), |(_, code)| code)
                .to_owned(),
            message: parsed.message.unwrap_or_default(),
        },
        Err(_) => unreadable(status, body),
    }
}

/// An SES v2 error answer (REST-JSON): the code in the `x-amzn-ErrorType` header
/// (`MessageRejected:http://internal.amazon.com/...`, the code before the colon), else in
/// the body's `__type` or `code`; the text in `message` (or `Message`).
pub fn ses(status: u16, headers: &::http::HeaderMap, body: &[u8]) -> Error {
    #[derive(serde::Deserialize, Default)]
    struct Body {
        #[serde(rename = "__type", alias = "code", alias = "Code")]
        kind: Option<String>,
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let parsed = serde_json::from_slice::<Body>(body).ok();
    let header = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned());
    let code = header.or_else(|| parsed.as_ref().and_then(|p| p.kind.clone()));
    match code.filter(|c| !c.is_empty()) {
        Some(code) => Error::Service {
            status,
            code: code
                .rsplit_once('#')
                .map_or(code.as_str(), |(_, c)| c)
                .to_owned(),
            message: parsed.and_then(|p| p.message).unwrap_or_default(),
        },
        None => unreadable(status, body),
    }
}

/// An S3 error answer: `<Error><Code>NoSuchBucket</Code><Message>...</Message>...`.
pub fn s3(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    match xml_element(&text, "Code") {
        Some(code) => Error::Service {
            status,
            code,
            message: xml_element(&text, "Message").unwrap_or_default(),
        },
        None => unreadable(status, body),
    }
}

/// The body as far as it helps a reader: its first 200 characters.
fn unreadable(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let body = match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None if text.is_empty() => "(empty)".to_owned(),
        None => text.into_owned(),
    };
    Error::Response { status, body }
}

/// The text of the first `<name>` element, unescaped. S3's error documents are flat and
/// small; a full XML parser would be most of this module's size for two fields.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (entity, char)| {
        text.replace(entity, char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str) -> Error {
        Error::Service {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn dynamodb_errors() {
        let table: [(&str, Error); 5] = [
            (
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
                service(
                    400,
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                ),
            ),
            (
                r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","Message":"The security token included in the request is invalid."}"#,
                service(
                    400,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                ),
            ),
            (
                r#"{"__type":"ResourceNotFoundException"}"#,
                service(400, "ResourceNotFoundException", ""),
            ),
            (
                "<html>Bad Gateway</html>",
                Error::Response {
                    status: 400,
                    body: "<html>Bad Gateway</html>".into(),
                },
            ),
            (
                "",
                Error::Response {
                    status: 400,
                    body: "(empty)".into(),
                },
            ),
        ];
        for (body, want) in table {
            assert_eq!(dynamodb(400, body.as_bytes()), want, "{body}");
        }
        assert_eq!(
            dynamodb(400, br#"{"__type":"x#ConditionalCheckFailedException"}"#).code(),
            Some("ConditionalCheckFailedException")
        );
    }

    #[test]
    fn ses_errors() {
        let table: [(Option<&str>, &str, Error); 5] = [
            (
                Some("MessageRejected:http://internal.amazon.com/coral/com.amazon.coral.validate/"),
                r#"{"message":"Email address is not verified."}"#,
                service(400, "MessageRejected", "Email address is not verified."),
            ),
            (
                Some("AccessDeniedException"),
                r#"{"Message":"not authorized to perform: ses:SendEmail"}"#,
                service(
                    400,
                    "AccessDeniedException",
                    "not authorized to perform: ses:SendEmail",
                ),
            ),
            (
                None,
                r#"{"__type":"com.amazonaws.sesv2#BadRequestException","message":"bad"}"#,
                service(400, "BadRequestException", "bad"),
            ),
            (
                Some("TooManyRequestsException"),
                "",
                service(400, "TooManyRequestsException", ""),
            ),
            (
                None,
                "<html>Bad Gateway</html>",
                Error::Response {
                    status: 400,
                    body: "<html>Bad Gateway</html>".into(),
                },
            ),
        ];
        for (header, body, want) in table {
            let mut headers = ::http::HeaderMap::new();
            if let Some(value) = header {
                headers.insert("x-amzn-errortype", value.parse().unwrap());
            }
            assert_eq!(ses(400, &headers, body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn s3_errors() {
        let table: [(&str, Error); 4] = [
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName></Error>",
                service(404, "NoSuchBucket", "The specified bucket does not exist"),
            ),
            (
                "<Error><Code>AccessDenied</Code><Message>a &amp; b &lt;c&gt;</Message></Error>",
                service(404, "AccessDenied", "a & b <c>"),
            ),
            (
                "<Error><Code>PermanentRedirect</Code></Error>",
                service(404, "PermanentRedirect", ""),
            ),
            (
                "",
                Error::Response {
                    status: 404,
                    body: "(empty)".into(),
                },
            ),
        ];
        for (body, want) in table {
            assert_eq!(s3(404, body.as_bytes()), want, "{body}");
        }
        let long = "x".repeat(300);
        let Error::Response { body, .. } = s3(502, long.as_bytes()) else {
            panic!("not a Response error");
        };
        assert_eq!(body.len(), 203);
    }
}
