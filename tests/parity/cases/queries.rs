//! Query strings: PHP must see the client's bytes in QUERY_STRING/REQUEST_URI and parse
//! $_GET from them exactly as behind nginx.

use crate::case::{get, Case, Parser};

pub fn cases() -> Vec<Case> {
    let long = format!("/dump.php?long={}", "x".repeat(6000));
    let too_long = format!("/dump.php?long={}", "x".repeat(9000));
    vec![
        get("query_none", "/dump.php"),
        get("query_empty", "/dump.php?"),
        get("query_flag_only", "/dump.php?a"),
        get("query_repeated_key", "/dump.php?a=1&a=2"),
        get("query_array", "/dump.php?a[]=1&a[]=2"),
        get("query_nested_array", "/dump.php?a[b][c]=1&a[b][d]=2"),
        get("query_encoded_brackets", "/dump.php?a%5B%5D=1&a%5B%5D=2"),
        get("query_pct20", "/dump.php?q=a%20b"),
        get("query_plus", "/dump.php?q=a+b"),
        get("query_pct2b", "/dump.php?q=a%2Bb"),
        get("query_pct26", "/dump.php?q=a%26b&r=1"),
        get(
            "query_raw_utf8",
            b"/dump.php?q=\xc3\xa9t\xc3\xa9&\xe2\x82\xac=1",
        ),
        get("query_pct_utf8", "/dump.php?q=%C3%A9t%C3%A9"),
        get("query_pct_ff", "/dump.php?q=%FF&r=%fe"),
        get("query_bad_pct", "/dump.php?q=%zz&r=%&s=%4"),
        get("query_long", long),
        get("query_too_long", too_long),
        get("query_semicolons", "/dump.php?a=1;b=2&c=3"),
        get(
            "query_dots_spaces_in_names",
            "/dump.php?a.b=1&c+d=2&e%20f=3&g[h.i]=4",
        ),
        get("query_equals_in_value", "/dump.php?a==b=c&d="),
        get("query_empty_names", "/dump.php?=1&&b=&=&"),
        get("query_question_mark", "/dump.php?a=?b?&c"),
        get("query_slashes", "/dump.php?path=/a/b/../c&u=http://x.test/"),
        get("query_hash_raw", "/dump.php?a=1#frag").parser(Parser::Normalizes),
        get("query_pct23", "/dump.php?a=1%23frag"),
        get("query_unbalanced_bracket", "/dump.php?a[=1&b]=2&c[d=3"),
        get("query_front_controller", "/some/route?x=1&y[]=2"),
        get("query_front_controller_empty", "/some/route?"),
        get("query_index_php_extra", "/index.php/extra/path?x=1"),
        get("query_mixed_case_pct", "/dump.php?%41=%61&b=%2f%2F"),
    ]
}
