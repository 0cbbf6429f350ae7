//! `lamphp`, the release command: site code on EFS in immutable release directories,
//! staging = the function's `$LATEST`, production = its `live` alias.
//!
//! - [`bundle`]: a site directory as a reproducible `.tar.gz`, and its content-derived id.
//! - [`deploy`]: upload it, have the function unpack it (its `unpack` command), point
//!   `$LATEST` at it with `LAMPHP_RELEASE`.
//! - [`promote`]: publish `$LATEST` as a version and move `live` (at once, or as a
//!   canary), or move it back; [`live`] is the pure plan of where `live` goes.
//! - [`status`]: what each host serves; [`prune`]: delete releases nothing refers to.
//! - [`function`]: the function's configurations and invocations; [`aws`]: the clients.

pub mod aws;
pub mod bundle;
pub mod deploy;
pub mod function;
pub mod live;
pub mod promote;
pub mod prune;
pub mod status;
