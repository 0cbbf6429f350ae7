//! TEMPORARY stub until the static module lands.
use crate::body::Body;
pub async fn serve(path: &std::path::Path, _m: &http::Method, _h: &http::HeaderMap) -> http::Response<Body> {
    http::Response::new(crate::body::full(std::fs::read(path).unwrap_or_default()))
}
