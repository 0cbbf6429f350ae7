//! Responses the server itself generates (4xx/5xx, redirects), shaped like nginx's.
//!
//! nginx answers with a small HTML page whose last line names the server; we keep the
//! page byte for byte except that line, so clients and monitoring that look at the body
//! see the same thing.

use crate::body::{self, Body};
use http::{header, HeaderValue, Response, StatusCode};
use hyper::ext::ReasonPhrase;

/// The signature in the page's footer, where nginx prints `nginx/1.22.1`.
pub const SIGNATURE: &str = concat!("lamphp/", env!("CARGO_PKG_VERSION"));

/// The HTML nginx sends with `status`, with our signature.
pub fn html(status: StatusCode) -> String {
    let title = format!("{} {}", status.as_u16(), reason(status));
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>{SIGNATURE}</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// How nginx refuses a request it will not read any further, each with its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    /// A request line longer than its 8 KiB buffer.
    UriTooLong,
    /// A header line longer than its 8 KiB buffer: a 400 with a page of its own.
    HeaderTooLarge,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::BadRequest | Refusal::HeaderTooLarge => StatusCode::BAD_REQUEST,
            Refusal::UriTooLong => StatusCode::URI_TOO_LONG,
        }
    }

    pub fn html(self) -> String {
        match self {
            Refusal::HeaderTooLarge => format!(
                "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>{SIGNATURE}</center>\r\n</body>\r\n</html>\r\n"
            ),
            other => html(other.status()),
        }
    }

    pub fn response(self) -> Response<Body> {
        page(self.status(), self.html())
    }
}

/// nginx's reason phrase for `status` (its `ngx_http_status_lines`): not always the
/// IANA registry's (302 "Moved Temporarily", 405 "Not Allowed"), and empty for codes it
/// has none for, where it writes `HTTP/1.1 418 ` with nothing after the space.
pub fn reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

/// Give `res` nginx's status line unless it already has a reason phrase of its own
/// (PHP's `Status:` text). hyper would write the IANA phrase otherwise.
pub fn set_reason<B>(res: &mut Response<B>) {
    if res.extensions().get::<ReasonPhrase>().is_some() {
        return;
    }
    let status = res.status();
    let nginx = reason(status);
    if status.canonical_reason() != Some(nginx) {
        res.extensions_mut()
            .insert(ReasonPhrase::from_static(nginx.as_bytes()));
    }
}

/// A complete error response: nginx's page with `Content-Type: text/html`.
pub fn response(status: StatusCode) -> Response<Body> {
    page(status, html(status))
}

fn page(status: StatusCode, page: String) -> Response<Body> {
    let length = HeaderValue::from(page.len());
    let mut res = Response::new(body::full(page));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    // Here, not by hyper at the end: nginx sends it before any header added later (a
    // 301's Location), and clients see the order.
    res.headers_mut().insert(header::CONTENT_LENGTH, length);
    res.extensions_mut().insert(Generated);
    res
}

/// Marks a response as one of these pages, not PHP's.
#[derive(Debug, Clone, Copy)]
pub struct Generated;

/// Whether nginx closes the connection after its own page with `status`, as it does for
/// the requests it could not or would not read to their end (`ngx_http_special_response_handler`
/// turns keep-alive off for 400, 413, 414, 500 and 501): whatever follows on the
/// connection cannot be trusted to be a request.
pub fn ends_connection<B>(res: &Response<B>) -> bool {
    res.extensions().get::<Generated>().is_some()
        && matches!(res.status().as_u16(), 400 | 413 | 414 | 500 | 501)
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
    fn nginx_closes_after_its_own_refusals_only() {
        let table = [
            (400, true),
            (413, true),
            (414, true),
            (500, true),
            (501, true),
        ];
        let others = [
            (404, false),
            (405, false),
            (502, false),
            (504, false),
            (301, false),
        ];
        for (code, want) in table.into_iter().chain(others) {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(ends_connection(&response(status)), want, "{code}");
            let mut php = Response::new(());
            *php.status_mut() = status;
            assert!(!ends_connection(&php), "PHP's own {code}");
        }
        assert!(ends_connection(&Refusal::UriTooLong.response()));
        assert!(ends_connection(&Refusal::HeaderTooLarge.response()));
    }

    #[test]
    fn reasons_follow_nginx() {
        for (code, want) in [
            (405, "Not Allowed"),
            (416, "Requested Range Not Satisfiable"),
            (301, "Moved Permanently"),
            (502, "Bad Gateway"),
            (302, "Moved Temporarily"),
            (504, "Gateway Time-out"),
            (418, ""),
            (599, ""),
        ] {
            assert_eq!(reason(StatusCode::from_u16(code).unwrap()), want);
        }
    }

    #[test]
    fn status_lines_are_set_only_where_hyper_would_differ() {
        let phrase = |code: u16| {
            let mut res = Response::new(());
            *res.status_mut() = StatusCode::from_u16(code).unwrap();
            set_reason(&mut res);
            res.extensions()
                .get::<ReasonPhrase>()
                .map(|r| r.as_bytes().to_vec())
        };
        assert_eq!(phrase(200), None);
        assert_eq!(phrase(405), Some(b"Not Allowed".to_vec()));
        assert_eq!(phrase(418), Some(b"".to_vec()));
    }
}
