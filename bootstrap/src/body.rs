//! The one response body type every front door consumes.
//!
//! PHP output and static files are streamed, never collected, so the body is a boxed
//! stream of frames; small bodies (error pages, redirects) are built with [`full`].

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// A streamed response body. Errors are I/O errors from the file or php-fpm side;
/// a front door that meets one aborts the response (the client sees a cut-off body,
/// as it would from nginx when the upstream dies mid-response).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A body holding `bytes` in full.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body with no bytes.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// An empty body that does not announce its length. For a body that announces 0, hyper
/// writes its own `Content-Length: 0` after the other headers; one that just ends leaves
/// a Content-Length the response already has where nginx would put it.
pub fn ended() -> Body {
    let nothing = futures_util::stream::empty::<Result<http_body::Frame<Bytes>, std::io::Error>>();
    http_body_util::StreamBody::new(nothing).boxed_unsync()
}
