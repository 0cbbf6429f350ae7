//! The Lambda modes: what the reference's ALB server must be sent is what an ALB would
//! forward for the request the client sent `bootstrap local`. The ELB guide ("Lambda
//! functions as targets") fixes what reaches the function; every change made here to the
//! client's request follows from it, and says so. Header placement follows the emulator
//! (`bootstrap/src/local/alb.rs`), so getallheaders() order can be compared.

use crate::case::{header_lines, Mode};
use crate::http::find;

/// The client's address as the ALB sees it: the harness connects over loopback.
pub const PEER: &str = "127.0.0.1";

/// The reference's copy of `sent`, the rendered request the emulator listening on `port`
/// gets in `mode` (with departure (a)'s joining already applied in multi-value mode).
pub fn forwarded(mode: Mode, sent: &[u8], port: u16) -> Vec<u8> {
    let head_end = find(sent, b"\r\n\r\n").map_or(sent.len(), |e| e + 2);
    let (head, body) = (&sent[..head_end], &sent[(head_end + 2).min(sent.len())..]);
    let line_end = find(head, b"\n").map_or(head.len(), |e| e + 1);
    let line = head[..line_end].trim_ascii_end();
    let mut lines = header_lines(head);
    // An absolute-form target names the host: the emulator makes it the Host header
    // (in place of the client's, or last), as RFC 9112 has the request line's host win.
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    if let Some(authority) = absolute_authority(target) {
        match lines
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            Some(host) => host.1 = authority.to_vec(),
            None => lines.push(("host".to_owned(), authority.to_vec())),
        }
    }
    let host = lines.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    let mut out = event_version(&event_request_line(line, mode == Mode::LambdaMulti), host);
    out.extend_from_slice(b"\r\n");
    for (name, values) in forwarded_headers(lines, port) {
        let values = match mode {
            Mode::LambdaSingle => last_value(values),
            _ => values,
        };
        for value in values {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The request line with its query as the event can carry it ([`event_query`]).
fn event_request_line(line: &[u8], multi_value: bool) -> Vec<u8> {
    let first = line.iter().position(|&b| b == b' ');
    let last = line.iter().rposition(|&b| b == b' ');
    let (Some(first), Some(last)) = (first, last) else {
        return line.to_vec();
    };
    if first >= last {
        return line.to_vec();
    }
    let target = &line[first + 1..last];
    let mut out = line[..=first].to_vec();
    match target.iter().position(|&b| b == b'?') {
        Some(q) => {
            out.extend_from_slice(&target[..q]);
            let query = event_query(&target[q + 1..], multi_value);
            if !query.is_empty() {
                out.push(b'?');
                out.extend_from_slice(&query);
            }
        }
        None => out.extend_from_slice(target),
    }
    out.extend_from_slice(&line[last..]);
    out
}

/// The `host[:port]` of an absolute-form request target.
fn absolute_authority(target: &[u8]) -> Option<&[u8]> {
    if target.starts_with(b"/") {
        return None;
    }
    let rest = target
        .splitn(2, |&b| b == b':')
        .nth(1)?
        .strip_prefix(b"//")?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The event has no protocol version. lamphp takes an event with a Host header for
/// HTTP/1.1, what an ALB speaks to its targets, and one without for HTTP/1.0 (only the
/// ALB's health checks come without a Host, and nginx would refuse them as HTTP/1.1). So
/// an HTTP/1.0 request with a Host header is sent to the reference as HTTP/1.1.
fn event_version(line: &[u8], host: bool) -> Vec<u8> {
    match line.strip_suffix(b" HTTP/1.0") {
        Some(rest) if host => [rest, b" HTTP/1.1"].concat(),
        _ => line.to_vec(),
    }
}

/// Departures (1) and (2): the event carries the query as a map of still-encoded keys to
/// values (to lists of values in multi-value mode), which is all lamphp can rebuild the
/// query string from. So `?a` and `?a=` are both `a=`, `/x?` is `/x`, empty pieces
/// (`&&`) are gone, a key's values sit together at its first place (multi-value), and
/// in single-value mode a repeated key keeps its first place and its last value.
pub fn event_query(query: &[u8], multi_value: bool) -> Vec<u8> {
    let mut keys: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    for piece in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match piece.iter().position(|&b| b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        };
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) if multi_value => values.push(value),
            Some((_, values)) => *values = vec![value],
            None => keys.push((key, vec![value])),
        }
    }
    let pairs: Vec<Vec<u8>> = keys
        .iter()
        .flat_map(|(key, values)| values.iter().map(move |v| [*key, b"=", v].concat()))
        .collect();
    pairs.join(&b'&')
}

/// The client's headers grouped by name at the first copy's place (the event maps each
/// lower-cased name to its values), with the ALB's: the peer appended to
/// X-Forwarded-For (all copies joined into one), `X-Forwarded-Port` the emulator's own,
/// `X-Forwarded-Proto: http` (it listens on plain HTTP). Each replaces the client's in
/// place, or is appended in this order. The ALB's `X-Amzn-Trace-Id` is not sent (nginx
/// never sees one; see `lambda::trace_id`).
fn forwarded_headers(lines: Vec<(String, Vec<u8>)>, port: u16) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut groups: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for (name, value) in lines {
        match groups
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    let chain = groups
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, values)| values.join(&b", "[..]))
        .filter(|chain| !chain.trim_ascii().is_empty());
    let forwarded_for = match chain {
        Some(chain) => [&chain[..], b", ", PEER.as_bytes()].concat(),
        None => PEER.as_bytes().to_vec(),
    };
    for (name, value) in [
        ("X-Forwarded-For", forwarded_for),
        ("X-Forwarded-Port", port.to_string().into_bytes()),
        ("X-Forwarded-Proto", b"http".to_vec()),
    ] {
        match groups
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => *values = vec![value],
            None => groups.push((name.to_string(), vec![value])),
        }
    }
    groups
}

/// Departure (2): without multi-value headers the ALB passes only the last copy of a
/// repeated header (so departure (a), the joining, does not apply).
fn last_value(mut values: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    values.split_off(values.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_what_the_event_can_carry() {
        let q = |s: &str, multi| String::from_utf8(event_query(s.as_bytes(), multi)).unwrap();
        assert_eq!(q("a&b=&=1&&c=%20", true), "a=&b=&=1&c=%20");
        assert_eq!(q("a=1&b=2&a=3", true), "a=1&a=3&b=2");
        assert_eq!(q("a=1&b=2&a=3", false), "a=3&b=2");
        assert_eq!(q("", true), "");
        let line = |l: &str| String::from_utf8(event_request_line(l.as_bytes(), true)).unwrap();
        assert_eq!(line("GET /x? HTTP/1.1"), "GET /x HTTP/1.1");
        assert_eq!(line("GET /x?a HTTP/1.1"), "GET /x?a= HTTP/1.1");
        let version = |l: &str, host| String::from_utf8(event_version(l.as_bytes(), host)).unwrap();
        assert_eq!(version("GET / HTTP/1.0", true), "GET / HTTP/1.1");
        assert_eq!(version("GET / HTTP/1.0", false), "GET / HTTP/1.0");
    }

    #[test]
    fn the_albs_headers_replace_in_place_or_append() {
        let sent = b"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nCookie: a\r\nX-Forwarded-For: 1.2.3.4\r\ncookie: b\r\nx-forwarded-for: 5.6.7.8\r\n\r\nbody";
        let multi = forwarded(Mode::LambdaMulti, sent, 81);
        assert_eq!(
            String::from_utf8(multi).unwrap(),
            "GET / HTTP/1.1\r\nX-Forwarded-Proto: http\r\nCookie: a\r\nCookie: b\r\n\
             X-Forwarded-For: 1.2.3.4, 5.6.7.8, 127.0.0.1\r\nX-Forwarded-Port: 81\r\n\r\nbody"
        );
        let single = forwarded(
            Mode::LambdaSingle,
            b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n",
            81,
        );
        assert_eq!(
            String::from_utf8(single).unwrap(),
            "GET / HTTP/1.1\r\nA: 2\r\nX-Forwarded-For: 127.0.0.1\r\n\
             X-Forwarded-Port: 81\r\nX-Forwarded-Proto: http\r\n\r\n"
        );
    }
}
