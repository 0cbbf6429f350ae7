//! FastCGI parameters exactly as the reference nginx sends them.
//!
//! nginx sends Debian's `fastcgi_params` in order, then the server block's own
//! `fastcgi_param`s, then one `HTTP_*` pair per request header. Some names are sent twice
//! (SERVER_NAME, and behind the ALB SERVER_PORT and REQUEST_SCHEME); php-fpm keeps the
//! first position and the last value, so we send each once, where it first appears,
//! with the value it ends with. PHP can observe that order (`getallheaders()`, `foreach
//! ($_SERVER …)`), so it is kept.

use crate::request::Head;
use base64::Engine;
use http::HeaderMap;
use std::borrow::Cow;

/// Name/value pairs in the order they are sent.
pub type Params = Vec<(Cow<'static, [u8]>, Vec<u8>)>;

/// The script the router chose, resolved against the document root.
#[derive(Debug, Clone)]
pub struct Script<'a> {
    pub name: &'a [u8],
    pub path_info: &'a [u8],
    pub document_root: &'a [u8],
}

/// What PHP sees in SERVER_SOFTWARE. WordPress (`$is_nginx`) and others look for
/// "nginx" here to decide that pretty URLs work; they do, exactly as nginx's.
pub const SERVER_SOFTWARE: &str = concat!("lamphp/", env!("CARGO_PKG_VERSION"), " (nginx)");

/// The parameters for `head` running `script`. `content_length` is the body's length
/// when it is known only after reading it (a chunked request body), which nginx passes
/// as CONTENT_LENGTH too.
pub fn params(head: &Head, script: &Script, content_length: Option<u64>) -> Params {
    let o = &head.origin;
    let header = |name| head.headers.get(name).map(|v| v.as_bytes().to_vec());
    let content_length = header(http::header::CONTENT_LENGTH)
        .or_else(|| content_length.map(|n| n.to_string().into_bytes()))
        .unwrap_or_default();
    let mut filename = script.document_root.to_vec();
    filename.extend_from_slice(script.name);

    let mut p: Params = Vec::with_capacity(24 + head.headers.keys_len());
    let mut put = |name: &'static str, value: Vec<u8>| p.push((name.as_bytes().into(), value));
    put("QUERY_STRING", head.query.clone().unwrap_or_default());
    put("REQUEST_METHOD", head.method.as_str().into());
    put(
        "CONTENT_TYPE",
        header(http::header::CONTENT_TYPE).unwrap_or_default(),
    );
    put("CONTENT_LENGTH", content_length);
    put("SCRIPT_NAME", script.name.to_vec());
    put("REQUEST_URI", head.request_uri());
    put("DOCUMENT_URI", script.name.to_vec());
    put("DOCUMENT_ROOT", script.document_root.to_vec());
    put("SERVER_PROTOCOL", protocol(head.version).into());
    put("REQUEST_SCHEME", o.scheme.clone().into_bytes());
    put("GATEWAY_INTERFACE", b"CGI/1.1".to_vec());
    put("SERVER_SOFTWARE", SERVER_SOFTWARE.into());
    put("REMOTE_ADDR", o.remote_addr.clone().into_bytes());
    put("REMOTE_PORT", o.remote_port.clone().into_bytes());
    put("REMOTE_USER", remote_user(&head.headers));
    put("SERVER_ADDR", o.server_addr.clone().into_bytes());
    put("SERVER_PORT", o.server_port.clone().into_bytes());
    put("SERVER_NAME", head.host.name.clone().into_bytes());
    put("REDIRECT_STATUS", b"200".to_vec());
    put("HTTP_HOST", head.host.http_host().into_bytes());
    put("SCRIPT_FILENAME", filename);
    put("PATH_INFO", script.path_info.to_vec());
    if o.https {
        put("HTTPS", b"on".to_vec());
    }
    http_headers(&head.headers, &mut p);
    p
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// One `HTTP_*` pair per header name, in the order the names first arrived. Repeated
/// headers are joined as nginx 1.23+ joins them (`Cookie` with "; ", others with ", "),
/// so a second Cookie header is not lost. Names nginx calls invalid (anything but
/// letters, digits and `-`; notably `_`, so `X_Forwarded_For` cannot pose as
/// `X-Forwarded-For`) are dropped, and Host is already HTTP_HOST.
fn http_headers(headers: &HeaderMap, p: &mut Params) {
    for name in headers.keys() {
        let name = name.as_str();
        if name == "host" || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let separator: &[u8] = if name == "cookie" { b"; " } else { b", " };
        let mut value = Vec::new();
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                value.extend_from_slice(separator);
            }
            value.extend_from_slice(v.as_bytes());
        }
        let mut key = b"HTTP_".to_vec();
        key.extend(name.bytes().map(|b| match b {
            b'-' => b'_',
            b => b.to_ascii_uppercase(),
        }));
        p.push((key.into(), value));
    }
}

/// nginx's `$remote_user`: the user of a well-formed `Authorization: Basic` header.
fn remote_user(headers: &HeaderMap) -> Vec<u8> {
    let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
        return Vec::new();
    };
    let auth = auth.as_bytes();
    let Some(encoded) = auth
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"basic "))
        .map(|_| auth[6..].trim_ascii_start())
    else {
        return Vec::new();
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default();
    match decoded.iter().position(|&b| b == b':') {
        Some(colon) => decoded[..colon].to_vec(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
