//! The CGI side of FastCGI, pure: the parameters php-fpm receives for a request, and the
//! parsing of the CGI response head php-fpm sends back. No sockets, no files.

pub mod params;
pub mod response;

pub use params::{params, Params, Script};
pub use response::{parse_head, CgiHead, HeadError};
