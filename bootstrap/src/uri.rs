//! nginx's `$uri`: the request path percent-decoded and normalised.
//!
//! nginx decodes `%XX` escapes (a decoded `/` is a separator like any other, a decoded
//! `%` is not decoded again), merges repeated slashes (`merge_slashes on`), drops `.`
//! segments and resolves `..` segments; a `..` above the root, a NUL byte or a broken
//! escape is a 400. Everything the router and SCRIPT_NAME / PATH_INFO see starts here,
//! so this is the one place where traversal is refused.

use thiserror::Error;

/// Why a request path cannot be normalised; each one is a 400 in nginx.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BadPath {
    #[error("request path does not start with '/'")]
    NotAbsolute,
    #[error("request path has a malformed %-escape")]
    BadEscape,
    #[error("request path contains a NUL byte")]
    Nul,
    #[error("request path climbs above the document root")]
    AboveRoot,
}

/// Normalise the raw (still percent-encoded) request path into nginx's `$uri`.
pub fn normalize(raw: &[u8]) -> Result<Vec<u8>, BadPath> {
    if raw.first() != Some(&b'/') {
        return Err(BadPath::NotAbsolute);
    }
    let decoded = percent_decode(raw)?;
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split(|&b| b == b'/').skip(1) {
        trailing_slash = matches!(segment, b"" | b"." | b"..");
        match segment {
            b"" | b"." => {}
            b".." => {
                segments.pop().ok_or(BadPath::AboveRoot)?;
            }
            _ => segments.push(segment),
        }
    }
    let mut uri = Vec::with_capacity(decoded.len());
    for segment in &segments {
        uri.push(b'/');
        uri.extend_from_slice(segment);
    }
    if trailing_slash || segments.is_empty() {
        uri.push(b'/');
    }
    Ok(uri)
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, BadPath> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        let byte = if b == b'%' {
            let hi = bytes.next().and_then(|&h| hex(h));
            let lo = bytes.next().and_then(|&l| hex(l));
            match (hi, lo) {
                (Some(hi), Some(lo)) => (hi << 4) | lo,
                _ => return Err(BadPath::BadEscape),
            }
        } else {
            b
        };
        if byte == 0 {
            return Err(BadPath::Nul);
        }
        out.push(byte);
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_nginx() {
        // Each pair was checked against the reference nginx (`$document_uri`, or the
        // file it served).
        let table: &[(&str, &str)] = &[
            ("/", "/"),
            ("/index.php", "/index.php"),
            ("//sub", "/sub"),
            ("/sub//", "/sub/"),
            ("/a%2fb", "/a/b"),
            ("/sub%2f", "/sub/"),
            ("/sub/.%2e/hello.txt", "/hello.txt"),
            ("/a%25b", "/a%b"),
            ("/a%2525", "/a%25"),
            ("/./x", "/x"),
            ("/x/.", "/x/"),
            ("/x/y/..", "/x/"),
            ("/x/..", "/"),
            ("/x/..y", "/x/..y"),
            ("/a\\..\\b", "/a\\..\\b"),
            ("/caf%C3%A9", "/caf\u{e9}"),
        ];
        for (raw, want) in table {
            let got = normalize(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(String::from_utf8_lossy(&got), *want, "{raw}");
        }
    }

    #[test]
    fn refuses_what_nginx_answers_with_400() {
        let table: &[(&str, BadPath)] = &[
            ("/..", BadPath::AboveRoot),
            ("/../x", BadPath::AboveRoot),
            ("/%2e%2e/x", BadPath::AboveRoot),
            ("/a/%2E%2E/..", BadPath::AboveRoot),
            ("/a%00b", BadPath::Nul),
            ("/a%zzb", BadPath::BadEscape),
            ("/a%4zb", BadPath::BadEscape),
            ("/a%4", BadPath::BadEscape),
            ("x", BadPath::NotAbsolute),
            ("", BadPath::NotAbsolute),
        ];
        for (raw, want) in table {
            assert_eq!(normalize(raw.as_bytes()).as_ref(), Err(want), "{raw}");
        }
    }

    #[test]
    fn keeps_non_utf8_bytes() {
        assert_eq!(normalize(b"/%FF").unwrap(), b"/\xff");
    }
}
