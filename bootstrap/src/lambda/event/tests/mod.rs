//! Table tests: the fixtures under `tests/fixtures/events/` (AWS's documented examples
//! and our own), refusals, and encoded answers.

mod decode;
mod encode;
mod query;
mod refuse;

use crate::request::RequestBody;
use futures_util::FutureExt;
use http::HeaderMap;
use http_body_util::BodyExt;

pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A body decoded from an event is whole, so it is ready at once.
pub(super) fn body_bytes(body: RequestBody) -> Vec<u8> {
    body.collect()
        .now_or_never()
        .expect("an event's body is complete")
        .expect("an event's body cannot fail")
        .to_bytes()
        .to_vec()
}

pub(super) fn header_lines(headers: &HeaderMap) -> Vec<String> {
    headers
        .iter()
        .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}
