//! Where requests go: AWS's regional endpoints, or an override (`AWS_ENDPOINT_URL_S3`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SESV2`, else `AWS_ENDPOINT_URL`), as
//! the SDKs read them.

/// The endpoint overrides; `None` is AWS's own endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub s3: Option<String>,
    pub dynamodb: Option<String>,
    /// SES's v2 API (the SDKs' service id `SESv2`, hence the variable's name).
    pub sesv2: Option<String>,
}

impl Endpoints {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Endpoints {
        let all = var("AWS_ENDPOINT_URL");
        Endpoints {
            s3: var("AWS_ENDPOINT_URL_S3").or_else(|| all.clone()),
            dynamodb: var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| all.clone()),
            sesv2: var("AWS_ENDPOINT_URL_SESV2").or(all),
        }
    }

    /// One endpoint for every service.
    pub fn all(url: String) -> Endpoints {
        Endpoints {
            s3: Some(url.clone()),
            dynamodb: Some(url.clone()),
            sesv2: Some(url),
        }
    }
}

/// DynamoDB's URL: the override, or the region's endpoint.
pub fn dynamodb(endpoint: Option<&str>, region: &str) -> String {
    match endpoint {
        Some(url) => url.trim_end_matches('/').to_owned() + "/",
        None => format!("https://dynamodb.{region}.{}/", domain(region)),
    }
}

/// SES v2's SendEmail: the override, or the region's `email` endpoint (SES's API host
/// is `email.REGION`, for v1 and v2 alike).
pub fn ses_send_email(endpoint: Option<&str>, region: &str) -> String {
    let base = match endpoint {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("https://email.{region}.{}", domain(region)),
    };
    base + "/v2/email/outbound-emails"
}

/// An S3 object's URL. With an override the bucket goes in the path: S3-compatible
/// servers (MinIO, moto, LocalStack) are addressed by one host name, and
/// `BUCKET.localhost` resolves nowhere. On AWS the bucket is in the host name
/// (virtual-hosted style, which AWS wants), except for a bucket name with a dot, which
/// the `*.s3` certificate does not cover.
pub fn s3_object(endpoint: Option<&str>, region: &str, bucket: &str, key: &str) -> String {
    let key = encode_key(key);
    match endpoint {
        Some(url) => format!("{}/{bucket}/{key}", url.trim_end_matches('/')),
        None if bucket.contains('.') => {
            format!("https://s3.{region}.{}/{bucket}/{key}", domain(region))
        }
        None => format!("https://{bucket}.s3.{region}.{}/{key}", domain(region)),
    }
}

/// China's regions are under their own domain.
fn domain(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// A key as a URL path: everything but unreserved characters and `/` percent-encoded,
/// as S3 signs it.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn overrides_as_the_sdks_read_them() {
        let table: [(&[(&str, &str)], Endpoints); 5] = [
            (&[], Endpoints::default()),
            (
                &[("AWS_ENDPOINT_URL", "http://all:1")],
                Endpoints::all("http://all:1".into()),
            ),
            (
                &[
                    ("AWS_ENDPOINT_URL", "http://all:1"),
                    ("AWS_ENDPOINT_URL_S3", "http://s3:2"),
                ],
                Endpoints {
                    s3: Some("http://s3:2".into()),
                    dynamodb: Some("http://all:1".into()),
                    sesv2: Some("http://all:1".into()),
                },
            ),
            (
                &[("AWS_ENDPOINT_URL_DYNAMODB", "http://ddb:3")],
                Endpoints {
                    s3: None,
                    dynamodb: Some("http://ddb:3".into()),
                    sesv2: None,
                },
            ),
            (
                &[
                    ("AWS_ENDPOINT_URL", "http://all:1"),
                    ("AWS_ENDPOINT_URL_SESV2", "http://ses:4"),
                ],
                Endpoints {
                    s3: Some("http://all:1".into()),
                    dynamodb: Some("http://all:1".into()),
                    sesv2: Some("http://ses:4".into()),
                },
            ),
        ];
        for (vars, want) in table {
            let vars: HashMap<_, _> = vars.iter().copied().collect();
            let got = Endpoints::from_vars(|name| vars.get(name).map(|v| v.to_string()));
            assert_eq!(got, want, "{vars:?}");
        }
    }

    #[test]
    fn urls() {
        let table = [
            (
                dynamodb(None, "eu-west-3"),
                "https://dynamodb.eu-west-3.amazonaws.com/",
            ),
            (
                dynamodb(None, "cn-north-1"),
                "https://dynamodb.cn-north-1.amazonaws.com.cn/",
            ),
            (
                dynamodb(Some("http://127.0.0.1:5000/"), "x"),
                "http://127.0.0.1:5000/",
            ),
            (
                ses_send_email(None, "eu-west-3"),
                "https://email.eu-west-3.amazonaws.com/v2/email/outbound-emails",
            ),
            (
                ses_send_email(Some("http://127.0.0.1:5000/"), "x"),
                "http://127.0.0.1:5000/v2/email/outbound-emails",
            ),
            (
                s3_object(None, "eu-west-3", "site", "lamphp-offload/ab"),
                "https://site.s3.eu-west-3.amazonaws.com/lamphp-offload/ab",
            ),
            (
                s3_object(None, "us-east-1", "my.site", "k"),
                "https://s3.us-east-1.amazonaws.com/my.site/k",
            ),
            (
                s3_object(Some("http://localhost:9000/"), "x", "b", "a b/ü+"),
                "http://localhost:9000/b/a%20b/%C3%BC%2B",
            ),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
        }
    }
}
