//! Where a request goes: the reference's nginx `server` block, as a pure function.
//!
//! ```nginx
//! index index.php index.html;
//! location ~ /\. { return 404; }
//! location / { try_files $uri $uri/ /index.php?$query_string; }
//! location ~ [^/]\.php(/|$) {
//!     fastcgi_split_path_info ^(.+?\.php)(/.*)$;
//!     try_files $fastcgi_script_name =404;
//!     ...
//! }
//! ```
//!
//! The file system is asked only "is this a file, a directory, or nothing?" through
//! [`Docroot`], so the whole decision is table-tested without touching a disk. The query
//! string never changes on the way: every internal redirect above keeps `$args`.

use http::Method;

/// What the router needs to know about a path under the document root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Missing,
}

/// The document root as the router sees it. `uri` is a normalised `$uri` (see
/// [`crate::uri`]); implementations resolve it under their root.
pub trait Docroot {
    fn kind(&self, uri: &[u8]) -> Kind;
}

/// The router's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Run `script_name` through php-fpm. nginx's `try_files $fastcgi_script_name`
    /// rewrites `$uri`, so DOCUMENT_URI is the script name as well.
    Php {
        script_name: Vec<u8>,
        path_info: Vec<u8>,
    },
    /// Serve the file at `uri` as it is.
    Static {
        uri: Vec<u8>,
    },
    /// A directory asked for without its trailing slash: 301 to `uri` + `/`.
    AddSlash {
        uri: Vec<u8>,
    },
    /// A directory with no index file (nginx: "directory index is forbidden").
    Forbidden,
    NotFound,
    /// nginx's index and static modules handle only GET, HEAD and POST.
    MethodNotAllowed,
}

const INDEX: [&[u8]; 2] = [b"index.php", b"index.html"];
const FRONT_CONTROLLER: &[u8] = b"/index.php";
/// nginx gives up after 10 internal redirects; ours can take at most three.
const MAX_REDIRECTS: usize = 10;

/// Route the normalised `uri` of a request with `method`.
pub fn route(uri: &[u8], method: &Method, root: &impl Docroot) -> Route {
    let static_method = matches!(*method, Method::GET | Method::HEAD | Method::POST);
    let mut uri = uri.to_vec();
    for _ in 0..MAX_REDIRECTS {
        match step(&uri, static_method, root) {
            Step::Done(route) => return route,
            Step::Redirect(next) => uri = next,
        }
    }
    Route::NotFound
}

enum Step {
    Done(Route),
    /// An internal redirect to another `$uri` (index file, front controller).
    Redirect(Vec<u8>),
}

fn step(uri: &[u8], static_method: bool, root: &impl Docroot) -> Step {
    if contains(uri, b"/.") {
        return Step::Done(Route::NotFound);
    }
    if is_php_location(uri) {
        let (script_name, path_info) = split_path_info(uri);
        return Step::Done(match root.kind(script_name) {
            Kind::File => Route::Php {
                script_name: script_name.to_vec(),
                path_info: path_info.to_vec(),
            },
            _ => Route::NotFound,
        });
    }
    // try_files $uri $uri/: `$uri` only matches a file (a trailing slash makes it a
    // directory lookup), `$uri/` only a directory.
    // The static module's methods are checked before anything else it does; a file
    // asked for with another method is left to it (it answers 405 too).
    let ends_in_slash = uri.last() == Some(&b'/');
    match root.kind(uri) {
        Kind::File if !ends_in_slash => Step::Done(Route::Static { uri: uri.to_vec() }),
        Kind::Dir if !static_method => Step::Done(Route::MethodNotAllowed),
        Kind::Dir if ends_in_slash => index(uri, root),
        Kind::Dir => Step::Done(Route::AddSlash { uri: uri.to_vec() }),
        _ => Step::Redirect(FRONT_CONTROLLER.to_vec()),
    }
}

fn index(dir: &[u8], root: &impl Docroot) -> Step {
    INDEX
        .iter()
        .map(|name| [dir, name].concat())
        .find(|candidate| root.kind(candidate) == Kind::File)
        .map_or(Step::Done(Route::Forbidden), Step::Redirect)
}

/// `location ~ [^/]\.php(/|$)`. PCRE's `$` also matches before a final newline.
fn is_php_location(uri: &[u8]) -> bool {
    (1..uri.len()).any(|i| {
        uri[i..].starts_with(b".php")
            && uri[i - 1] != b'/'
            && matches!(&uri[i + 4..], [] | [b'/', ..] | [b'\n'])
    })
}

/// `fastcgi_split_path_info ^(.+?\.php)(/.*)$`: the shortest script name ending in
/// `.php` that is followed by a `/`. `.` does not match a newline, and `$` matches
/// before a final one. No match: the whole `$uri` is the script name.
fn split_path_info(uri: &[u8]) -> (&[u8], &[u8]) {
    let body = uri.strip_suffix(b"\n").unwrap_or(uri);
    if !contains(body, b"\n") {
        for end in 5..body.len() {
            if body[..end].ends_with(b".php") && body[end] == b'/' {
                return (&body[..end], &body[end..]);
            }
        }
    }
    (uri, b"")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake(HashMap<&'static str, Kind>);

    impl Docroot for Fake {
        fn kind(&self, uri: &[u8]) -> Kind {
            let path = std::str::from_utf8(uri).unwrap();
            let path = path
                .strip_suffix('/')
                .filter(|p| !p.is_empty())
                .unwrap_or(path);
            *self.0.get(path).unwrap_or(&Kind::Missing)
        }
    }

    fn site() -> Fake {
        Fake(HashMap::from([
            ("/", Kind::Dir),
            ("/index.php", Kind::File),
            ("/a.php", Kind::File),
            ("/hello.txt", Kind::File),
            ("/sub", Kind::Dir),
            ("/sub/index.php", Kind::File),
            ("/sub/a.php", Kind::File),
            ("/html", Kind::Dir),
            ("/html/index.html", Kind::File),
            ("/empty", Kind::Dir),
            ("/uploads", Kind::Dir),
            ("/uploads/evil.jpg", Kind::File),
            ("/dir.php", Kind::Dir),
            ("/x.PHP", Kind::File),
        ]))
    }

    fn php(script: &str, info: &str) -> Route {
        Route::Php {
            script_name: script.into(),
            path_info: info.into(),
        }
    }

    #[test]
    fn routes_like_the_reference() {
        let table: Vec<(&str, Route)> = vec![
            ("/", php("/index.php", "")),
            ("/index.php", php("/index.php", "")),
            ("/index.php/x/y", php("/index.php", "/x/y")),
            ("/a.php/b.php/c", php("/a.php", "/b.php/c")),
            ("/foo/bar", php("/index.php", "")),
            (
                "/hello.txt",
                Route::Static {
                    uri: "/hello.txt".into(),
                },
            ),
            ("/hello.txt/", php("/index.php", "")),
            ("/sub", Route::AddSlash { uri: "/sub".into() }),
            ("/sub/", php("/sub/index.php", "")),
            ("/sub/a.php/x.php/y", php("/sub/a.php", "/x.php/y")),
            (
                "/html/",
                Route::Static {
                    uri: "/html/index.html".into(),
                },
            ),
            ("/empty/", Route::Forbidden),
            ("/nope.php", Route::NotFound),
            ("/nope.php/x", Route::NotFound),
            ("/uploads/evil.jpg/x.php", Route::NotFound),
            (
                "/uploads/evil.jpg",
                Route::Static {
                    uri: "/uploads/evil.jpg".into(),
                },
            ),
            ("/.git/config", Route::NotFound),
            ("/.env", Route::NotFound),
            ("/sub/.hidden.php", Route::NotFound),
            ("/.php", Route::NotFound),
            (
                "/x.PHP",
                Route::Static {
                    uri: "/x.PHP".into(),
                },
            ),
            ("/dir.php", Route::NotFound),
            ("/a.phpx", php("/index.php", "")),
            ("/a.php\n", Route::NotFound),
            ("/a.php/b\n", php("/a.php", "/b")),
        ];
        for (uri, want) in table {
            assert_eq!(
                route(uri.as_bytes(), &Method::GET, &site()),
                want,
                "{uri:?}"
            );
        }
    }

    #[test]
    fn directories_take_only_the_static_modules_methods() {
        let put = Method::PUT;
        let post = Method::POST;
        let table: Vec<(&str, &Method, Route)> = vec![
            ("/sub/", &put, Route::MethodNotAllowed),
            ("/sub", &put, Route::MethodNotAllowed),
            ("/empty/", &Method::OPTIONS, Route::MethodNotAllowed),
            ("/sub/", &post, php("/sub/index.php", "")),
            ("/sub", &post, Route::AddSlash { uri: "/sub".into() }),
            ("/empty/", &post, Route::Forbidden),
            ("/foo", &put, php("/index.php", "")),
            ("/a.php", &Method::DELETE, php("/a.php", "")),
            (
                "/hello.txt",
                &put,
                Route::Static {
                    uri: "/hello.txt".into(),
                },
            ),
        ];
        for (uri, method, want) in table {
            assert_eq!(
                route(uri.as_bytes(), method, &site()),
                want,
                "{method} {uri:?}"
            );
        }
    }

    #[test]
    fn no_front_controller_means_404() {
        let bare = Fake(HashMap::from([("/", Kind::Dir)]));
        assert_eq!(route(b"/anything", &Method::GET, &bare), Route::NotFound);
        assert_eq!(route(b"/", &Method::GET, &bare), Route::Forbidden);
    }
}
