//! Responses PHP shapes: statuses, Location, Set-Cookie order, errors, HEAD, large output.

use crate::case::{get, req, AlbFate, Case};

pub fn cases() -> Vec<Case> {
    vec![
        get("php_fatal_error", "/fatal.php"),
        get("php_parse_error", "/parse_error.php"),
        get("php_location_302", "/redirect302.php"),
        get("php_location_301", "/redirect301.php"),
        get("php_status_418", "/teapot.php"),
        get("php_status_header_reason", "/status_reason.php"),
        get("php_set_cookies_interleaved", "/cookies.php"),
        get("php_head_aware_get", "/head.php"),
        req("php_head_aware_head", "HEAD", "/head.php"),
        get("php_big_output", "/big_output.php").alb_fate(AlbFate::TooLarge),
        req("php_big_output_head", "HEAD", "/big_output.php"),
        get("php_flush", "/flush.php"),
        get("php_204", "/no_content.php"),
        get("php_default_content_type", "/header_only_type.php"),
        get("php_input_get", "/input.php"),
        get("dump_status_201", "/dump.php?status=201"),
        get("dump_status_404", "/dump.php?status=404"),
        get("dump_status_500", "/dump.php?status=500"),
        get("dump_status_unknown", "/dump.php?status=599"),
        get("dump_status_304", "/dump.php?status=304"),
        get("dump_cookies", "/dump.php?cookies=1"),
        req(
            "dump_cookies_head",
            "HEAD",
            "/dump.php?cookies=1&status=202",
        ),
        get("php_range_ignored", "/dump.php").h("Range: bytes=0-10"),
        get("php_if_none_match_ignored", "/dump.php").h("If-None-Match: \"x\""),
    ]
}
