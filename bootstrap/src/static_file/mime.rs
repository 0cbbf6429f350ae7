//! Content types by file extension, from the `mime.types` Debian's nginx 1.22 ships.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

/// nginx's `default_type` in the stock configuration.
pub const DEFAULT: &str = "application/octet-stream";

/// The content type nginx would send for the file at `path`.
///
/// nginx takes the extension from the URI's last segment, which for a static file is
/// the file's name: the text after its last dot, unless that dot starts the name
/// (`.htaccess` has none). Only ASCII letters are folded to lower case, as in nginx.
pub fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    let ext = match name.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => &name[dot + 1..],
        _ => return DEFAULT,
    };
    std::str::from_utf8(ext)
        .ok()
        .and_then(|ext| table().get(&ext.to_ascii_lowercase()))
        .copied()
        .unwrap_or(DEFAULT)
}

fn table() -> &'static HashMap<String, &'static str> {
    static TABLE: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| parse(include_str!("mime.types")))
}

/// Reads nginx's `types { type ext ...; }` block. As in nginx, a later entry for an
/// extension replaces an earlier one.
fn parse(conf: &'static str) -> HashMap<String, &'static str> {
    let mut map = HashMap::new();
    let mut words: Vec<&'static str> = Vec::new();
    for line in conf.lines() {
        let code = line.split('#').next().unwrap_or("");
        for piece in code.split_inclusive([';', '{', '}']) {
            if let Some(text) = piece.strip_suffix(';') {
                words.extend(text.split_whitespace());
                if let Some((mime, exts)) = words.split_first() {
                    for ext in exts {
                        map.insert(ext.to_ascii_lowercase(), *mime);
                    }
                }
                words.clear();
            } else if piece.ends_with(['{', '}']) {
                // `types {` opens the block and `}` closes it: neither is an entry.
                words.clear();
            } else {
                words.extend(piece.split_whitespace());
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn types_follow_nginx() {
        // Each checked against nginx 1.22 serving a file of that name.
        for (name, want) in [
            ("hello.txt", "text/plain"),
            ("UPPER.TXT", "text/plain"),
            ("a.Html", "text/html"),
            ("x.JPG", "image/jpeg"),
            ("style.css", "text/css"),
            ("app.js", "application/javascript"),
            ("a.tar.gz", DEFAULT),
            ("noext", DEFAULT),
            (".htaccess", DEFAULT),
            ("dir.js.", DEFAULT),
            ("..txt", "text/plain"),
        ] {
            assert_eq!(
                content_type(Path::new("/srv/www").join(name).as_path()),
                want
            );
        }
    }

    #[test]
    fn non_utf8_names_get_the_default() {
        use std::ffi::OsStr;
        let name = OsStr::from_bytes(b"caf\xe9.t\xefxt");
        assert_eq!(content_type(Path::new(name)), DEFAULT);
        let name = OsStr::from_bytes(b"caf\xe9.txt");
        assert_eq!(content_type(Path::new(name)), "text/plain");
    }

    #[test]
    fn every_type_is_a_valid_header_value() {
        let table = table();
        assert!(
            table.len() > 100,
            "mime.types read only {} entries",
            table.len()
        );
        for mime in table.values() {
            HeaderValue::from_static(mime);
        }
    }

    #[test]
    fn later_entries_win_and_comments_are_skipped() {
        let map = parse("types {\n  a/b x # c/d z;\n  Y;\n  e/f\n x;\n}\n");
        assert_eq!(map.get("x"), Some(&"e/f"));
        assert_eq!(map.get("y"), Some(&"a/b"));
        assert_eq!(map.get("z"), None);
    }
}
