//! The case table, split by topic. Each row is one request: a name, the raw request (or
//! the small builder in `case.rs`), the modes it runs in and its flags.

mod bodies;
mod bytes;
mod headers;
mod host;
mod keepalive;
mod methods;
mod paths;
mod proxy;
mod queries;
mod scripts;
mod statics;

use std::path::Path;

use crate::case::Case;

pub use keepalive::conversations;

pub fn all(root: &Path) -> Vec<Case> {
    [
        queries::cases(),
        paths::cases(),
        methods::cases(),
        bodies::cases(),
        bytes::cases(),
        headers::cases(),
        host::cases(),
        scripts::cases(),
        statics::cases(root),
        proxy::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
