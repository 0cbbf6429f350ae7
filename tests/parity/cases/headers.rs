//! Request headers and cookies: what becomes HTTP_* and getallheaders(), in which order.

use crate::case::{get, raw, Case, Parser};

pub fn cases() -> Vec<Case> {
    let long = format!("X-Long: {}", "v".repeat(6000));
    let too_long = format!("X-Long: {}", "v".repeat(9000));
    vec![
        get("cookie_one", "/dump.php").h("Cookie: a=1"),
        get("cookie_several", "/dump.php").h("Cookie: a=1; b=2; c=3"),
        get("cookie_two_headers", "/dump.php")
            .h("Cookie: a=1; b=2")
            .h("Cookie: c=3")
            .repeated(),
        get("cookie_three_headers_same_name", "/dump.php")
            .h("Cookie: a=1")
            .h("Cookie: a=2")
            .h("Cookie: b=3")
            .repeated(),
        get("cookie_odd_chars", "/dump.php")
            .h(r#"Cookie: a=%20x; b=x y; c="quoted"; d=1=2; e.f=3; g[h]=4; i+j=%2B"#),
        get("cookie_duplicate_name", "/dump.php").h("Cookie: a=1; a=2"),
        get("cookie_no_spaces", "/dump.php").h("Cookie: a=1;b=2;;c"),
        get("cookie_empty", "/dump.php").h("Cookie:"),
        get("cookie_utf8", "/dump.php").h(b"Cookie: n=caf\xc3\xa9; \xff=1"),
        get("header_repeated_custom", "/dump.php")
            .h("X-Custom: a")
            .h("X-Custom: b")
            .repeated(),
        get("header_repeated_interleaved", "/dump.php")
            .h("Accept: text/html")
            .h("X-Other: 1")
            .h("Accept: */*")
            .h("accept: application/json")
            .repeated(),
        get("header_underscore_xff", "/dump.php").h("X_Forwarded_For: 6.6.6.6"),
        get("header_underscore_custom", "/dump.php")
            .h("My_Header: x")
            .h("My-Header: y"),
        get("header_empty_value", "/dump.php").h("X-Empty:"),
        get("header_empty_value_space", "/dump.php").h("X-Empty: "),
        get("header_long", "/dump.php").h(long),
        get("header_too_long", "/dump.php").h(too_long),
        get("header_non_ascii", "/dump.php").h(b"X-Bytes: caf\xc3\xa9 \xff\x80 end"),
        get("header_case_mix", "/dump.php")
            .h("x-lower: 1")
            .h("X-UPPER: 2")
            .h("x-MiXeD-cAsE: 3"),
        get("header_digits", "/dump.php")
            .h("X-1-2: x")
            .h("X-A--B: y"),
        get("header_no_space", "/dump.php").h("X-Tight:value"),
        get("header_surrounding_space", "/dump.php").h("X-Trail:   value with spaces   "),
        get("header_tab", "/dump.php")
            .h("X-Tab:\tvalue\t")
            .parser(Parser::Normalizes),
        get("header_obs_fold", "/dump.php")
            .h("X-Fold: a")
            .h(" b")
            .parser(Parser::Refuses),
        get("header_space_before_colon", "/dump.php")
            .h("X-Bad : v")
            .parser(Parser::Refuses),
        get("header_invalid_name_char", "/dump.php")
            .h("X@Bad: v")
            .parser(Parser::Refuses),
        get("header_content_type_on_get", "/dump.php").h("Content-Type: text/plain"),
        get("header_browser_like", "/dump.php?x=1")
            .h("User-Agent: Mozilla/5.0 (X11; Linux x86_64) parity")
            .h("Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
            .h("Accept-Language: en-US,en;q=0.5")
            .h("Accept-Encoding: gzip, deflate, br")
            .h("Referer: http://parity.test/")
            .h("Upgrade-Insecure-Requests: 1")
            .h("Cookie: session=abc"),
        get("auth_basic", "/dump.php").h("Authorization: Basic dXNlcjpwYXNz"),
        get("auth_basic_colon_in_password", "/dump.php").h("Authorization: Basic dXNlcjpwYTpzcw=="),
        get("auth_basic_no_colon", "/dump.php").h("Authorization: Basic dXNlcg=="),
        get("auth_basic_bad_base64", "/dump.php").h("Authorization: Basic %%%notbase64"),
        get("auth_basic_lowercase_scheme", "/dump.php").h("Authorization: basic dXNlcjpwYXNz"),
        get("auth_bearer", "/dump.php").h("Authorization: Bearer abc.def.ghi"),
        get("auth_digest", "/dump.php").h(r#"Authorization: Digest username="u", realm="r""#),
        get("header_proxy", "/dump.php").h("Proxy: http://evil.test:3128"),
        get("header_x_forwarded_direct", "/dump.php")
            .h("X-Forwarded-For: 6.6.6.6")
            .h("X-Forwarded-Proto: https")
            .h("X-Forwarded-Port: 443")
            .direct_only(),
        get("header_content_length_on_get", "/dump.php").h("Content-Length: 0"),
        get("header_connection_tokens", "/dump.php")
            .h("TE: trailers")
            .h("Upgrade: websocket"),
        raw(
            "header_lf_only",
            "GET /dump.php HTTP/1.1\nHost: parity.test\nX-Lf: 1\n",
        ),
    ]
}
