//! HTTP dates the way nginx 1.22 reads and writes them.
//!
//! Conditional requests compare dates for exact equality, so a date nginx accepts and
//! we reject (or the reverse) turns a 304 into a 200. nginx's reader is lenient where
//! RFC parsers are strict — it never checks the weekday, ignores what follows the time
//! (`GMT` is optional), reads `Nxx` as November — so we follow it rather than `httpdate`.

use std::time::{Duration, UNIX_EPOCH};

/// What nginx's reader returns for an unreadable date. It is also a valid time
/// (1969-12-31 23:59:59) and nginx's marker for "no Last-Modified", and nginx compares
/// the raw values without telling these apart, so we keep them as one value too.
pub const INVALID: i64 = -1;

/// Days in each month of a common year.
const MONTH_DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// The last second nginx can print: it caps dates at 9999-12-31 23:59:59.
const LAST_PRINTABLE: u64 = 253_402_300_799;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    Rfc822,
    /// `Sunday, 06-Nov-94 08:49:37 GMT`
    Rfc850,
    /// `Sun Nov  6 08:49:37 1994`
    Asctime,
}

/// Seconds since the epoch for an HTTP date, or [`INVALID`].
pub fn parse(value: &[u8]) -> i64 {
    parse_fields(value).unwrap_or(INVALID)
}

fn parse_fields(v: &[u8]) -> Option<i64> {
    // Reading past the end yields NUL, as it does in nginx's NUL-terminated buffers;
    // a header value can't contain NUL itself, so no digit or separator test passes there.
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let digit = |i: usize| at(i).is_ascii_digit().then(|| u64::from(at(i) - b'0'));
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let four = |i: usize| Some(two(i)? * 100 + two(i + 2)?);
    let len = v.len();

    // The weekday is skipped unread, up to a comma (RFC 822/850) or a space (asctime).
    let sep = v.iter().position(|&c| c == b',' || c == b' ')?;
    let mut format = if v[sep] == b' ' {
        Format::Asctime
    } else {
        Format::Rfc822
    };
    let mut p = sep + 1;
    while at(p) == b' ' {
        p += 1;
    }
    if len < p + 18 {
        return None;
    }

    let mut day = 0;
    if format != Format::Asctime {
        day = two(p)?;
        p += 2;
        format = match at(p) {
            b' ' if len >= p + 18 => Format::Rfc822,
            b'-' => Format::Rfc850,
            _ => return None,
        };
        p += 1;
    }

    // Only the letters needed to tell months apart are looked at.
    let month: usize = match at(p) {
        b'J' if at(p + 1) == b'a' => 0,
        b'J' if at(p + 2) == b'n' => 5,
        b'J' => 6,
        b'F' => 1,
        b'M' if at(p + 2) == b'r' => 2,
        b'M' => 4,
        b'A' if at(p + 1) == b'p' => 3,
        b'A' => 7,
        b'S' => 8,
        b'O' => 9,
        b'N' => 10,
        b'D' => 11,
        _ => return None,
    };
    p += 3;
    match (format, at(p)) {
        (Format::Rfc822, b' ') | (Format::Rfc850, b'-') | (Format::Asctime, _) => p += 1,
        _ => return None,
    }

    let mut year = 0;
    match format {
        Format::Rfc822 => {
            year = four(p)?;
            p += 4;
        }
        Format::Rfc850 => {
            let yy = two(p)?;
            year = yy + if yy < 70 { 2000 } else { 1900 };
            p += 2;
        }
        Format::Asctime => {
            if at(p) == b' ' {
                p += 1;
            }
            day = digit(p)?;
            p += 1;
            if at(p) != b' ' {
                day = day * 10 + digit(p)?;
                p += 1;
            }
            if len < p + 14 {
                return None;
            }
        }
    }

    if at(p) != b' ' {
        return None;
    }
    let hour = two(p + 1)?;
    if at(p + 3) != b':' {
        return None;
    }
    let min = two(p + 4)?;
    if at(p + 6) != b':' {
        return None;
    }
    let sec = two(p + 7)?;
    if format == Format::Asctime {
        if at(p + 9) != b' ' {
            return None;
        }
        year = four(p + 10)?;
    }

    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let valid_day = if month == 1 && day == 29 {
        leap
    } else {
        day <= MONTH_DAYS[month]
    };
    if !valid_day {
        return None;
    }
    Some(seconds(
        year,
        month as u64,
        day,
        hour * 3600 + min * 60 + sec,
    ))
}

/// Gauss's day count from a year starting on March 1, in nginx's unsigned arithmetic:
/// day 00 (which nginx accepts) and year 0000 (which wraps) give the same odd values
/// they give nginx.
fn seconds(year: u64, month0: u64, day: u64, second_of_day: u64) -> i64 {
    let (year, month) = if month0 < 2 {
        (year.wrapping_sub(1), month0 + 11)
    } else {
        (year, month0 - 1)
    };
    let days = year
        .wrapping_mul(365)
        .wrapping_add(year / 4)
        .wrapping_sub(year / 100)
        .wrapping_add(year / 400)
        .wrapping_add(367 * month / 12)
        .wrapping_add(day)
        // March 1, 1 BC to January 1, 1970, and the 30 + 1 the month and day terms add
        .wrapping_sub(719_527 - 31 - 28 + 30 + 1);
    days.wrapping_mul(86_400).wrapping_add(second_of_day) as i64
}

/// `time` as nginx prints it in `Last-Modified`: times before 1970 print as the epoch
/// and times past year 9999 as its last second (nginx's gmtime clamps both).
pub fn format(time: i64) -> String {
    let secs = u64::try_from(time).unwrap_or(0).min(LAST_PRINTABLE);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT

    #[test]
    fn reads_what_nginx_reads() {
        for (text, want) in [
            ("Tue, 14 Nov 2023 22:13:20 GMT", T),
            ("Tuesday, 14-Nov-23 22:13:20 GMT", T),
            ("Tue Nov 14 22:13:20 2023", T),
            // Checked against nginx 1.22: each of these still gives a 304.
            ("Mon, 14 Nov 2023 22:13:20 GMT", T),
            ("Tue, 14 Nov 2023 22:13:20", T),
            ("Tue, 14 Nov 2023 22:13:20 XYZ", T),
            ("x, 14 Nxx 2023 22:13:20", T),
            ("Tue,   14 Nov 2023 22:13:20 GMT", T),
            ("Thu Jan  1 00:00:00 1970", 0),
            ("Sun Nov 6 08:49:37 1994", 784_111_777),
            ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
            // Two-digit years below 70 are 20xx: nginx sent a 304 for a file of this
            // mtime (2069-12-31).
            ("Wednesday, 31-Dec-69 00:00:00 GMT", 3_155_673_600),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799),
            // Day 00 is not rejected but read as the last day of the month before; nginx
            // sent a 304 for a file of this mtime (2023-11-30).
            ("Tue, 00 Dec 2023 00:00:00 GMT", 1_701_302_400),
        ] {
            assert_eq!(parse(text.as_bytes()), want, "{text}");
        }
    }

    #[test]
    fn rejects_what_nginx_rejects() {
        for text in [
            "",
            "garbage",
            "14 Nov 2023 22:13:20 GMT",
            "Tue, 14 Nov 2023 24:13:20 GMT",
            "Tue, 13 Nov 2023 46:13:20 GMT",
            "Tue, 15 Nov 2023 -2:13:20 GMT",
            "Tue, 31 Nov 2023 22:13:20 GMT",
            "Tue, 29 Feb 1900 00:00:00 GMT",
            "Tue, 14 Xov 2023 22:13:20 GMT",
            "Tue, 14 Nov 2023 22:13",
            "Tue, 14-Nov-2023 22:13:20 GMT",
            "Tue Nov 14 22:13:20",
            "Tue, 1 Nov 2023 22:13:20 GMT",
        ] {
            assert_eq!(parse(text.as_bytes()), INVALID, "{text}");
        }
    }

    #[test]
    fn survives_any_bytes() {
        for text in [
            &b"\xff\xfe, 14 Nov 2023 22:13:20"[..],
            b",",
            b" ",
            b", 00 Jan 0000 00:00:00",
            b"x Jan 99 99:99:99 9999",
            b",                  ",
        ] {
            parse(text);
        }
    }

    #[test]
    fn prints_like_nginx() {
        assert_eq!(format(T), "Tue, 14 Nov 2023 22:13:20 GMT");
        // nginx 1.22 with files touched to these times.
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(-86_401), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(15_032_385_535), "Thu, 10 May 2446 22:38:55 GMT");
        assert_eq!(format(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(format(i64::MIN), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
