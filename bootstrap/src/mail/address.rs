//! The addresses in an address-list header (RFC 5322's To, Cc, Bcc) or argument:
//! display names (quoted or not, commas in quotes), `<angle>` addresses, comments in
//! parentheses, and groups (`Team: a@x, b@y;`, `undisclosed-recipients:;`). Enough to
//! find the addresses to send to, not a validating parser: SES checks them again.

/// The addresses in `text`, in order.
pub fn list(text: &str) -> Vec<String> {
    let mut addresses = Vec::new();
    // The current mailbox: its text outside angles, and what was inside them.
    let mut outside = String::new();
    let mut angle: Option<String> = None;
    let mut in_angle = false;
    let mut chars = text.chars();
    let mut finish = |outside: &mut String, angle: &mut Option<String>| {
        let address = match angle.take() {
            Some(inside) => inside,
            None => std::mem::take(outside),
        };
        outside.clear();
        let address = address.trim();
        if !address.is_empty() {
            addresses.push(address.to_owned());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A quoted display name (or local part); its text is kept, quotes and all,
                // only so that an unangled quoted local part survives.
                let mut quoted = String::from('"');
                while let Some(q) = chars.next() {
                    quoted.push(q);
                    match q {
                        '\\' => quoted.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
                match (in_angle, &mut angle) {
                    (true, Some(inside)) => inside.push_str(&quoted),
                    _ => outside.push_str(&quoted),
                }
            }
            '(' => {
                let mut depth = 1;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' if depth == 1 => break,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
            }
            '<' if !in_angle => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' if in_angle => in_angle = false,
            c if in_angle => angle.get_or_insert_with(String::new).push(c),
            // A group's name ends at its colon: what came before is no address.
            ':' => outside.clear(),
            ',' | ';' => finish(&mut outside, &mut angle),
            c => outside.push(c),
        }
    }
    finish(&mut outside, &mut angle);
    addresses
}

/// Whether SES can send to or from `address`: `local@domain`, 7-bit ASCII (SES does not
/// support SMTPUTF8; a Unicode domain must be given in Punycode), no control characters.
pub fn check(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(format!("{address:?} is not an email address (no @)"));
    };
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        return Err(format!("{address:?} is not an email address"));
    }
    if !address.is_ascii() {
        return Err(format!(
            "{address:?} is not 7-bit ASCII, which SES requires (a Unicode domain goes in \
             Punycode)"
        ));
    }
    if address.chars().any(|c| c.is_ascii_control()) {
        return Err(format!("{address:?} has control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let table: [(&str, &[&str]); 11] = [
            ("a@example.com", &["a@example.com"]),
            (
                "a@example.com, b@example.org",
                &["a@example.com", "b@example.org"],
            ),
            ("Ann <a@example.com>", &["a@example.com"]),
            (
                r#""Doe, John" <j@example.com>, "Ann \"A\"" <a@example.com>"#,
                &["j@example.com", "a@example.com"],
            ),
            ("k@example.com (Kay, the admin)", &["k@example.com"]),
            (
                "Team: a@example.com, B <b@example.com>;, c@example.com",
                &["a@example.com", "b@example.com", "c@example.com"],
            ),
            ("undisclosed-recipients:;", &[]),
            ("", &[]),
            (" , ,", &[]),
            (
                "Ann\r\n <a@example.com>,\r\n\tb@example.com",
                &["a@example.com", "b@example.com"],
            ),
            (
                r#""odd local"@example.com"#,
                &[r#""odd local"@example.com"#],
            ),
        ];
        for (text, want) in table {
            assert_eq!(list(text), want, "{text:?}");
        }
    }

    #[test]
    fn checks() {
        for good in ["a@example.com", "a.b+c@sub.example.org", "root@localhost"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        let table = [
            ("nobody", "no @"),
            ("@example.com", "not an email address"),
            ("a@nodot", "not an email address"),
            ("ü@example.com", "7-bit ASCII"),
            ("a@exämple.com", "Punycode"),
        ];
        for (bad, want) in table {
            let err = check(bad).unwrap_err();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
