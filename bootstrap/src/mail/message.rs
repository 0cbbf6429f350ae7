//! The message PHP writes, made into the one SES sends, as sendmail would make it: the
//! recipients found (`-t`: the To, Cc and Bcc headers, and the arguments; else the
//! arguments only), the Bcc header taken out (its recipients get the message, nobody
//! sees the list), a From header added when there is none, lines ended with CRLF.

use super::address;
use super::args::Args;

/// SES v2's largest message: 40 MB "after base64 encoding" (the SES quotas page; v1's is
/// 10 MB), taken as 40,000,000 bytes so that a message we let through is never one SES
/// refuses for its size.
pub const MAX_BASE64: usize = 40_000_000;
/// SES's limit on recipients (To, Cc and Bcc together) per message.
pub const MAX_RECIPIENTS: usize = 50;

/// A message ready for SES.
#[derive(Debug, PartialEq, Eq)]
pub struct Prepared {
    /// Headers and body, CRLF line ends.
    pub message: Vec<u8>,
    /// The envelope recipients, each once.
    pub recipients: Vec<String>,
    /// How many Bcc headers were taken out.
    pub bcc_removed: usize,
    /// Whether a From header was added.
    pub from_added: bool,
    /// The Subject header, for the log.
    pub subject: Option<String>,
}

/// Why a message cannot go.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no recipients: {0}")]
    NoRecipients(&'static str),
    #[error("{0} recipients, more than SES's {MAX_RECIPIENTS} per message")]
    TooManyRecipients(usize),
    #[error(
        "the message is {0} bytes, {1} once base64-encoded, over SES's {MAX_BASE64} \
         (40 MB, after base64)"
    )]
    TooLarge(usize, usize),
    #[error("recipient {0}")]
    BadRecipient(String),
    #[error("sender {0}")]
    BadSender(String),
}

/// Make `input` (what PHP wrote) into what SES is sent, from envelope sender `sender`.
pub fn prepare(input: &[u8], args: &Args, sender: &str) -> Result<Prepared, Refused> {
    address::check(sender).map_err(Refused::BadSender)?;
    let input = match args.dot_ends {
        true => until_dot(input),
        false => input,
    };
    let lines = split_lines(input);
    // The header section: field lines and their continuations, up to the first empty
    // line (or the first line that is neither, which then begins the body).
    let mut end = 0;
    while end < lines.len() {
        let line = lines[end];
        let continuation = end > 0 && line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !(continuation || field_name(line).is_some()) {
            break;
        }
        end += 1;
    }
    let blank_follows = lines.get(end).is_some_and(|l| l.is_empty());
    // Fields: each its lines, unfolded for reading.
    let mut fields: Vec<(String, Vec<&[u8]>)> = Vec::new();
    for line in &lines[..end] {
        match field_name(line) {
            Some(name) if !line.starts_with(b" ") && !line.starts_with(b"\t") => {
                fields.push((name.to_ascii_lowercase(), vec![line]))
            }
            _ => fields
                .last_mut()
                .expect("a continuation follows a field")
                .1
                .push(line),
        }
    }
    let value = |lines: &[&[u8]]| -> String {
        let joined: Vec<u8> = lines.join(&b' ');
        let text = String::from_utf8_lossy(&joined).into_owned();
        text.split_once(':')
            .map_or(String::new(), |(_, v)| v.trim().to_owned())
    };

    let mut recipients = Vec::new();
    if args.from_headers {
        for (name, lines) in &fields {
            if matches!(name.as_str(), "to" | "cc" | "bcc") {
                recipients.extend(address::list(&value(lines)));
            }
        }
    }
    recipients.extend(args.recipients.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    recipients.retain(|r| seen.insert(r.to_ascii_lowercase()));
    if recipients.is_empty() {
        return Err(Refused::NoRecipients(if args.from_headers {
            "none in the To, Cc or Bcc headers, nor as arguments"
        } else {
            "none as arguments, and without -t the headers are not read"
        }));
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(Refused::TooManyRecipients(recipients.len()));
    }
    for recipient in &recipients {
        address::check(recipient).map_err(Refused::BadRecipient)?;
    }
    let from = fields.iter().find(|(name, _)| name == "from");
    if let Some((_, lines)) = from {
        for address in address::list(&value(lines)) {
            address::check(&address).map_err(|e| Refused::BadSender(format!("in From: {e}")))?;
        }
    }
    let subject = fields
        .iter()
        .find(|(name, _)| name == "subject")
        .map(|(_, lines)| value(lines));

    let mut message = Vec::with_capacity(input.len() + input.len() / 32 + 64);
    let mut bcc_removed = 0;
    for (name, lines) in &fields {
        if name == "bcc" {
            bcc_removed += 1;
            continue;
        }
        for line in lines {
            message.extend_from_slice(line);
            message.extend_from_slice(b"\r\n");
        }
    }
    if from.is_none() {
        message.extend_from_slice(from_header(sender, args.full_name.as_deref()).as_bytes());
    }
    if !blank_follows {
        message.extend_from_slice(b"\r\n");
    }
    for line in &lines[end..] {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }
    let encoded = message.len().div_ceil(3) * 4;
    if encoded > MAX_BASE64 {
        return Err(Refused::TooLarge(message.len(), encoded));
    }
    Ok(Prepared {
        message,
        recipients,
        bcc_removed,
        from_added: from.is_none(),
        subject,
    })
}

/// The From header sendmail adds: the envelope sender, with -F's name.
fn from_header(sender: &str, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => format!("From: {sender}\r\n"),
        Some(name) if !name.is_ascii() => {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(name);
            format!("From: =?UTF-8?B?{encoded}?= <{sender}>\r\n")
        }
        Some(name) => {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("From: \"{escaped}\" <{sender}>\r\n")
        }
    }
}

/// A header field's name, if `line` begins with one (printable ASCII but colon, then `:`).
fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = &line[..colon];
    let ok = !name.is_empty() && name.iter().all(|b| (33..=126).contains(b));
    ok.then(|| std::str::from_utf8(name).expect("ASCII"))
}

/// The lines of `input`, without their LF or CRLF; a last line without one counts.
fn split_lines(input: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = input
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    if input.ends_with(b"\n") || input.is_empty() {
        lines.pop();
    }
    lines
}

/// Without -i: the message ends before a line of a single dot.
fn until_dot(input: &[u8]) -> &[u8] {
    let mut start = 0;
    for line in input.split_inclusive(|b| *b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        if bare.strip_suffix(b"\r").unwrap_or(bare) == b"." {
            return &input[..start];
        }
        start += line.len();
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Args {
        Args {
            from_headers: true,
            dot_ends: false,
            ..Args::default()
        }
    }

    fn text(prepared: &Prepared) -> &str {
        std::str::from_utf8(&prepared.message).unwrap()
    }

    #[test]
    fn what_php_writes() {
        // mail('Ann <a@example.com>', 'Hi', "line 1\nline 2\n", "From: site@example.com\r\nCc: c@example.com")
        let input = b"To: Ann <a@example.com>\nSubject: Hi\nFrom: site@example.com\r\nCc: c@example.com\n\nline 1\nline 2\n";
        let got = prepare(input, &t(), "bounce@example.com").unwrap();
        assert_eq!(
            text(&got),
            "To: Ann <a@example.com>\r\nSubject: Hi\r\nFrom: site@example.com\r\nCc: c@example.com\r\n\r\nline 1\r\nline 2\r\n"
        );
        assert_eq!(got.recipients, ["a@example.com", "c@example.com"]);
        assert_eq!(got.subject.as_deref(), Some("Hi"));
        assert!(!got.from_added);
        assert_eq!(got.bcc_removed, 0);
    }

    #[test]
    fn bcc_is_sent_to_and_taken_out() {
        let input = b"To: a@example.com\r\nBcc: b@example.com,\r\n  c@example.com\r\nSubject: x\r\n\r\nbody";
        let got = prepare(input, &t(), "s@example.com").unwrap();
        assert_eq!(
            got.recipients,
            ["a@example.com", "b@example.com", "c@example.com"]
        );
        assert_eq!(
            text(&got),
            "To: a@example.com\r\nSubject: x\r\nFrom: s@example.com\r\n\r\nbody\r\n"
        );
        assert_eq!(got.bcc_removed, 1);
        assert!(got.from_added);
    }

    #[test]
    fn recipients_are_only_those_asked_for() {
        let input = b"To: a@example.com\nCc: A@example.com\n\nx\n";
        let table: [(Args, &[&str]); 3] = [
            (t(), &["a@example.com"]),
            (
                Args {
                    recipients: vec!["d@example.com".into(), "a@example.com".into()],
                    ..t()
                },
                &["a@example.com", "d@example.com"],
            ),
            // Without -t the headers name nobody.
            (
                Args {
                    recipients: vec!["d@example.com".into()],
                    ..Args::default()
                },
                &["d@example.com"],
            ),
        ];
        for (args, want) in table {
            assert_eq!(
                prepare(input, &args, "s@example.com").unwrap().recipients,
                want,
                "{args:?}"
            );
        }
    }

    #[test]
    fn from_is_added_as_sendmail_adds_it() {
        let table = [
            (None, "From: s@example.com\r\n"),
            (Some("The Site"), "From: \"The Site\" <s@example.com>\r\n"),
            (
                Some("Ça \"va\""),
                "From: =?UTF-8?B?w4dhICJ2YSI=?= <s@example.com>\r\n",
            ),
        ];
        for (name, want) in table {
            let args = Args {
                full_name: name.map(str::to_owned),
                ..t()
            };
            let got = prepare(b"To: a@example.com\n\nx\n", &args, "s@example.com").unwrap();
            assert_eq!(text(&got), format!("To: a@example.com\r\n{want}\r\nx\r\n"));
        }
    }

    #[test]
    fn shapes_of_input() {
        let table: [(Args, &[u8], &str); 4] = [
            // No blank line: the headers end at the first line that is no field.
            (
                t(),
                b"To: a@example.com\nnot a header\n",
                "To: a@example.com\r\n\r\nnot a header\r\n",
            ),
            // Headers only.
            (t(), b"To: a@example.com", "To: a@example.com\r\n\r\n"),
            // Without -i, a lone dot ends the message.
            (
                Args {
                    dot_ends: true,
                    ..t()
                },
                b"To: a@example.com\n\nbefore\n.\nafter\n",
                "To: a@example.com\r\n\r\nbefore\r\n",
            ),
            // With -i it is text.
            (
                t(),
                b"To: a@example.com\n\n.\nafter\n",
                "To: a@example.com\r\n\r\n.\r\nafter\r\n",
            ),
        ];
        for (args, input, want) in table {
            let got = prepare(input, &args, "s@example.com").unwrap();
            let want = want.replacen("\r\n\r\n", "\r\nFrom: s@example.com\r\n\r\n", 1);
            assert_eq!(text(&got), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn what_is_refused() {
        let big = format!("To: a@example.com\n\n{}\n", "x".repeat(30_000_000));
        let many: String = (0..51).map(|i| format!("r{i}@example.com,")).collect();
        let many = format!("To: {many}\n\nx\n");
        let table: [(&[u8], Args, &str, &str); 7] = [
            (
                b"Subject: x\n\nbody\n",
                t(),
                "s@example.com",
                "no recipients: none in the To",
            ),
            (
                b"To: a@example.com\n\nbody\n",
                Args::default(),
                "s@example.com",
                "no recipients: none as arguments",
            ),
            (
                b"To: undisclosed-recipients:;\n\nbody\n",
                t(),
                "s@example.com",
                "no recipients",
            ),
            (
                many.as_bytes(),
                t(),
                "s@example.com",
                "51 recipients, more than SES's 50",
            ),
            (big.as_bytes(), t(), "s@example.com", "over SES's 40000000"),
            (
                b"To: a@example.com\nFrom: Ann <ann@ex\xc3\xa4mple.com>\n\nx\n",
                t(),
                "s@example.com",
                "sender in From: \"ann@ex\u{e4}mple.com\" is not 7-bit ASCII",
            ),
            (
                b"To: nobody\n\nx\n",
                t(),
                "s@example.com",
                "recipient \"nobody\" is not an email address",
            ),
        ];
        for (input, args, sender, want) in table {
            let err = prepare(input, &args, sender).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let err = prepare(b"To: a@example.com\n\nx\n", &t(), "site").unwrap_err();
        assert!(matches!(err, Refused::BadSender(_)), "{err}");
    }
}
