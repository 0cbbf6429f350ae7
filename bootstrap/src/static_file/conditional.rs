//! Conditional requests as nginx 1.22's not_modified filter answers them, with its
//! defaults `if_modified_since exact` and `etag on`.
//!
//! Order, as nginx runs it: `If-Unmodified-Since`, then `If-Match` (either failing is a
//! 412); then a 304 only if every one of `If-Modified-Since` and `If-None-Match` that is
//! present says "not modified" — an `If-None-Match` does not make nginx ignore
//! `If-Modified-Since`. All of this runs before ranges are looked at, so a 304 or a 412
//! wins over a `Range`.

use super::http_time;
use http::header::{self, HeaderMap, HeaderName};

/// What the preconditions say about sending the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// `etag` is the file's quoted entity tag and `mtime` its modification time, with
/// [`http_time::INVALID`] meaning the file has no Last-Modified.
pub fn evaluate(headers: &HeaderMap, etag: &str, mtime: i64) -> Verdict {
    let etag = etag.as_bytes();
    if let Some(since) = value(headers, header::IF_UNMODIFIED_SINCE) {
        // An unreadable date fails too: nginx compares its -1 like any other time.
        if mtime == http_time::INVALID || http_time::parse(since) < mtime {
            return Verdict::PreconditionFailed;
        }
    }
    if let Some(tags) = value(headers, header::IF_MATCH) {
        if !etag_listed(tags, etag, false) {
            return Verdict::PreconditionFailed;
        }
    }
    let modified_since = value(headers, header::IF_MODIFIED_SINCE);
    let none_match = value(headers, header::IF_NONE_MATCH);
    if modified_since.is_none() && none_match.is_none() {
        return Verdict::Proceed;
    }
    if let Some(since) = modified_since {
        if mtime == http_time::INVALID || http_time::parse(since) != mtime {
            return Verdict::Proceed;
        }
    }
    if let Some(tags) = none_match {
        if !etag_listed(tags, etag, true) {
            return Verdict::Proceed;
        }
    }
    Verdict::NotModified
}

/// The first value of a header. nginx answers 400 to a request that repeats any of
/// these headers, before any location runs; that belongs to the request parser, so
/// here the first one stands.
fn value(headers: &HeaderMap, name: HeaderName) -> Option<&[u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

/// Whether `tags`, an `If-Match`/`If-None-Match` list, names `etag`.
///
/// nginx's reading: `*` only as the whole value; items split at commas, with spaces
/// and tabs after a tag allowed; `W/` is stripped only for the weak comparison
/// (`If-None-Match`), so `If-Match: W/"..."` never matches; `w/` is not `W/`.
pub fn etag_listed(tags: &[u8], etag: &[u8], weak: bool) -> bool {
    if tags == b"*" {
        return true;
    }
    let mut rest = tags;
    while !rest.is_empty() {
        if weak && rest.len() > 2 && rest.starts_with(b"W/") {
            rest = &rest[2..];
        }
        if let Some(after) = rest.strip_prefix(etag) {
            let after = trim_start(after, b" \t");
            if matches!(after.first(), None | Some(b',')) {
                return true;
            }
        }
        let next = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
        rest = trim_start(&rest[next..], b" \t,");
    }
    false
}

fn trim_start<'a>(bytes: &'a [u8], set: &[u8]) -> &'a [u8] {
    let skip = bytes.iter().take_while(|c| set.contains(c)).count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    const ETAG: &str = "\"6553f100-a\"";
    const MTIME: i64 = 1_700_000_000;
    const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const LATER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";
    const EARLIER: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    fn verdict(pairs: &[(&str, &str)], mtime: i64) -> Verdict {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        evaluate(&headers, ETAG, mtime)
    }

    #[test]
    fn follows_nginx() {
        // Every row was sent to nginx 1.22 for a file with this mtime and ETag.
        let cases: &[(&[(&str, &str)], Verdict)] = &[
            (&[], Proceed),
            (&[("if-modified-since", DATE)], NotModified),
            (&[("if-modified-since", LATER)], Proceed),
            (&[("if-modified-since", EARLIER)], Proceed),
            (&[("if-modified-since", "garbage")], Proceed),
            (&[("if-none-match", ETAG)], NotModified),
            (&[("if-none-match", "\"nope\"")], Proceed),
            (
                &[("if-none-match", "\"nope\""), ("if-modified-since", DATE)],
                Proceed,
            ),
            (
                &[("if-none-match", ETAG), ("if-modified-since", LATER)],
                Proceed,
            ),
            (
                &[("if-none-match", ETAG), ("if-modified-since", DATE)],
                NotModified,
            ),
            (&[("if-match", "\"nope\"")], PreconditionFailed),
            (&[("if-match", "*")], Proceed),
            (&[("if-match", "\"x\", \"6553f100-a\"")], Proceed),
            (&[("if-match", "W/\"6553f100-a\"")], PreconditionFailed),
            (
                &[("if-match", "\"x\""), ("if-none-match", ETAG)],
                PreconditionFailed,
            ),
            (&[("if-unmodified-since", DATE)], Proceed),
            (&[("if-unmodified-since", LATER)], Proceed),
            (&[("if-unmodified-since", EARLIER)], PreconditionFailed),
            (&[("if-unmodified-since", "garbage")], PreconditionFailed),
            (
                &[("if-unmodified-since", EARLIER), ("if-none-match", ETAG)],
                PreconditionFailed,
            ),
        ];
        for (headers, want) in cases {
            assert_eq!(&verdict(headers, MTIME), want, "{headers:?}");
        }
    }

    #[test]
    fn a_file_without_last_modified_fails_date_conditions() {
        let none = http_time::INVALID;
        assert_eq!(
            verdict(&[("if-unmodified-since", LATER)], none),
            PreconditionFailed
        );
        assert_eq!(verdict(&[("if-modified-since", "garbage")], none), Proceed);
        assert_eq!(verdict(&[("if-none-match", ETAG)], none), NotModified);
    }

    #[test]
    fn none_match_lists_read_like_nginx() {
        // Checked against nginx 1.22 as If-None-Match values: true means it sent a 304.
        for (tags, want) in [
            ("*", true),
            ("\"x\", *", false),
            ("W/\"6553f100-a\"", true),
            ("\"x\", W/\"6553f100-a\"", true),
            ("\"x\",W/\"6553f100-a\" ", true),
            ("\"x\" \"6553f100-a\"", false),
            ("\"6553f100-a\"x", false),
            ("\"6553f100-a\" , \"y\"", true),
            ("\"6553f100-a\"\t,", true),
            ("w/\"6553f100-a\"", false),
            ("6553f100-a", false),
            ("\"x\",,  ,\"6553f100-a\"", true),
            ("\"x\"\t,\t\"6553f100-a\"", true),
            ("W/", false),
            ("W/W/\"6553f100-a\"", false),
            ("", false),
            (",,,", false),
        ] {
            assert_eq!(
                etag_listed(tags.as_bytes(), ETAG.as_bytes(), true),
                want,
                "{tags}"
            );
        }
    }

    #[test]
    fn non_utf8_values_are_just_bytes() {
        let mut headers = HeaderMap::new();
        let odd = http::HeaderValue::from_bytes(b"\"\xff\", \"6553f100-a\"").unwrap();
        headers.insert(header::IF_NONE_MATCH, odd.clone());
        assert_eq!(evaluate(&headers, ETAG, MTIME), NotModified);
        headers.insert(header::IF_MODIFIED_SINCE, odd);
        assert_eq!(evaluate(&headers, ETAG, MTIME), Proceed);
    }
}
