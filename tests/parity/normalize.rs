//! Everything the comparison forgives, each in one function saying why. Anything not
//! forgiven here must be identical.

use serde_json::Value;

use crate::case::{header_lines, Mode};
use crate::http::Response;

/// The last line of every page nginx generates itself (errors, redirects).
pub const NGINX: &[u8] = b"<hr><center>nginx/1.22.1</center>";

/// Each server listens on its own port, which shows in SERVER_PORT (direct mode) and in
/// the absolute URLs nginx builds for redirects: both are replaced by `{PORT}`.
pub fn own_port_in_server_port(dump: &mut Value, port: u16) {
    if let Some(v) = dump.pointer_mut("/server/SERVER_PORT") {
        if v.as_str() == Some(port.to_string().as_str()) {
            *v = Value::from("{PORT}");
        }
    }
}

/// Departure (k), with `LAMPHP_PHP_BACKEND=cgi` only: php-cgi takes its pool's size and
/// recycling from its environment, which scripts see (as under spawn-fcgi), so lamphp's
/// dump may hold `PHP_FCGI_CHILDREN` and `PHP_FCGI_MAX_REQUESTS` where nginx + php-fpm's
/// does not. They are dropped, and only they.
pub fn php_cgi_pool_variables(dump: &mut Value) {
    if std::env::var("LAMPHP_PHP_BACKEND").as_deref() != Ok("cgi") {
        return;
    }
    if let Some(server) = dump.pointer_mut("/server").and_then(Value::as_object_mut) {
        server.shift_remove("PHP_FCGI_CHILDREN");
        server.shift_remove("PHP_FCGI_MAX_REQUESTS");
    }
}

/// The README's departure `SERVER_SOFTWARE`: lamphp names itself, and "nginx" after it
/// for the applications that choose pretty URLs by it. lamphp's value must be exactly
/// that; it is then set to the reference's.
pub fn server_software(reference: &Value, lamphp: &mut Value, diffs: &mut Vec<String>) {
    let want = format!("lamphp/{} (nginx)", env!("CARGO_PKG_VERSION"));
    let Some(theirs) = reference.pointer("/server/SERVER_SOFTWARE").cloned() else {
        return;
    };
    match lamphp.pointer_mut("/server/SERVER_SOFTWARE") {
        Some(ours) if ours.as_str() == Some(want.as_str()) => *ours = theirs,
        Some(ours) => diffs.push(format!(
            "server.SERVER_SOFTWARE: expected {want:?} vs lamphp {ours}"
        )),
        None => diffs.push(format!(
            "server.SERVER_SOFTWARE: expected {want:?} vs lamphp (missing)"
        )),
    }
}

/// See [`own_port_in_server_port`]: the same for a `Location` URL's authority.
pub fn own_port_in_location(location: &[u8], port: u16) -> Vec<u8> {
    let text = String::from_utf8_lossy(location);
    let Some((scheme, rest)) = text.split_once("://") else {
        return location.to_vec();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.strip_suffix(&format!(":{port}")) {
        Some(host) => format!("{host}:{{PORT}}"),
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}").into_bytes()
}

/// Departure (d): behind the ALB (trusted or emulated), lamphp builds a directory
/// redirect's Location from X-Forwarded-Proto/-Port, the URL the client really used,
/// where nginx uses its own listen port. For the server's own 301s in proxy and Lambda
/// modes (`by_server`: the reference's body is nginx's page, not a script's output),
/// lamphp's scheme, host and port must be exactly those the forwarded request names
/// (`forwarded_origin`, computed here from what the reference was sent), and then only
/// the path and query of both Locations are compared.
pub fn proxy_redirect_location(
    reference: &mut Response,
    lamphp: &mut Response,
    forwarded: &[u8],
    mode: Mode,
    by_server: bool,
    diffs: &mut Vec<String>,
) {
    if !mode.behind_alb() || reference.status != 301 || !by_server {
        return;
    }
    let want = forwarded_origin(forwarded, mode);
    for (side, response) in [("reference", reference), ("lamphp", lamphp)] {
        for (_, value) in response
            .headers
            .iter_mut()
            .filter(|(n, _)| n.eq_ignore_ascii_case("location"))
        {
            let text = String::from_utf8_lossy(value).into_owned();
            let (origin, path) = match text.split_once("://") {
                Some((scheme, rest)) => {
                    let at = rest.find('/').unwrap_or(rest.len());
                    (
                        format!("{scheme}://{}", &rest[..at]),
                        rest[at..].to_string(),
                    )
                }
                None => (String::new(), text.clone()),
            };
            if side == "lamphp" && origin != want {
                diffs.push(format!(
                    "location: lamphp's redirect names {origin:?}, the forwarded request {want:?}"
                ));
            }
            *value = path.into_bytes();
        }
    }
}

/// The scheme, host and port a client used, as the ALB tells them: X-Forwarded-Proto
/// (`http` when absent), the request's `$host`, and X-Forwarded-Port unless it is the
/// scheme's default. Without a host, `serve` names its own address, as nginx does; a
/// Lambda function has none and must answer with the path alone.
fn forwarded_origin(request: &[u8], mode: Mode) -> String {
    let lines = header_lines(request);
    let header = |name: &str| {
        lines
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
            .unwrap_or_default()
    };
    let scheme = match header("x-forwarded-proto").to_ascii_lowercase() {
        s if s.is_empty() => "http".to_string(),
        s => s,
    };
    let port = header("x-forwarded-port");
    let default = if scheme == "https" { "443" } else { "80" };
    let port = match port.as_str() {
        "" => String::new(),
        p if p == default => String::new(),
        p => format!(":{p}"),
    };
    // Without a host nginx names its own address, which is where the request came to.
    let host = match request_host(request).0 {
        h if !h.is_empty() => h,
        _ if mode.is_lambda() => return String::new(),
        _ => "127.0.0.1".to_string(),
    };
    format!("{scheme}://{host}{port}")
}

/// Departure (c): pages nginx itself generates end with `<hr><center>nginx/1.22.1</center>`;
/// lamphp's name lamphp and its version there. lamphp's line is turned back into nginx's,
/// and its Content-Length made smaller by as many bytes as that took off the body, so the
/// length is still compared (http.rs has checked it against the bytes sent).
pub fn error_page_signature(response: &mut Response) {
    let lamphp = format!("<hr><center>lamphp/{}</center>", env!("CARGO_PKG_VERSION"));
    let replaced = crate::case::replace(&response.body, lamphp.as_bytes(), NGINX);
    let shorter = response.body.len() as i64 - replaced.len() as i64;
    response.body = replaced;
    if shorter == 0 {
        return;
    }
    for (name, value) in &mut response.headers {
        let length = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<i64>().ok());
        if let (true, Some(length)) = (name.eq_ignore_ascii_case("content-length"), length) {
            *value = (length - shorter).to_string().into_bytes();
        }
    }
}

/// Departure (a): nginx 1.22 passes every copy of a repeated request header and PHP keeps
/// the last; lamphp joins them like nginx 1.23+ (`Cookie` with "; ", others with ", ").
/// The reference is sent the request with the copies already joined into the first one,
/// so what it shows is exactly what lamphp must show for the original request.
pub fn join_repeated_headers(head: &[u8]) -> Vec<u8> {
    let lines = header_lines(head);
    let request_line_end = crate::http::find(head, b"\r\n").map_or(head.len(), |e| e + 2);
    let mut out = head[..request_line_end].to_vec();
    let mut done: Vec<String> = Vec::new();
    for (name, _) in &lines {
        let key = name.to_ascii_lowercase();
        if done.contains(&key) {
            continue;
        }
        let separator: &[u8] = if key == "cookie" { b"; " } else { b", " };
        let values: Vec<&[u8]> = lines
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect();
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&values.join(separator));
        out.extend_from_slice(b"\r\n");
        done.push(key);
    }
    out
}

/// Departure (b): Debian's nginx 1.22 passes HTTP_HOST as `$host` (lower case, no port);
/// lamphp passes nginx 1.30's `$host$is_request_port$request_port`, keeping the port the
/// client named so a site on a non-default port can build its own URLs. The expected
/// value is computed from the request; the reference must show its `$host` part, lamphp
/// all of it. Afterwards lamphp's value is set to the reference's so that the rest of
/// the dump (including where Host sits in getallheaders()) compares as usual.
pub fn http_host(
    reference: &mut Value,
    lamphp: &mut Value,
    request: &[u8],
    diffs: &mut Vec<String>,
) {
    let (host, port) = request_host(request);
    let full = match &port {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    for (pointer, field) in [
        ("/server/HTTP_HOST", "server.HTTP_HOST"),
        ("/headers/Host", "headers.Host"),
    ] {
        let ref_value = reference.pointer(pointer).cloned();
        if ref_value.as_ref().and_then(Value::as_str) != Some(host.as_str()) {
            diffs.push(format!(
                "{field}: the reference shows {ref_value:?}, the harness computed $host {host:?} (harness bug?)"
            ));
        }
        match (lamphp.pointer_mut(pointer), ref_value) {
            (Some(v), Some(ref_value)) => {
                if v.as_str() != Some(full.as_str()) {
                    diffs.push(format!("{field}: expected {full:?} ($host$is_request_port$request_port) vs lamphp {v}"));
                }
                *v = ref_value;
            }
            (None, _) => diffs.push(format!("{field}: expected {full:?} vs lamphp (missing)")),
            (Some(_), None) => {}
        }
    }
}

/// nginx's `$host` and `$request_port` for a request: host and port from an absolute-form
/// request target, else from the Host header; host lower-cased and without a trailing
/// dot; no host at all gives the server name, which the reference leaves empty.
fn request_host(request: &[u8]) -> (String, Option<String>) {
    let line_end = crate::http::find(request, b"\r\n").unwrap_or(request.len());
    let line = String::from_utf8_lossy(&request[..line_end]).into_owned();
    let target = line.split(' ').nth(1).unwrap_or_default();
    let from_uri = ["http://", "https://"].iter().find_map(|scheme| {
        let lower = target.to_ascii_lowercase();
        lower.starts_with(scheme).then(|| {
            let rest = &target[scheme.len()..];
            rest[..rest.find(['/', '?']).unwrap_or(rest.len())].to_string()
        })
    });
    let from_header = header_lines(request)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
    let split = |authority: &str| -> (String, Option<String>) {
        let port_at = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => Some(i),
            _ => None,
        };
        match port_at {
            Some(i) => (
                authority[..i].to_string(),
                Some(authority[i + 1..].to_string()),
            ),
            None => (authority.to_string(), None),
        }
    };
    let (uri_host, uri_port) = from_uri.as_deref().map(split).unzip();
    let (hdr_host, hdr_port) = from_header.as_deref().map(split).unzip();
    let host = uri_host.or(hdr_host).unwrap_or_default();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let port = uri_port
        .flatten()
        .or(hdr_port.flatten())
        .filter(|p| !p.is_empty());
    (host, port)
}

/// nginx answers an HTTP/1.0 request with an `HTTP/1.1` status line; hyper answers in
/// the client's version, which is what RFC 9110 asks for. Nothing else about the
/// exchange changes (no chunking, close after the response), so for HTTP/1.0 requests
/// the version in the status line is left out.
///
/// For a status without a reason phrase (PHP's `Status: 599`), nginx writes `HTTP/1.1
/// 599` and hyper `HTTP/1.1 599 ` with the space RFC 9112 requires before the empty
/// reason; trailing white space is left out too.
pub fn status_line(line: &str, request: &[u8]) -> String {
    let first = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.trim_end();
    if first.trim_ascii_end().ends_with(b"HTTP/1.0") {
        line.split_once(' ')
            .map_or(line, |(_, rest)| rest)
            .to_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_join_into_the_first_copy() {
        let head = b"GET / HTTP/1.1\r\nCookie: a=1\r\nX: 1\r\ncookie: b=2\r\nx: 2\r\nY: 3\r\n";
        let joined = join_repeated_headers(head);
        assert_eq!(
            joined,
            b"GET / HTTP/1.1\r\nCookie: a=1; b=2\r\nX: 1, 2\r\nY: 3\r\n"
        );
    }

    #[test]
    fn host_and_request_port_follow_nginx() {
        let host = |r: &[u8]| request_host(r);
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: Ex.TEST.:81\r\n"),
            ("ex.test".into(), Some("81".into()))
        );
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: [::1]\r\n"),
            ("[::1]".into(), None)
        );
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: [::1]:8\r\n"),
            ("[::1]".into(), Some("8".into()))
        );
        assert_eq!(
            host(b"GET http://a.test:9/x HTTP/1.1\r\nHost: b:7\r\n"),
            ("a.test".into(), Some("9".into()))
        );
        assert_eq!(host(b"GET / HTTP/1.0\r\n"), (String::new(), None));
    }

    #[test]
    fn locations_lose_the_own_port_and_proxy_redirects_their_origin() {
        assert_eq!(
            own_port_in_location(b"http://h:4567/sub/?x", 4567),
            b"http://h:{PORT}/sub/?x"
        );
        assert_eq!(
            own_port_in_location(b"http://h:45678/", 4567),
            b"http://h:45678/"
        );
        assert_eq!(own_port_in_location(b"/relative", 4567), b"/relative");
    }

    #[test]
    fn proxy_redirects_must_name_the_forwarded_origin() {
        let forwarded = |proto_port: &str| {
            format!("GET /sub HTTP/1.1\r\nHost: H.test:99\r\n{proto_port}\r\n").into_bytes()
        };
        let https = forwarded("X-Forwarded-Proto: HTTPS\r\nX-Forwarded-Port: 443");
        assert_eq!(forwarded_origin(&https, Mode::Proxy), "https://h.test");
        let custom = forwarded("X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080");
        assert_eq!(forwarded_origin(&custom, Mode::Proxy), "http://h.test:8080");
        let redirect = |location: &str| {
            let raw = format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            crate::http::parse(raw.as_bytes()).unwrap()
        };
        let check = |location: &str, mode: Mode| {
            let (mut r, mut l) = (redirect("http://h.test:1234/sub/?x"), redirect(location));
            let mut diffs = Vec::new();
            proxy_redirect_location(&mut r, &mut l, &https, mode, true, &mut diffs);
            (l.header("location").unwrap().to_vec(), diffs)
        };
        assert_eq!(
            check("https://h.test/sub/?x", Mode::Proxy),
            (b"/sub/?x".to_vec(), vec![])
        );
        let (_, diffs) = check("http://h.test/sub/?x", Mode::LambdaMulti);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        let (location, diffs) = check("http://h.test/sub/", Mode::Direct);
        assert_eq!((location, diffs), (b"http://h.test/sub/".to_vec(), vec![]));
    }

    #[test]
    fn only_lamphps_signature_is_put_back_and_its_length_with_it() {
        let page = format!(
            "x<hr><center>lamphp/{}</center>\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let raw = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{page}",
            page.len()
        );
        let mut response = crate::http::parse(raw.as_bytes()).unwrap();
        error_page_signature(&mut response);
        let nginx = b"x<hr><center>nginx/1.22.1</center>\r\n";
        assert_eq!(response.body, nginx);
        let length = nginx.len().to_string().into_bytes();
        assert_eq!(response.header("content-length"), Some(&length[..]));
        error_page_signature(&mut response);
        assert_eq!(response.header("content-length"), Some(&length[..]));
    }
}
