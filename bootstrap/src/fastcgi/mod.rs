//! A FastCGI client for php-fpm.
//!
//! Written here rather than taken from the `fastcgi-client` crate, which stores params
//! in a `HashMap` of `str` (PHP would see them reordered, and raw non-UTF-8 bytes in a
//! query string or header could not be sent at all) and cuts the encoded params into
//! records at arbitrary byte offsets, which php-fpm rejects once a request's params
//! outgrow one record. `record` is the pure wire format; `client` drives connections.

pub mod client;
pub mod record;

pub use client::{Client, Exchange, FastCgiError};
