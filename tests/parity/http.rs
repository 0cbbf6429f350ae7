//! Raw HTTP/1.x over a TCP socket: send bytes exactly as given, read each answer by its
//! own framing.
//!
//! No HTTP library on the client side: odd requests (NUL bytes, bad encodings, missing
//! Host) must reach the server unchanged, and the response must be seen as sent (header
//! order, duplicates, interim `100 Continue`). A response is read by the framing it
//! declares (RFC 9112 §6.3): a Content-Length that does not match the bytes sent, bytes
//! after a response the server then closes, or a read error before a response is
//! complete all fail the exchange, so a wrong length cannot pass unseen.

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

/// Sends `request` to 127.0.0.1:`port` and reads the response until the server closes
/// the connection: exactly one response, and nothing after it. Writing happens on its own
/// thread so that a server that answers early (400, 413) and closes does not lose us its
/// response.
pub fn exchange(port: u16, request: &[u8]) -> Result<Response, String> {
    exchange_within(port, request, TIMEOUT)
}

/// [`exchange`], failing after `timeout` without progress.
pub fn exchange_within(port: u16, request: &[u8], timeout: Duration) -> Result<Response, String> {
    let mut conversation = converse(port, &[request.to_vec()], Pace::Pipelined, timeout)?;
    match (conversation.responses.pop(), conversation.error) {
        (_, Some(e)) => Err(e),
        (Some(response), None) => Ok(response),
        (None, None) => Err("the server closed without answering".to_string()),
    }
}

/// What one connection carried: the responses, in order, and how it ended.
#[derive(Debug)]
pub struct Conversation {
    pub responses: Vec<Response>,
    /// Why reading stopped short of a clean close after the last response read: bytes
    /// that are not a complete response, or a read error before one was complete.
    pub error: Option<String>,
}

/// How the requests of a conversation are written.
// The other test crates that include this file only use `exchange`.
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pace {
    /// All at once (on their own thread), before any answer is read.
    Pipelined,
    /// Each once the answer to the one before it is complete; none once the server closed.
    OneByOne,
    /// As `OneByOne`, but each request's body only once its answer has come: for requests
    /// answered without their body (a POST to a static file), so that the body is still
    /// to come when the answer ends.
    BodyAfterAnswer,
}

/// Sends `requests` over one connection to 127.0.0.1:`port`, paced as `pace` says, and
/// reads the answers until the server closes it.
pub fn converse(
    port: u16,
    requests: &[Vec<u8>],
    pace: Pace,
    timeout: Duration,
) -> Result<Conversation, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    let mut writer = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
    let heads: Vec<bool> = requests.iter().map(|r| r.starts_with(b"HEAD ")).collect();
    let sender = (pace == Pace::Pipelined).then(|| {
        let all = requests.concat();
        // A server may close before reading everything; the responses still count.
        thread::spawn(move || drop(writer.write_all(&all)))
    });
    let mut reader = Reader {
        stream: &stream,
        buf: Vec::new(),
        eof: false,
        error: None,
    };
    let mut responses = Vec::new();
    let mut error = None;
    // Unread bytes of our own request are the server's business (a refused body): a
    // failed write shows as the answer the server did or did not send.
    let write = |bytes: &[u8]| drop((&stream).write_all(bytes));
    for (i, head_request) in heads.iter().enumerate() {
        let request = &requests[i];
        let head_end = find(request, b"\r\n\r\n").map_or(request.len(), |e| e + 4);
        let (head, body) = match pace {
            Pace::Pipelined => (&request[..0], &request[..0]),
            Pace::OneByOne => (&request[..], &request[..0]),
            Pace::BodyAfterAnswer => request.split_at(head_end),
        };
        write(head);
        match reader.next(*head_request) {
            Ok(Some(response)) => responses.push(response),
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
        write(body);
    }
    if error.is_none() {
        error = reader.trailing();
    }
    let _ = stream.shutdown(Shutdown::Both);
    if let Some(sender) = sender {
        let _ = sender.join();
    }
    Ok(Conversation { responses, error })
}

/// Reads responses one after another from a connection.
struct Reader<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    eof: bool,
    /// The read error that ended the stream, if it did not end cleanly.
    error: Option<String>,
}

impl Reader<'_> {
    /// The next response; `None` when the server closed cleanly before sending a byte of
    /// one.
    fn next(&mut self, head_request: bool) -> Result<Option<Response>, String> {
        loop {
            if self.eof && self.buf.is_empty() && self.error.is_none() {
                return Ok(None);
            }
            match parse_next(&self.buf, head_request, self.eof) {
                Ok(Some((response, used, by_close))) => {
                    if by_close && self.error.is_some() {
                        return Err(format!(
                            "{} before the close that ends the body ({} bytes read)",
                            self.error.take().unwrap_or_default(),
                            response.body.len()
                        ));
                    }
                    self.buf.drain(..used);
                    return Ok(Some(response));
                }
                Ok(None) => self.fill(),
                Err(e) => match self.error.take() {
                    Some(read) => return Err(format!("{e} (after read error: {read})")),
                    None => return Err(e),
                },
            }
        }
    }

    fn fill(&mut self) {
        let mut chunk = vec![0u8; 1 << 20];
        let mut stream = self.stream;
        match stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                // A reset right after a complete response (nginx's lingering close) is
                // not an error: it counts only if a response is still incomplete.
                self.eof = true;
                self.error = Some(format!("read: {e}"));
            }
        }
    }

    /// After the last expected response: the server must close, with nothing more.
    fn trailing(&mut self) -> Option<String> {
        while !self.eof {
            self.fill();
        }
        (!self.buf.is_empty()).then(|| {
            format!(
                "{} bytes after the last response: {}",
                self.buf.len(),
                escape(&self.buf, 200)
            )
        })
    }
}

/// Parses one whole response (interim responses, head, body by its framing) from `raw`,
/// which must hold exactly that and then the close.
pub fn parse(raw: &[u8]) -> Result<Response, String> {
    match parse_next(raw, false, true)? {
        Some((response, used, _)) if used == raw.len() => Ok(response),
        Some((_, used, _)) => Err(format!("{} bytes after the response", raw.len() - used)),
        None => Err("no response".to_string()),
    }
}

/// The first response in `raw`, the bytes it took, and whether its body ended only at
/// the close; `None` while more bytes are needed (never once `eof`).
fn parse_next(
    raw: &[u8],
    head_request: bool,
    eof: bool,
) -> Result<Option<(Response, usize, bool)>, String> {
    let mut at = 0;
    let mut interim = Vec::new();
    loop {
        let Some(end) = find(&raw[at..], b"\r\n\r\n") else {
            return match eof {
                true => Err(format!(
                    "no complete response head in {} bytes: {}",
                    raw.len() - at,
                    escape(&raw[at..], 200)
                )),
                false => Ok(None),
            };
        };
        let head = &raw[at..at + end];
        at += end + 4;
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
        let rest = &raw[at..];
        let no_body = head_request || status == 204 || status == 304;
        let (body, used, by_close) = if no_body {
            (Vec::new(), 0, false)
        } else if response.is_chunked() {
            match dechunk(rest)? {
                Some((body, used)) => (body, used, false),
                None if eof => {
                    return Err(format!("chunked body cut short after {} bytes", rest.len()))
                }
                None => return Ok(None),
            }
        } else if let Some(length) = content_length(&response)? {
            match rest.len() >= length {
                true => (rest[..length].to_vec(), length, false),
                false if eof => {
                    return Err(format!(
                        "Content-Length {length}, but the server closed after {} body bytes",
                        rest.len()
                    ))
                }
                false => return Ok(None),
            }
        } else if eof {
            (rest.to_vec(), rest.len(), true)
        } else {
            return Ok(None);
        };
        response.body = body;
        return Ok(Some((response, at + used, by_close)));
    }
}

/// The response's Content-Length; copies must agree (RFC 9112 §6.3 makes a client
/// refuse a response whose lengths differ).
fn content_length(response: &Response) -> Result<Option<usize>, String> {
    let mut length = None;
    for (_, value) in response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let parsed = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| format!("bad Content-Length {:?}", escape(value, 40)))?;
        if length.is_some_and(|l| l != parsed) {
            return Err("Content-Length copies disagree".to_string());
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// Removes chunked transfer coding: the body and the bytes its chunks (and the last,
/// empty one with its trailer section) took; `None` while the last chunk has not come.
/// The chunks are found first and copied once, so a large body that arrives a little at
/// a time is not copied again at every read.
fn dechunk(raw: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut chunks = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find(&raw[at..], b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&raw[at..at + eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailer fields, then the empty line.
            loop {
                let Some(eol) = find(&raw[at..], b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    let mut body = Vec::with_capacity(chunks.iter().map(|(f, t)| t - f).sum());
                    for &(from, to) in &chunks {
                        body.extend_from_slice(&raw[from..to]);
                    }
                    return Ok(Some((body, at)));
                }
            }
        }
        if raw.len() - at < size + 2 {
            return Ok(None);
        }
        if &raw[at + size..at + size + 2] != b"\r\n" {
            return Err(format!("chunk of {size} bytes not followed by CRLF"));
        }
        chunks.push((at, at + size));
        at += size + 2;
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

    /// What a client gets from a server that answers any request with `raw` and then
    /// closes, with a reset (SO_LINGER 0) if `reset`.
    fn served(raw: &'static [u8], reset: bool) -> Result<Response, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = [0u8; 1024];
            let _ = conn.read(&mut head);
            conn.write_all(raw).unwrap();
            if reset {
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: setsockopt on a socket this thread owns, with a valid linger.
                unsafe {
                    libc::setsockopt(
                        std::os::fd::AsRawFd::as_raw_fd(&conn),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
            }
        });
        let answer = exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        server.join().unwrap();
        answer
    }

    #[test]
    fn a_length_the_bytes_do_not_match_fails() {
        let short = served(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", false);
        assert!(short.unwrap_err().contains("Content-Length 5"));
        let long = served(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc", false);
        assert!(long.unwrap_err().contains("1 bytes after"));
        let right = served(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false);
        assert_eq!(right.unwrap().body, b"abc");
    }

    #[test]
    fn a_reset_before_the_close_that_ends_a_body_fails() {
        assert!(served(b"HTTP/1.1 200 OK\r\n\r\nabc", true).is_err());
        assert_eq!(
            served(b"HTTP/1.1 200 OK\r\n\r\nabc", false).unwrap().body,
            b"abc"
        );
    }

    #[test]
    fn pipelined_answers_are_read_by_their_framing() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
        let (mut at, mut bodies) = (0, Vec::new());
        for head_request in [false, true, false, false] {
            let (response, used, _) = parse_next(&raw[at..], head_request, true).unwrap().unwrap();
            bodies.push(response.body);
            at += used;
        }
        assert_eq!(at, raw.len());
        assert_eq!(bodies, [&b"ok"[..], b"", b"", b"x"]);
    }

    #[test]
    fn a_cut_chunked_body_is_an_error() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc").is_err());
    }
}
