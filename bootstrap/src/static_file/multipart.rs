//! The `multipart/byteranges` body nginx 1.22 sends for a request with several ranges.
//!
//! nginx numbers boundaries with a process-wide counter (shared with its temporary file
//! names), printed as 20 zero-padded digits. Ours counts from 1 as a fresh nginx does,
//! so only the boundary's digits can differ from nginx's, and only on a long-running
//! server.

use super::range::ByteRange;
use super::Part;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

static LAST_BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// The next boundary number.
pub fn next_boundary() -> u64 {
    LAST_BOUNDARY
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1)
}

/// A laid-out multipart body.
#[derive(Debug, PartialEq, Eq)]
pub struct Multipart {
    pub content_type: String,
    pub content_length: u64,
    pub parts: Vec<Part>,
}

/// Lays out `ranges` of a file of `size` bytes whose own type is `content_type`.
///
/// Each range is `CRLF --boundary CRLF Content-Type CRLF Content-Range CRLF CRLF data`,
/// and the body ends with `CRLF --boundary-- CRLF`.
pub fn layout(ranges: &[ByteRange], size: u64, content_type: &str, boundary: u64) -> Multipart {
    let head =
        format!("\r\n--{boundary:020}\r\nContent-Type: {content_type}\r\nContent-Range: bytes ");
    let tail = format!("\r\n--{boundary:020}--\r\n");
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut content_length = tail.len() as u64;
    for range in ranges {
        let header = format!("{head}{}-{}/{size}\r\n\r\n", range.start, range.end - 1);
        let len = range.end - range.start;
        content_length = content_length
            .saturating_add(header.len() as u64)
            .saturating_add(len);
        parts.push(Part::Bytes(Bytes::from(header)));
        parts.push(Part::File {
            start: range.start,
            len,
        });
    }
    parts.push(Part::Bytes(Bytes::from(tail)));
    Multipart {
        content_type: format!("multipart/byteranges; boundary={boundary:020}"),
        content_length,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a layout against the file's bytes.
    fn render(parts: &[Part], file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            match part {
                Part::Bytes(bytes) => out.extend_from_slice(bytes),
                Part::File { start, len } => {
                    out.extend_from_slice(&file[*start as usize..(*start + *len) as usize])
                }
            }
        }
        out
    }

    #[test]
    fn body_is_nginx_byte_for_byte() {
        // nginx 1.22's body for `Range: bytes=1-2,4-5` on a 10-byte text file, as the
        // second multipart response after its start.
        let nginx = "\r\n--00000000000000000002\r\nContent-Type: text/plain\r\n\
                     Content-Range: bytes 1-2/10\r\n\r\n12\
                     \r\n--00000000000000000002\r\nContent-Type: text/plain\r\n\
                     Content-Range: bytes 4-5/10\r\n\r\n45\
                     \r\n--00000000000000000002--\r\n";
        let ranges = [
            ByteRange { start: 1, end: 3 },
            ByteRange { start: 4, end: 6 },
        ];
        let laid = layout(&ranges, 10, "text/plain", 2);
        assert_eq!(
            laid.content_type,
            "multipart/byteranges; boundary=00000000000000000002"
        );
        assert_eq!(laid.content_length, 198);
        assert_eq!(render(&laid.parts, b"0123456789"), nginx.as_bytes());
    }

    #[test]
    fn lengths_add_up() {
        // nginx's Content-Length for `bytes=3-5,0-1` and for ten one-byte ranges.
        let two = [
            ByteRange { start: 3, end: 6 },
            ByteRange { start: 0, end: 2 },
        ];
        let ten: Vec<_> = (0..10)
            .map(|i| ByteRange {
                start: i,
                end: i + 1,
            })
            .collect();
        for (ranges, want) in [(&two[..], 199), (&ten[..], 868)] {
            let laid = layout(ranges, 10, "text/plain", 7);
            assert_eq!(laid.content_length, want);
            let body = render(&laid.parts, b"0123456789");
            assert_eq!(body.len() as u64, want);
        }
    }

    #[test]
    fn boundaries_count_up() {
        let first = next_boundary();
        assert!(next_boundary() > first);
    }
}
