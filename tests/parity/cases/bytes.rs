//! Bytes that are not UTF-8 (Latin-1 text, raw 8-bit bytes) wherever a request carries
//! them: headers, cookies, the query, the path, form and multipart bodies. dump.php shows
//! such strings in hex, so a byte replaced or dropped on the way is a difference.

use crate::case::{get, req, Case, Parser};

const FORM_TYPE: &str = "Content-Type: application/x-www-form-urlencoded";

/// Every byte from 0x80 to 0xff: what RFC 9110 calls obs-text, which a header value
/// may hold.
fn high_bytes() -> Vec<u8> {
    (0x80..=0xffu8).collect()
}

fn with(prefix: &[u8], bytes: &[u8]) -> Vec<u8> {
    [prefix, bytes].concat()
}

pub fn cases() -> Vec<Case> {
    let multipart_type = "Content-Type: multipart/form-data; boundary=b8";
    let multipart = b"--b8\r\nContent-Disposition: form-data; name=\"caf\xe9\"\r\n\r\nna\xefve \xff\r\n--b8\r\nContent-Disposition: form-data; name=\"f\"; filename=\"r\xe9sum\xe9.txt\"\r\nContent-Type: text/plain\r\n\r\n\xe9t\xe9\r\n--b8--\r\n";
    vec![
        get("bytes_header_latin1", "/dump.php").h(b"X-Latin: caf\xe9 na\xefve"),
        get("bytes_header_all_high", "/dump.php").h(with(b"X-High: ", &high_bytes())),
        get("bytes_user_agent_latin1", "/dump.php")
            .h(b"User-Agent: Navigateur/1.0 (\xc9dition fran\xe7aise)"),
        get("bytes_cookie_latin1", "/dump.php").h(b"Cookie: name=Jos\xe9; \xe9t\xe9=\xfc; plain=1"),
        get("bytes_cookie_all_high", "/dump.php").h(with(b"Cookie: k=", &high_bytes())),
        get("bytes_auth_basic_latin1", "/dump.php").h("Authorization: Basic am9z6TpwYXNz"),
        get(
            "bytes_query_raw_latin1",
            b"/dump.php?q=caf\xe9&\xe9=1&r=\xff\x80",
        )
        .parser(Parser::Refuses),
        get(
            "bytes_query_pct_latin1",
            "/dump.php?q=caf%E9&%E9t%E9=%FC&a[%FF]=1",
        ),
        get("bytes_path_raw_latin1", b"/caf\xe9/x?y=\xe9").parser(Parser::Refuses),
        get("bytes_path_pct_latin1", "/caf%E9/na%EFve.php/%FF"),
        req("bytes_form_pct_latin1", "POST", "/dump.php")
            .h(FORM_TYPE)
            .body("a=caf%E9&%E9t%E9=%FC&b[%FF]=1"),
        req("bytes_form_raw_latin1", "POST", "/dump.php")
            .h(FORM_TYPE)
            .body(b"a=caf\xe9&\xe9t\xe9=\xfc\xff".to_vec()),
        req("bytes_form_latin1_charset", "POST", "/dump.php")
            .h(format!("{FORM_TYPE}; charset=ISO-8859-1"))
            .body("a=caf%E9"),
        req("bytes_multipart_latin1", "POST", "/dump.php")
            .h(multipart_type)
            .body(multipart.to_vec()),
        req("bytes_body_echo_high", "POST", "/input.php")
            .h("Content-Type: text/plain; charset=ISO-8859-1")
            .body(high_bytes()),
    ]
}
