//! One row of the case table and the small builder the tables are written with.

/// Where a case runs: lamphp's direct mode (against the reference's direct server), its
/// trusted-proxy mode, and its Lambda mode behind `bootstrap local`'s ALB emulator in both
/// target-group header modes (the last three against the reference's ALB server).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Direct,
    Proxy,
    /// `bootstrap local`: `lambda.multi_value_headers.enabled` on.
    LambdaMulti,
    /// `bootstrap local --single-value`: the target group keeps one value per name.
    LambdaSingle,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Proxy => "proxy",
            Mode::LambdaMulti => "lambda-multi",
            Mode::LambdaSingle => "lambda-single",
        }
    }

    /// The request reaches lamphp through the ALB emulator, as a Lambda event.
    pub fn is_lambda(self) -> bool {
        matches!(self, Mode::LambdaMulti | Mode::LambdaSingle)
    }

    /// lamphp sits behind an ALB (trusted or emulated): the reference's ALB server.
    pub fn behind_alb(self) -> bool {
        self != Mode::Direct
    }
}

/// What the ALB adds to every request in proxy mode: the client's address appended last
/// to X-Forwarded-For, the scheme and the port it listened on.
pub const ALB_HEADERS: &[u8] =
    b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n";

/// The Host every built request carries unless the case says otherwise.
pub const HOST: &str = "parity.test";

/// Written as a placeholder in a request; replaced by the port of the server it is sent
/// to, the way a real client writes the server's port into its Host header.
pub const PORT_PLACEHOLDER: &[u8] = b"{PORT}";

pub struct Case {
    pub name: String,
    /// Request line and header lines, each ending in CRLF, without the blank line.
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub modes: Vec<Mode>,
    /// In proxy mode, append [`ALB_HEADERS`] (off for cases that write their own). Never
    /// in the Lambda modes: the emulator adds the ALB's own.
    pub alb: bool,
    /// The case repeats request headers on purpose: departure (a) applies.
    pub repeated_headers: bool,
    /// A status both sides must answer with (the reference too: this checks the case).
    pub expect_status: Option<u16>,
    /// Bytes neither side's body may contain (e.g. output of a script that must not run).
    pub forbid: Option<&'static str>,
    /// Where lamphp's HTTP parser (hyper) cannot behave as nginx's does.
    pub parser: Option<Parser>,
    /// What the ALB does with the request in the Lambda modes, when it cannot pass it on.
    pub alb_fate: Option<AlbFate>,
    /// Sent without `Connection: close`: one request of a [`Conversation`] before its last.
    pub keep_alive: bool,
    /// The head the reference is sent instead of `head` ([`Parser::Accepts`]: the request
    /// as hyper frames it, which nginx would refuse as sent).
    pub reference_head: Option<Vec<u8>>,
}

/// Requests the ALB in front of a Lambda cannot pass on, or answers it cannot pass back
/// (see the README); only lamphp's status is checked in the Lambda modes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AlbFate {
    /// The ALB answers with this status itself and never invokes the function: 413 for a
    /// body over the 1 MB an event may carry (the ELB guide's "HTTP 413"), 400 for what
    /// RFC 9112 makes the server refuse (the ALB is the server the client talks to).
    Refuses(u16),
    /// The response is larger than the ALB's 1 MB response JSON and the client takes no
    /// gzip: with no offload bucket lamphp answers its own 502 page (`lambda/fit.rs`).
    TooLarge,
}

impl AlbFate {
    /// The status lamphp's side must answer with.
    pub fn status(self) -> u16 {
        match self {
            AlbFate::Refuses(status) => status,
            AlbFate::TooLarge => 502,
        }
    }
}

/// Requests whose fate is settled by the HTTP/1.1 parser before lamphp sees them. hyper
/// is stricter than nginx here and has no hook for its own error responses; these are
/// malformed or obsolete requests no real client sends, so lamphp keeps hyper and
/// checks only that the outcome is still a clear one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Parser {
    /// hyper answers a bare 400 (no nginx page) where nginx answers 400 with its page,
    /// 505, or even serves the request (a raw Latin-1 byte in the target: `http::Uri`
    /// holds only UTF-8, where RFC 3986 wants such bytes percent-encoded anyway).
    Refuses,
    /// hyper accepts the request but hands it on changed (it trims tabs around header
    /// values, and drops a raw `#fragment` from the target): the status must match.
    Normalizes,
    /// hyper accepts, as RFC 9112 allows, a body framing nginx refuses with 400:
    /// Transfer-Encoding beside Content-Length (the chunked framing wins and the length
    /// header is dropped), or one Content-Length repeated with the same value. lamphp must
    /// answer 200, and what PHP gets must be exactly what the reference shows for the
    /// request as framed (`Case::reference_head`, set by [`Case::accepts`]): the whole
    /// comparison follows.
    Accepts,
}

/// A request `METHOD target HTTP/1.1` with the default Host.
pub fn req(name: &str, method: &str, target: impl AsRef<[u8]>) -> Case {
    let mut head = format!("{method} ").into_bytes();
    head.extend_from_slice(target.as_ref());
    head.extend_from_slice(format!(" HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes());
    raw(name, head)
}

pub fn get(name: &str, target: impl AsRef<[u8]>) -> Case {
    req(name, "GET", target)
}

/// A request whose request line and headers are given exactly (CRLF-terminated lines).
pub fn raw(name: &str, head: impl AsRef<[u8]>) -> Case {
    Case {
        name: name.to_string(),
        head: head.as_ref().to_vec(),
        body: Vec::new(),
        modes: vec![Mode::Direct, Mode::Proxy],
        alb: true,
        repeated_headers: false,
        expect_status: None,
        forbid: None,
        parser: None,
        alb_fate: None,
        reference_head: None,
        keep_alive: false,
    }
}

/// Several requests on one connection, each answer compared as a case of its own, and
/// the connection's course too: how many requests were answered before it closed.
pub struct Conversation {
    pub name: String,
    /// The requests in order; all but the last are sent keep-alive, the last with
    /// `Connection: close`, so both sides end the conversation.
    pub requests: Vec<Case>,
    pub pace: crate::http::Pace,
    pub modes: Vec<Mode>,
}

impl Conversation {
    pub fn new(name: &str, pace: crate::http::Pace, mut requests: Vec<Case>) -> Conversation {
        let last = requests.len() - 1;
        for (i, case) in requests.iter_mut().enumerate() {
            case.name = format!("{name}#{}", i + 1);
            case.keep_alive = i < last;
        }
        Conversation {
            name: name.to_string(),
            modes: requests[0].runs_in(),
            requests,
            pace,
        }
    }

    /// Only against `bootstrap serve` (direct and trusted-proxy modes).
    pub fn serve_only(mut self) -> Conversation {
        self.modes.retain(|m| !m.is_lambda());
        self
    }
}

impl Case {
    /// Adds one header line (`Name: value`, no CRLF).
    pub fn h(mut self, line: impl AsRef<[u8]>) -> Case {
        self.head.extend_from_slice(line.as_ref());
        self.head.extend_from_slice(b"\r\n");
        self
    }

    /// Sets the body; a Content-Length is added when the head declares no framing.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.body = body.into();
        self
    }

    pub fn direct_only(mut self) -> Case {
        self.modes = vec![Mode::Direct];
        self
    }

    pub fn proxy_only(mut self) -> Case {
        self.modes = vec![Mode::Proxy];
        self
    }

    /// Proxy mode without the ALB's headers (the case writes its own, or none).
    pub fn no_alb(mut self) -> Case {
        self.alb = false;
        self
    }

    pub fn repeated(mut self) -> Case {
        self.repeated_headers = true;
        self
    }

    pub fn status(mut self, status: u16) -> Case {
        self.expect_status = Some(status);
        self
    }

    pub fn parser(mut self, parser: Parser) -> Case {
        self.parser = Some(parser);
        self
    }

    /// [`Parser::Accepts`]: the reference is sent `framed`, the head as hyper reads the
    /// case's.
    pub fn accepts(mut self, framed: impl AsRef<[u8]>) -> Case {
        self.parser = Some(Parser::Accepts);
        self.reference_head = Some(framed.as_ref().to_vec());
        self
    }

    pub fn forbid(mut self, text: &'static str) -> Case {
        self.forbid = Some(text);
        self
    }

    pub fn alb_fate(mut self, fate: AlbFate) -> Case {
        self.alb_fate = Some(fate);
        self
    }

    /// The modes the case runs in: those it names, and the Lambda modes wherever it runs
    /// in proxy mode (the same request, behind the ALB emulator instead).
    pub fn runs_in(&self) -> Vec<Mode> {
        let mut modes = self.modes.clone();
        if modes.contains(&Mode::Proxy) {
            modes.extend([Mode::LambdaMulti, Mode::LambdaSingle]);
        }
        modes
    }

    /// The bytes sent to a server on `port` in `mode`: the head, `Connection: close`
    /// (unless kept alive), the ALB's headers in proxy mode, a Content-Length if needed,
    /// the body.
    pub fn render(&self, mode: Mode, port: u16, head: &[u8]) -> Vec<u8> {
        let mut out = replace(head, PORT_PLACEHOLDER, port.to_string().as_bytes());
        if !self.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        if mode == Mode::Proxy && self.alb {
            out.extend_from_slice(ALB_HEADERS);
        }
        let framed = header_lines(head).iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if !self.body.is_empty() && !framed {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// The request line of a rendered request, for messages.
pub fn request_line(request: &[u8]) -> String {
    let end = crate::http::find(request, b"\r\n").unwrap_or(request.len());
    crate::http::escape(&request[..end], 300)
}

/// The header lines of a head (after the request line), as (name, value) in order.
pub fn header_lines(head: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text_end = crate::http::find(head, b"\r\n\r\n").map_or(head.len(), |e| e + 2);
    head[..text_end]
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let value = l[colon + 1..].trim_ascii().to_vec();
            Some((String::from_utf8_lossy(&l[..colon]).into_owned(), value))
        })
        .collect()
}

pub fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = crate::http::find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
