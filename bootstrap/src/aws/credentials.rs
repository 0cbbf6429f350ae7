//! Credentials from where lamphp runs: the environment (Lambda puts the role's session
//! in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the
//! container credentials endpoint (ECS), fetched when first needed and again five
//! minutes before they expire.

use super::http::{self, Client};
use super::Error;
use bytes::Bytes;
use http_body_util::Full;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use aws_credential_types::Credentials;

/// ECS's credentials endpoint, which `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is a path on.
const ECS_ENDPOINT: &str = "http://169.254.170.2";

/// Fetch again this long before the credentials expire, so no request signs with
/// credentials that lapse while it is under way.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// How long the credentials endpoint gets to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where credentials come from; cheap to clone, clones share the cache.
#[derive(Debug, Clone)]
pub struct Provider(Arc<Source>);

#[derive(Debug)]
enum Source {
    Fixed(Credentials),
    Container(Box<Container>),
    /// None to be had: why, and what to set.
    Missing(String),
}

#[derive(Debug)]
struct Container {
    url: String,
    token: Option<Token>,
    http: Client,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` is read at each fetch: EKS rotates the file.
enum Token {
    Value(String),
    File(PathBuf),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Value(_) => f.write_str("Token(** redacted **)"),
            Token::File(path) => write!(f, "TokenFile({})", path.display()),
        }
    }
}

impl Provider {
    pub fn fixed(credentials: Credentials) -> Provider {
        Provider(Arc::new(Source::Fixed(credentials)))
    }

    /// The environment's credentials, else its container endpoint, as the SDKs look.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Provider {
        let source = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Source::Fixed(Credentials::new(
                id,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "environment",
            )),
            (Some(_), None) | (None, Some(_)) => Source::Missing(
                "AWS credentials: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither"
                    .to_owned(),
            ),
            (None, None) => match container_url(
                var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            ) {
                Ok(Some(url)) => Source::Container(Box::new(Container {
                    url,
                    token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                        .map(|path| Token::File(path.into()))
                        .or_else(|| var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Token::Value)),
                    http: Client::new(Duration::from_secs(2)),
                    cached: tokio::sync::Mutex::new(None),
                })),
                Ok(None) => Source::Missing(
                    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run \
                     on Lambda or ECS (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) with a role"
                        .to_owned(),
                ),
                Err(message) => Source::Missing(message),
            },
        };
        Provider(Arc::new(source))
    }

    /// Credentials good for at least a while.
    pub async fn get(&self) -> Result<Credentials, Error> {
        match &*self.0 {
            Source::Fixed(credentials) => Ok(credentials.clone()),
            Source::Missing(message) => Err(Error::Config(message.clone())),
            Source::Container(container) => container.get().await,
        }
    }
}

impl Container {
    async fn get(&self) -> Result<Credentials, Error> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        let fresh = |c: &Credentials| c.expiry().is_none_or(|at| at > now + REFRESH_BEFORE);
        if let Some(credentials) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        match self.fetch().await {
            Ok(credentials) => Ok(cached.insert(credentials).clone()),
            Err(e) => match cached.as_ref().filter(|c| c.expiry() > Some(now)) {
                // Still valid for a few minutes: better than failing the request.
                Some(credentials) => {
                    tracing::warn!("refreshing AWS credentials: {e}; using the current ones");
                    Ok(credentials.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<Credentials, Error> {
        let mut request = ::http::Request::get(&self.url);
        if let Some(token) = &self.token {
            request = request.header(::http::header::AUTHORIZATION, self.token(token)?);
        }
        let request = request
            .body(Full::<Bytes>::default())
            .map_err(|e| Error::Config(format!("container credentials URL {}: {e}", self.url)))?;
        let answer = async { http::collect(self.http.send(request).await?).await };
        let (status, body) =
            tokio::time::timeout(FETCH_TIMEOUT, answer)
                .await
                .map_err(|_| {
                    Error::Unreachable(format!(
                    "the container credentials endpoint {} did not answer within {FETCH_TIMEOUT:?}",
                    self.url
                ))
                })??;
        if status != 200 {
            return Err(Error::Config(format!(
                "the container credentials endpoint {} answered {status}: {}",
                self.url,
                String::from_utf8_lossy(&body)
            )));
        }
        parse(&body).map_err(|e| {
            Error::Config(format!(
                "the container credentials endpoint {} answered {e}",
                self.url
            ))
        })
    }

    fn token(&self, token: &Token) -> Result<String, Error> {
        match token {
            Token::Value(value) => Ok(value.clone()),
            Token::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .map_err(|e| {
                    Error::Config(format!(
                        "reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                        path.display()
                    ))
                }),
        }
    }
}

/// The credentials URL: ECS's endpoint and `relative`, else `full`, which must be
/// https or a local address (loopback, or ECS's and EKS's link-local agents), as the
/// SDKs require: credentials must not cross a network in the clear.
fn container_url(relative: Option<String>, full: Option<String>) -> Result<Option<String>, String> {
    if let Some(path) = relative {
        return Ok(Some(format!("{ECS_ENDPOINT}{path}")));
    }
    let Some(url) = full else { return Ok(None) };
    let refuse = |why: &str| {
        Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI={url:?}: {why}; use https, or http to \
             127.0.0.1, 169.254.170.2, 169.254.170.23 or fd00:ec2::23"
        ))
    };
    let Ok(uri) = url.parse::<::http::Uri>() else {
        return refuse("not a URL");
    };
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let local = host == "localhost"
        || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(&host)
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(Some(url)),
        Some("http") if local => Ok(Some(url)),
        Some("http") => refuse("plain http to a host that is not local"),
        _ => refuse("not an http(s) URL"),
    }
}

/// The endpoint's answer: `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`.
fn parse(body: &[u8]) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        access_key_id: String,
        secret_access_key: String,
        token: Option<String>,
        expiration: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "what is not credentials ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    let expiry = match answer.expiration {
        Some(text) => {
            Some(rfc3339(&text).ok_or_else(|| format!("an unreadable Expiration {text:?}"))?)
        }
        None => None,
    };
    Ok(Credentials::new(
        answer.access_key_id,
        answer.secret_access_key,
        answer.token,
        expiry,
        "container",
    ))
}

/// `2026-11-22T10:00:00Z`, with optional fraction and numeric offset, as a time.
fn rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = bytes.get(from..from + len)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if !separators.iter().all(|&(at, c)| bytes.get(at) == Some(&c))
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let at = text.len() - 5;
            let minutes = number(at, 2)? * 60 + number(at + 3, 2)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        let table = [
            ("1970-01-01T00:00:00Z", at(0)),
            ("2026-11-22T10:00:00Z", at(1_795_341_600)),
            ("2026-11-22T10:00:00.123456Z", at(1_795_341_600)),
            ("2026-11-22T12:00:00+02:00", at(1_795_341_600)),
            ("2026-11-22T09:30:00-00:30", at(1_795_341_600)),
            ("2000-03-01T00:00:00Z", at(951_868_800)),
            ("2024-02-29T23:59:59z", at(1_709_251_199)),
            ("2026-11-22T10:00:00", None),
            ("2026-13-22T10:00:00Z", None),
            ("2026-11-22 10:00:00Z", at(1_795_341_600)),
            ("2026-11-2XT10:00:00Z", None),
            ("+026-11-22T10:00:00Z", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(rfc3339(text), want, "{text}");
        }
    }

    #[test]
    fn container_urls() {
        let some = |s: &str| Some(s.to_owned());
        let table = [
            (
                some("/v2/credentials/abc"),
                None,
                Ok(some("http://169.254.170.2/v2/credentials/abc")),
            ),
            (
                some("/v2/x"),
                some("https://elsewhere/"),
                Ok(some("http://169.254.170.2/v2/x")),
            ),
            (
                None,
                some("http://127.0.0.1:8080/creds"),
                Ok(some("http://127.0.0.1:8080/creds")),
            ),
            (
                None,
                some("http://localhost/creds"),
                Ok(some("http://localhost/creds")),
            ),
            (
                None,
                some("http://169.254.170.23/v1/credentials"),
                Ok(some("http://169.254.170.23/v1/credentials")),
            ),
            (
                None,
                some("http://[fd00:ec2::23]/v1"),
                Ok(some("http://[fd00:ec2::23]/v1")),
            ),
            (None, some("http://[::1]:9/c"), Ok(some("http://[::1]:9/c"))),
            (
                None,
                some("https://creds.example.com/c"),
                Ok(some("https://creds.example.com/c")),
            ),
            (None, None, Ok(None)),
        ];
        for (relative, full, want) in table {
            assert_eq!(
                container_url(relative.clone(), full.clone()),
                want,
                "{relative:?} {full:?}"
            );
        }
        for refused in [
            "http://10.0.0.1/creds",
            "ftp://127.0.0.1/",
            "not a url",
            "/relative",
        ] {
            let err = container_url(None, some(refused)).unwrap_err();
            assert!(err.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "{err}");
        }
    }

    #[test]
    fn container_answers() {
        let good = br#"{"AccessKeyId":"AKID","SecretAccessKey":"s3cr3t","Token":"tok","Expiration":"2026-11-22T10:00:00Z","RoleArn":"arn:aws:iam::1:role/r"}"#;
        let credentials = parse(good).unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.secret_access_key(), "s3cr3t");
        assert_eq!(credentials.session_token(), Some("tok"));
        assert_eq!(
            credentials.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_341_600))
        );
        let no_expiry = parse(br#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#).unwrap();
        assert_eq!(
            (no_expiry.session_token(), no_expiry.expiry()),
            (None, None)
        );
        for (bad, needle) in [
            (
                &br#"{"code":"AccessDenied","message":"no"}"#[..],
                "AccessDenied",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"}"#,
                "\"soon\"",
            ),
            (b"<html>", "<html>"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(needle), "{needle} not in {err}");
        }
    }

    #[test]
    fn the_environment_comes_first() {
        let provider = |vars: &[(&str, &str)]| {
            let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
            Provider::from_vars(|name| vars.get(name).map(|v| v.to_string()))
        };
        let env = provider(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
            ("AWS_SESSION_TOKEN", "T"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/x"),
        ]);
        let Source::Fixed(credentials) = &*env.0 else {
            panic!("{env:?}");
        };
        assert_eq!(credentials.session_token(), Some("T"));
        let container = provider(&[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token"),
        ]);
        assert!(matches!(&*container.0, Source::Container(_)));
        assert!(!format!("{container:?}").contains("secret-token"));
        for (vars, needle) in [
            (&[][..], "no AWS credentials"),
            (&[("AWS_ACCESS_KEY_ID", "A")][..], "both"),
            (
                &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.1.1/")][..],
                "not local",
            ),
        ] {
            let Source::Missing(message) = &*provider(vars).0 else {
                panic!("{vars:?}");
            };
            assert!(message.contains(needle), "{needle} not in {message}");
        }
    }
}
