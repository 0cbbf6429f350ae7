//! lamphp: run an ordinary PHP site through php-fpm so that a script cannot tell it is
//! not behind a carefully configured nginx + php-fpm.
//!
//! (Module map and request path: filled in as the modules land.)

pub mod body;
pub mod error_page;
pub mod fpm;
