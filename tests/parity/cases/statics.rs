//! Static files: types, conditional requests, ranges, HEAD, methods nginx refuses.

use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::case::{get, req, AlbFate, Case};

/// nginx's ETag and Last-Modified for a docroot file: `"<mtime hex>-<size hex>"`.
fn validators(root: &Path, file: &str) -> (String, String) {
    let meta = std::fs::metadata(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mtime = meta.modified().expect("mtime");
    let secs = mtime
        .duration_since(UNIX_EPOCH)
        .expect("mtime after 1970")
        .as_secs();
    (
        format!("\"{secs:x}-{:x}\"", meta.len()),
        httpdate::fmt_http_date(mtime),
    )
}

pub fn cases(root: &Path) -> Vec<Case> {
    let (etag, modified) = validators(root, "hello.txt");
    let (big_etag, _) = validators(root, "big.bin");
    let mut cases: Vec<Case> = [
        "/hello.txt",
        "/page.html",
        "/static/style.css",
        "/static/app.js",
        "/static/data.json",
        "/static/icon.svg",
        "/static/pixel.png",
        "/static/photo.jpg",
        "/static/README",
        "/static/NOTES.TXT",
        "/empty.txt",
        "/big.bin",
        "/onlyhtml/index.html",
        "/hello.txt?v=123",
    ]
    .iter()
    .map(|path| {
        let name = path
            .trim_start_matches('/')
            .replace(['/', '.', '?', '='], "_");
        let case = get(&format!("static_{name}"), path);
        match *path == "/big.bin" {
            true => case.alb_fate(AlbFate::TooLarge),
            false => case,
        }
    })
    .collect();
    cases.extend([
        req("static_head", "HEAD", "/hello.txt"),
        req("static_head_big", "HEAD", "/big.bin"),
        req("static_options", "OPTIONS", "/hello.txt"),
        get("static_if_none_match", "/hello.txt")
            .h(format!("If-None-Match: {etag}"))
            .status(304),
        get("static_if_none_match_weak", "/hello.txt").h(format!("If-None-Match: W/{etag}")),
        get("static_if_none_match_list", "/hello.txt")
            .h(format!("If-None-Match: \"nope\", {etag}")),
        get("static_if_none_match_star", "/hello.txt").h("If-None-Match: *"),
        get("static_if_none_match_other", "/hello.txt").h("If-None-Match: \"nope\""),
        get("static_if_modified_since", "/hello.txt")
            .h(format!("If-Modified-Since: {modified}"))
            .status(304),
        get("static_if_modified_since_old", "/hello.txt")
            .h("If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT"),
        get("static_if_modified_since_future", "/hello.txt")
            .h("If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT"),
        get("static_if_modified_since_garbage", "/hello.txt").h("If-Modified-Since: yesterday"),
        get("static_both_conditions_etag_wins", "/hello.txt")
            .h("If-None-Match: \"nope\"")
            .h(format!("If-Modified-Since: {modified}")),
        get("static_if_match_wrong", "/hello.txt").h("If-Match: \"nope\""),
        get("static_if_unmodified_since_old", "/hello.txt")
            .h("If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT"),
        get("static_range_single", "/hello.txt")
            .h("Range: bytes=0-4")
            .status(206),
        get("static_range_suffix", "/hello.txt").h("Range: bytes=-5"),
        get("static_range_open_ended", "/hello.txt").h("Range: bytes=3-"),
        get("static_range_past_end", "/hello.txt").h("Range: bytes=5-1000"),
        get("static_range_unsatisfiable", "/hello.txt")
            .h("Range: bytes=1000-2000")
            .status(416),
        get("static_range_malformed", "/hello.txt").h("Range: bytes=abc"),
        get("static_range_reversed", "/hello.txt").h("Range: bytes=5-2"),
        get("static_range_wrong_unit", "/hello.txt").h("Range: items=0-1"),
        get("static_range_big_middle", "/big.bin").h("Range: bytes=1000000-1000099"),
        get("static_range_big_tail", "/big.bin").h("Range: bytes=-100"),
        get("static_if_range_match", "/big.bin")
            .h("Range: bytes=0-9")
            .h(format!("If-Range: {big_etag}")),
        get("static_if_range_mismatch", "/big.bin")
            .h("Range: bytes=0-9")
            .h("If-Range: \"nope\"")
            .alb_fate(AlbFate::TooLarge),
        req("static_head_range", "HEAD", "/hello.txt").h("Range: bytes=0-4"),
        req("static_post_dir_index_html", "POST", "/onlyhtml/").body("a=1"),
        req("static_patch", "PATCH", "/static/data.json").body("{}"),
    ]);
    cases
}
