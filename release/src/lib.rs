//! `lamphp`, the release command: site code on EFS in immutable release directories,
//! staging = the function's `$LATEST`, production = its `live` alias; with ECS
//! (`--cluster`), also staging = the staging service, production = the production
//! service, each running a revision of one task definition family whose container
//! `php` names the release. The function is always there: it unpacks releases.
//!
//! - [`bundle`]: a site directory as a reproducible `.tar.gz`, and its content-derived id.
//! - [`deploy`]: upload it, have the function unpack it (its `unpack` command), point
//!   `$LATEST` at it with `LAMPHP_RELEASE` (and the staging service at a new revision).
//! - [`promote`]: publish `$LATEST` as a version and move `live` (at once, or as a
//!   canary), or move it back; [`live`] is the pure plan of where `live` goes; the
//!   production service moves to the staging service's revision, or back, as the pure
//!   [`ecs`] plans it (which also builds the revision a deploy registers).
//! - [`status`]: what each host serves; [`prune`]: delete releases nothing refers to.
//! - [`function`]: the function's configurations and invocations; [`service`]: the ECS
//!   services and task definitions; [`aws`]: the clients.

pub mod aws;
pub mod bundle;
pub mod deploy;
pub mod ecs;
pub mod function;
pub mod live;
pub mod promote;
pub mod prune;
pub mod service;
pub mod status;
