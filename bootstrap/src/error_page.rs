//! Responses the server itself generates (4xx/5xx, redirects), shaped like nginx's.
//!
//! nginx answers with a small HTML page whose last line names the server; we keep the
//! page byte for byte except that line, so clients and monitoring that look at the body
//! see the same thing.

use crate::body::{self, Body};
use http::{header, HeaderValue, Response, StatusCode};

/// The signature in the page's footer, where nginx prints `nginx/1.22.1`.
pub const SIGNATURE: &str = concat!("lamphp/", env!("CARGO_PKG_VERSION"));

/// The HTML nginx sends with `status`, with our signature.
pub fn html(status: StatusCode) -> String {
    let title = format!("{} {}", status.as_u16(), reason(status));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{SIGNATURE}</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// nginx's reason phrases where they differ from the IANA registry's.
pub fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        405 => "Not Allowed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        416 => "Requested Range Not Satisfiable",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// A complete error response: nginx's page with `Content-Type: text/html`.
pub fn response(status: StatusCode) -> Response<Body> {
    let page = html(status);
    let mut res = Response::new(body::full(page));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_matches_nginx_but_for_the_signature() {
        // nginx 1.22's 404 page, with its signature line swapped for ours.
        let nginx = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
        assert_eq!(
            html(StatusCode::NOT_FOUND),
            nginx.replace("nginx/1.22.1", SIGNATURE)
        );
    }

    #[test]
    fn reasons_follow_nginx() {
        for (code, want) in [
            (405, "Not Allowed"),
            (416, "Requested Range Not Satisfiable"),
            (301, "Moved Permanently"),
            (502, "Bad Gateway"),
        ] {
            assert_eq!(reason(StatusCode::from_u16(code).unwrap()), want);
        }
    }
}
