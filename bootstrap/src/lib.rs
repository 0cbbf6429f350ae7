//! lamphp runs an ordinary PHP site through php-fpm so that a script cannot tell it is
//! not behind a carefully configured nginx + php-fpm.
//!
//! # A request's path
//!
//! ```text
//!  HTTP/1.1 (serve) ──> serve (sites) ──┐
//!  Lambda event (Runtime API) ─> lambda ─┼─> Request ─> app ─> uri ─> router ──┬─> static_file
//!    (bootstrap local: an ALB   (event)  │   (request,                         ├─> 301/403/404/405 (error_page)
//!     or Function URL emulator           │    origin)                          └─> cgi::params ─> fastcgi ─> php-fpm
//!     in front of it)                    │
//!  Response <────── front door encodes ──┴── (HTTP/1.1; or ALB/API GW JSON, fit to 1 MB) <── cgi::response
//! ```
//!
//! # Modules, in the order a request meets them
//!
//! - [`serve`]: the HTTP/1.1 front door (hyper); turns a connection's requests into
//!   [`request::Request`]s, hands each to the site its host names ([`sites`]: nginx's
//!   `server_name` rules, and how each site's PHP is kept to its own files) and writes the
//!   responses back, streaming, each logged once sent ([`access_log`]); answers the
//!   [`health`] check itself, and drains on SIGTERM.
//! - [`lambda`]: the Lambda front door: init ([`lambda::config`], [`lambda::init_error`]),
//!   the Runtime API loop (`lambda_runtime`), events in and out ([`lambda::event`]), the
//!   deadline ([`lambda::deadline`]), and the ALB's 1 MB ([`lambda::fit`], with
//!   [`lambda::shrink`] and [`lambda::offload`]); [`lambda::invocation`] ties them up;
//!   [`lambda::stream`] posts streamed answers (`LAMPHP_RESPONSE_MODE=streaming`) itself.
//! - [`local`]: `bootstrap local`: builds ALB events from HTTP ([`local::alb`]), or a
//!   Function URL's ([`local::function_url`], which also relays streamed answers as they
//!   arrive), and serves them to sandboxes of this binary's own Lambda loop
//!   ([`local::sandbox`]) through one Runtime API endpoint that takes their concurrent
//!   polls and streamed responses ([`local::runtime_api`]).
//! - [`request`]: the front-door-neutral request: raw path and query, headers in
//!   order, `$host`; malformed requests are refused here with a 400.
//! - [`origin`]: REMOTE_ADDR, SERVER_PORT, REQUEST_SCHEME, HTTPS: from the socket, or from
//!   a trusted proxy's X-Forwarded-* headers as the reference's ALB server derives them.
//! - [`app`]: the core: normalises, routes, and answers with a file, a redirect, an error
//!   page or PHP's response.
//! - [`uri`]: nginx's `$uri`: percent-decoding, slash merging, dot segments; traversal is
//!   refused here.
//! - [`router`]: the reference's nginx `location`/`try_files`/`index` rules as a pure
//!   function over a [`router::Docroot`]; [`docroot`] is the one on disk.
//! - [`static_file`]: files as nginx's static module sends them (MIME types, ETag,
//!   conditional and range requests, streamed).
//! - [`cgi`]: pure: the FastCGI params PHP receives ([`cgi::params()`]) and the parsing of
//!   the CGI response head ([`cgi::response`]).
//! - [`fastcgi`]: the wire format ([`fastcgi::record`]) and the pooled keep-alive client
//!   ([`fastcgi::client`]).
//! - [`fpm`]: supervises PHP's FastCGI server, php-fpm or php-cgi ([`fpm::Backend`]):
//!   finds it, configures it, starts it, restarts it when it dies, drains its logs, stops it,
//!   and kills the worker of a request that timed out ([`fpm::Pool::stop_worker`]: php-cgi's
//!   in `serve`, any on Lambda Managed Instances).
//! - [`php`]: PHP started the same way in every mode: the session service, php-fpm with
//!   its ini, the client.
//! - [`error_page`]: nginx's pages and status lines; [`body`]: the response body type.
//! - [`sessions`]: PHP sessions in DynamoDB (`LAMPHP_SESSION_TABLE`): a Unix socket the
//!   PHP session handler prepended to every script talks to, locks with a lease.
//! - [`aws`]: the S3, DynamoDB and SES calls the above make, signed with `aws-sigv4`,
//!   over a small HTTPS client ([`aws::http`]); credentials from the environment or ECS.
//! - [`mail`]: `bootstrap sendmail`, PHP's `sendmail_path` with `LAMPHP_MAIL=ses`:
//!   `mail()`'s message through SES v2 SendEmail, as sendmail would send it.
//! - [`release`]: site releases on EFS (`LAMPHP_RELEASE`): the unpack and prune commands
//!   the release command (`lamphp`, the `release/` crate) invokes the function with, in
//!   the wire format both share (`lamphp_protocol`, the `protocol/` crate); a release's PHP
//!   compiled as it is unpacked, which PHP serving it starts with ([`release::opcache`]).
//! - [`logging`], [`signals`]: process plumbing for the binary.

pub mod access_log;
pub mod app;
pub mod aws;
pub mod body;
pub mod cgi;
pub mod docroot;
pub mod error_page;
pub mod fastcgi;
pub mod fpm;
pub mod health;
pub mod lambda;
pub mod local;
pub mod logging;
pub mod mail;
pub mod origin;
pub mod php;
pub mod release;
pub mod request;
pub mod router;
pub mod serve;
pub mod sessions;
pub mod signals;
pub mod sites;
pub mod static_file;
pub mod uri;
