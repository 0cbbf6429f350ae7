//! Raw HTTP/1.x over a TCP socket: send bytes exactly as given, read the answer to EOF.
//!
//! No HTTP library on the client side: odd requests (NUL bytes, bad encodings, missing
//! Host) must reach the server unchanged, and the response must be seen as sent (header
//! order, duplicates, interim `100 Continue`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

/// How long one exchange may take before the case fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status codes of interim (1xx) responses that came before the final one.
    pub interim: Vec<u16>,
    /// The final status line without the trailing CRLF, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    pub status: u16,
    /// Header fields in the order received, names as sent, duplicates kept.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body with any chunked encoding removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
    }
}

/// Sends `request` to 127.0.0.1:`port` and reads the whole response until the server
/// closes the connection. Writing happens on its own thread so that a server that
/// answers early (400, 413) and closes does not lose us its response.
pub fn exchange(port: u16, request: &[u8]) -> Result<Response, String> {
    exchange_within(port, request, TIMEOUT)
}

/// [`exchange`], failing after `timeout` without progress.
pub fn exchange_within(port: u16, request: &[u8], timeout: Duration) -> Result<Response, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    let mut writer = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
    let owned = request.to_vec();
    let sender = thread::spawn(move || {
        // A server may close before reading everything; the response still counts.
        let _ = writer.write_all(&owned);
    });
    let mut raw = Vec::new();
    let mut reader = stream;
    let read = reader.read_to_end(&mut raw);
    let _ = reader.shutdown(Shutdown::Both);
    let _ = sender.join();
    match read {
        Ok(_) => parse(&raw),
        // A reset after a complete response (nginx's lingering close) is not an error.
        Err(e) if !raw.is_empty() => {
            parse(&raw).map_err(|p| format!("{p} (after read error: {e})"))
        }
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Parses interim responses, the final head and the body (to EOF, chunked decoded).
pub fn parse(mut raw: &[u8]) -> Result<Response, String> {
    let mut interim = Vec::new();
    loop {
        let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
            format!(
                "no complete response head in {} bytes: {}",
                raw.len(),
                escape(raw, 200)
            )
        })?;
        let head = &raw[..end];
        raw = &raw[end + 4..];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        if (100..200).contains(&status) {
            interim.push(status);
            continue;
        }
        let mut headers = Vec::new();
        for line in lines {
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or("header without colon")?;
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            headers.push((name, trim(&line[colon + 1..]).to_vec()));
        }
        let mut response = Response {
            interim,
            status_line,
            status,
            headers,
            body: Vec::new(),
        };
        response.body = if response.is_chunked() {
            dechunk(raw)?
        } else {
            raw.to_vec()
        };
        return Ok(response);
    }
}

/// Removes chunked transfer coding; the body must end with the last (empty) chunk. No
/// bytes at all is an empty body (a HEAD answer that names its coding but sends none).
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    if raw.is_empty() {
        return Ok(body);
    }
    loop {
        let eol = find(raw, b"\r\n").ok_or("chunk size line not terminated")?;
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if raw.len() < size + 2 {
            return Err(format!("chunk of {size} bytes cut short"));
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Printable form of bytes for messages, cut to `max` bytes.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s: String = cut.escape_ascii().to_string();
    if bytes.len() > max {
        s.push_str(&format!("...(+{} bytes)", bytes.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interim_duplicates_and_chunks() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 299 Odd Reason\r\nSet-Cookie: a=1\r\nX: y\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.interim, [100]);
        assert_eq!(
            (r.status, r.status_line.as_str()),
            (299, "HTTP/1.1 299 Odd Reason")
        );
        let cookies: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "Set-Cookie")
            .collect();
        assert_eq!(cookies.len(), 2);
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn a_cut_chunked_body_is_an_error() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc").is_err());
    }
}
