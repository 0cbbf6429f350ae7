//! `Range` and `If-Range` as nginx 1.22's range filter reads them.
//!
//! nginx is stricter than RFC 9110 once a header starts with `bytes=`: anything it
//! can't read there is a 416, not an ignored header (`bytes=abc`, `bytes=1-2,`, a tab).
//! Only a header that doesn't start with `bytes=` (any case) or has nothing after it
//! is ignored.

use super::http_time;

/// nginx keeps offsets in `off_t`; larger numbers make the range unsatisfiable.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// Bytes `start..end` of the file (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What to send for a `Range` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The whole file, with `Accept-Ranges: bytes`.
    Whole,
    /// These ranges, in the order asked for (they may overlap).
    Partial(Vec<ByteRange>),
    /// 416.
    Unsatisfiable,
}

/// Whether an `If-Range` value lets a range through: a value ending in `"` must be the
/// ETag byte for byte (so a weak `W/"..."` never is), anything else must read as a date
/// equal to the mtime.
pub fn if_range_holds(value: &[u8], etag: &str, mtime: i64) -> bool {
    if value.len() >= 2 && value.ends_with(b"\"") {
        return value == etag.as_bytes();
    }
    mtime != http_time::INVALID && http_time::parse(value) == mtime
}

/// Reads a `Range` header value for a file of `size` bytes.
pub fn parse(value: &[u8], size: u64) -> Outcome {
    match value.get(..6) {
        Some(unit) if value.len() > 6 && unit.eq_ignore_ascii_case(b"bytes=") => {}
        _ => return Outcome::Whole,
    }
    let mut spec = Cursor {
        bytes: &value[6..],
        pos: 0,
    };
    let mut ranges = Vec::new();
    let mut total: u64 = 0;
    loop {
        let Some((start, end)) = spec.range(size) else {
            return Outcome::Unsatisfiable;
        };
        if start < end {
            ranges.push(ByteRange { start, end });
            total = match total.checked_add(end - start) {
                Some(sum) if sum <= MAX_OFFSET => sum,
                _ => return Outcome::Unsatisfiable,
            };
        } else if start == 0 {
            // Only an empty file gets here with start 0: nginx sends it whole.
            return Outcome::Whole;
        }
        // Other empty ranges (start past the end, `5-2`) are dropped, not refused.
        if spec.next() != b',' {
            break;
        }
    }
    if ranges.is_empty() {
        Outcome::Unsatisfiable
    } else if total > size {
        // Ranges adding up to more than the file: nginx sends the file instead.
        Outcome::Whole
    } else {
        Outcome::Partial(ranges)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// The current byte; NUL at the end, which a header value can't contain itself.
    fn peek(&self) -> u8 {
        self.bytes.get(self.pos).copied().unwrap_or(0)
    }

    fn next(&mut self) -> u8 {
        let byte = self.peek();
        self.pos += 1;
        byte
    }

    /// Only spaces: nginx treats a tab as garbage here.
    fn skip_spaces(&mut self) {
        while self.peek() == b' ' {
            self.pos += 1;
        }
    }

    fn at_item_end(&self) -> bool {
        matches!(self.peek(), b',' | 0)
    }

    /// One or more digits, at most [`MAX_OFFSET`].
    fn number(&mut self) -> Option<u64> {
        if !self.peek().is_ascii_digit() {
            return None;
        }
        let mut n: u64 = 0;
        while self.peek().is_ascii_digit() {
            let digit = u64::from(self.next() - b'0');
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(digit))
                .filter(|&n| n <= MAX_OFFSET)?;
        }
        Some(n)
    }

    /// One `first-last`, `first-` or `-suffix` item as `(start, end)`, end exclusive and
    /// clipped to `size`; `None` if it can't be read.
    fn range(&mut self, size: u64) -> Option<(u64, u64)> {
        self.skip_spaces();
        if self.peek() == b'-' {
            self.next();
            let suffix = self.number()?;
            self.skip_spaces();
            return self
                .at_item_end()
                .then(|| (size.saturating_sub(suffix), size));
        }
        let start = self.number()?;
        self.skip_spaces();
        if self.next() != b'-' {
            return None;
        }
        self.skip_spaces();
        if self.at_item_end() {
            return Some((start, size));
        }
        let last = self.number()?;
        self.skip_spaces();
        self.at_item_end()
            .then(|| (start, last.saturating_add(1).min(size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn ten_byte_file_like_nginx() {
        // Every row was sent to nginx 1.22 for a 10-byte file.
        let cases = [
            ("bytes=1-2", Partial(vec![r(1, 3)])),
            ("Bytes=1-2", Partial(vec![r(1, 3)])),
            ("BYTES=1-2", Partial(vec![r(1, 3)])),
            ("bytes= 1 - 2 ", Partial(vec![r(1, 3)])),
            ("bytes=0-0", Partial(vec![r(0, 1)])),
            ("bytes=9-", Partial(vec![r(9, 10)])),
            ("bytes=0-9", Partial(vec![r(0, 10)])),
            ("bytes=5-100", Partial(vec![r(5, 10)])),
            ("bytes=-20", Partial(vec![r(0, 10)])),
            ("bytes=5-2,1-2", Partial(vec![r(1, 3)])),
            ("bytes=1-2,5-2", Partial(vec![r(1, 3)])),
            ("bytes=5-2,0-1", Partial(vec![r(0, 2)])),
            ("bytes=1-2 ,3-4", Partial(vec![r(1, 3), r(3, 5)])),
            ("bytes=1-2, 3-4", Partial(vec![r(1, 3), r(3, 5)])),
            ("bytes=0-0,0-0", Partial(vec![r(0, 1), r(0, 1)])),
            ("bytes=3-5,0-1", Partial(vec![r(3, 6), r(0, 2)])),
            ("bytes=0-,0-", Whole),
            ("bytes=-5,0-", Whole),
            ("bytes=0-1,0-9", Whole),
            ("bytes=", Whole),
            ("bytes =1-2", Whole),
            ("items=1-2", Whole),
            ("", Whole),
            ("bytes=abc", Unsatisfiable),
            ("bytes=1-2,", Unsatisfiable),
            ("bytes=1-2,,3-4", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=-", Unsatisfiable),
            ("bytes=5-2", Unsatisfiable),
            ("bytes=10-", Unsatisfiable),
            ("bytes=20-", Unsatisfiable),
            ("bytes=1-2x", Unsatisfiable),
            ("bytes=1-2;", Unsatisfiable),
            ("bytes=\t1-2", Unsatisfiable),
            ("bytes=9223372036854775807-", Unsatisfiable),
            ("bytes=9223372036854775808-", Unsatisfiable),
            ("bytes=99999999999999999999-", Unsatisfiable),
            ("bytes=0-99999999999999999999", Unsatisfiable),
        ];
        for (header, want) in cases {
            assert_eq!(parse(header.as_bytes(), 10), want, "{header}");
        }
    }

    #[test]
    fn empty_file_like_nginx() {
        for (header, want) in [
            ("bytes=0-0", Whole),
            ("bytes=0-", Whole),
            ("bytes=-5", Whole),
            ("bytes=-0", Whole),
            ("bytes=1-2", Unsatisfiable),
            ("bytes=1-", Unsatisfiable),
            ("bytes=abc", Unsatisfiable),
        ] {
            assert_eq!(parse(header.as_bytes(), 0), want, "{header}");
        }
    }

    #[test]
    fn odd_bytes_never_panic() {
        let max = format!("bytes={}-{}", u64::MAX, u64::MAX);
        for header in [
            &b"bytes=\xff-\xfe"[..],
            b"bytes=-9223372036854775807",
            max.as_bytes(),
        ] {
            parse(header, u64::MAX);
            parse(header, 0);
        }
        assert_eq!(
            parse(b"bytes=-9223372036854775807", MAX_OFFSET),
            Partial(vec![r(0, MAX_OFFSET)])
        );
    }

    #[test]
    fn if_range_like_nginx() {
        let etag = "\"6553f100-a\"";
        let mtime = 1_700_000_000;
        for (value, want) in [
            ("\"6553f100-a\"", true),
            ("W/\"6553f100-a\"", false),
            ("\"x\"", false),
            ("Tue, 14 Nov 2023 22:13:20 GMT", true),
            ("Mon, 14 Nov 2023 22:13:20 GMT", true),
            ("Tue, 14 Nov 2023 22:13:21 GMT", false),
            ("garbage", false),
            ("\"", false),
            ("x\"", false),
        ] {
            assert_eq!(
                if_range_holds(value.as_bytes(), etag, mtime),
                want,
                "{value}"
            );
        }
        let date = b"Tue, 14 Nov 2023 22:13:20 GMT";
        assert!(!if_range_holds(date, etag, http_time::INVALID));
    }
}
