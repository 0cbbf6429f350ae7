//! sendmail's command line, as PHP and common applications pass it: `-t`, `-i` (`-oi`),
//! `-f sender` (`-fsender`, `-r`), `-F name`, other `-o`/`-O` options ignored, and
//! recipients as arguments. Parsed as sendmail's getopt does (letters may be clustered,
//! an option's argument attached or separate), not by clap: `-fsender` and `-odb` are
//! not clap's shapes.

use super::address;

/// What the command line asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-t`: the recipients are also those of the To, Cc and Bcc headers.
    pub from_headers: bool,
    /// Without `-i` (`-oi`), a line of a single `.` ends the message, as in sendmail.
    pub dot_ends: bool,
    /// `-f` / `-r`: the envelope sender.
    pub sender: Option<String>,
    /// `-F`: the sender's full name, for a From header that has to be added.
    pub full_name: Option<String>,
    /// The recipients named as arguments.
    pub recipients: Vec<String>,
}

/// Options that take an argument and are ignored: -B body type, -C config, -d debug,
/// -h hop count, -L label, -N DSN, -O option, -p protocol, -R return, -V envelope id,
/// -X log file.
const IGNORED_WITH_ARGUMENT: &str = "BCdhLNOpRVX";
/// Options without an argument that change nothing here (-v verbose, -m me too, -e,
/// -c, -G, -I, -n, -s, -T: old sendmail flags that other sendmails accept too).
const IGNORED: &str = "vmecGInsTU";

/// `args` (without the program name and `sendmail`).
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Args, String> {
    let mut parsed = Args {
        dot_ends: true,
        ..Args::default()
    };
    let mut rest = args.iter().map(AsRef::as_ref);
    let mut only_recipients = false;
    while let Some(arg) = rest.next() {
        if only_recipients || !arg.starts_with('-') || arg == "-" {
            parsed.recipients.extend(address::list(arg));
            continue;
        }
        if arg == "--" {
            only_recipients = true;
            continue;
        }
        for (at, letter) in arg[1..].char_indices() {
            let takes_argument =
                "fFrobq".contains(letter) || IGNORED_WITH_ARGUMENT.contains(letter);
            let value = if takes_argument {
                let attached = &arg[1 + at + letter.len_utf8()..];
                let value = if attached.is_empty() {
                    rest.next()
                        .ok_or_else(|| format!("option -{letter} needs an argument"))?
                } else {
                    attached
                };
                Some(value)
            } else {
                None
            };
            match (letter, value) {
                ('t', _) => parsed.from_headers = true,
                ('i', _) => parsed.dot_ends = false,
                ('f' | 'r', Some(sender)) => parsed.sender = sender_of(sender),
                ('F', Some(name)) => parsed.full_name = Some(name.to_owned()),
                // -oi is -i; -odb (delivery mode), -oem (errors by mail) and the rest are
                // about sendmail's own queue, which there is none of.
                ('o', Some(option)) => {
                    if option == "i" {
                        parsed.dot_ends = false;
                    }
                }
                // -bm is the default mode (deliver a message); the others (-bs SMTP on
                // stdin, -bp the queue, -bv verify...) are not a message to send.
                ('b', Some("m")) => {}
                ('b', Some(mode)) => {
                    return Err(format!(
                        "mode -b{mode} is not supported: only -bm (send the message on stdin)"
                    ))
                }
                ('q', Some(_)) => {
                    return Err("-q (run the queue) is not supported: there is no queue".into())
                }
                (letter, Some(_)) if IGNORED_WITH_ARGUMENT.contains(letter) => {}
                (letter, None) if IGNORED.contains(letter) => {}
                (letter, _) => return Err(format!("unknown option -{letter}")),
            }
            if takes_argument {
                break;
            }
        }
    }
    Ok(parsed)
}

/// `-f`'s address: `<a@b>` as `a@b`; an empty one or `<>` (the null sender) is as if
/// none were given, since SES needs an address to send from.
fn sender_of(value: &str) -> Option<String> {
    let value = value.trim();
    let value = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value)
        .trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from_headers: bool, dot_ends: bool, sender: Option<&str>, to: &[&str]) -> Args {
        Args {
            from_headers,
            dot_ends,
            sender: sender.map(str::to_owned),
            full_name: None,
            recipients: to.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn command_lines() {
        let table: [(&[&str], Args); 12] = [
            // PHP's default sendmail_path, as the bootstrap sets it.
            (&["-t", "-i"], args(true, false, None, &[])),
            (&["-ti"], args(true, false, None, &[])),
            // mail()'s fifth argument, appended by PHP.
            (
                &["-t", "-i", "-fbounce@example.com"],
                args(true, false, Some("bounce@example.com"), &[]),
            ),
            (
                &["-t", "-i", "-f", "bounce@example.com"],
                args(true, false, Some("bounce@example.com"), &[]),
            ),
            (
                &["-oi", "-f", "<a@example.com>", "b@example.com"],
                args(false, false, Some("a@example.com"), &["b@example.com"]),
            ),
            (&["-odb", "-oem", "-t"], args(true, true, None, &[])),
            (&["-r", "<>", "-t"], args(true, true, None, &[])),
            (
                &["-tif", "x@example.com"],
                args(true, false, Some("x@example.com"), &[]),
            ),
            (
                &["a@example.com, B <b@example.com>", "c@example.com"],
                args(
                    false,
                    true,
                    None,
                    &["a@example.com", "b@example.com", "c@example.com"],
                ),
            ),
            (
                &["-bm", "-v", "--", "-odd@example.com"],
                args(false, true, None, &["-odd@example.com"]),
            ),
            (&["-N", "never", "-t"], args(true, true, None, &[])),
            (&[], args(false, true, None, &[])),
        ];
        for (argv, want) in table {
            assert_eq!(parse(argv), Ok(want), "{argv:?}");
        }
        let named = parse(&["-F", "The Site", "-t"]).unwrap();
        assert_eq!(named.full_name.as_deref(), Some("The Site"));
    }

    #[test]
    fn what_is_refused() {
        let table: [(&[&str], &str); 5] = [
            (&["-bs"], "mode -bs is not supported"),
            (&["-q1h"], "-q (run the queue) is not supported"),
            (&["-t", "-f"], "option -f needs an argument"),
            (&["-tz"], "unknown option -z"),
            (&["-k"], "unknown option -k"),
        ];
        for (argv, want) in table {
            let err = parse(argv).unwrap_err();
            assert!(err.contains(want), "{argv:?}: {err}");
        }
    }
}
