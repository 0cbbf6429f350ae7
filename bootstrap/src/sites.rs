//! Many sites in one `serve`: which site a request is for, chosen by its host exactly as
//! nginx's `server_name` chooses a server block, and how sites are written down. Pure.
//!
//! nginx's order (ngx_http_find_virtual_server): an exact name; else the longest wildcard
//! that starts with `*.` (or the `.example.com` form, which also matches `example.com`);
//! else the longest that ends with `.*`; else the default server, which is the first one
//! listed. lamphp does the same: a request for a host no site names goes to the first
//! site, as it would behind nginx. Regular-expression names are not supported, and a name
//! two sites share is an error where nginx only warns and keeps the first: a start-up
//! error is easier to act on than a site that silently never answers.
//!
//! A site is written `HOST [HOST...] DOCROOT [BASEDIR]` (`=` may separate the hosts from the
//! paths): the words with a `/` are the paths, since no host name has one. BASEDIR is what
//! the site's scripts may read besides the docroot (`open_basedir`), e.g. the Laravel
//! application above `public/`; it defaults to the docroot. A sites file holds one site a
//! line, with `#` comments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A site as written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSpec {
    /// Its server names, lower-cased; the first is its primary name (nginx's
    /// `$server_name`).
    pub names: Vec<String>,
    pub docroot: PathBuf,
    /// The directory its scripts may read, docroot included.
    pub basedir: PathBuf,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SiteError {
    #[error("{0:?} names no host: write HOST [HOST...] DOCROOT [BASEDIR]")]
    NoHost(String),
    #[error(
        "{0:?} has no document root (a path with a /): write HOST [HOST...] DOCROOT [BASEDIR]"
    )]
    NoDocroot(String),
    #[error("{0:?}: the hosts come first, then DOCROOT and at most one BASEDIR")]
    Order(String),
    #[error("{0:?} is not a server name lamphp can match: a host, *.host, .host or host.* (regular expressions are not supported)")]
    BadName(String),
    #[error("{name:?} is named by two sites ({first} and {second}); nginx would ignore the second, lamphp refuses")]
    Conflict {
        name: String,
        first: String,
        second: String,
    },
    #[error("line {line}: {error}")]
    Line { line: usize, error: Box<SiteError> },
    #[error("no site is configured")]
    None,
}

/// One site from its written form.
pub fn parse_site(spec: &str) -> Result<SiteSpec, SiteError> {
    let words: Vec<&str> = spec
        .split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| !w.is_empty())
        .collect();
    let hosts = words.iter().take_while(|w| !w.contains('/')).count();
    let (names, paths) = words.split_at(hosts);
    if names.is_empty() {
        return Err(SiteError::NoHost(spec.to_owned()));
    }
    if paths.iter().any(|p| !p.contains('/')) || paths.len() > 2 {
        return Err(SiteError::Order(spec.to_owned()));
    }
    let docroot = paths
        .first()
        .map(PathBuf::from)
        .ok_or_else(|| SiteError::NoDocroot(spec.to_owned()))?;
    let names = names
        .iter()
        .map(|n| {
            let n = n.to_ascii_lowercase();
            Pattern::parse(&n)
                .map(|_| n.clone())
                .ok_or(SiteError::BadName(n))
        })
        .collect::<Result<_, _>>()?;
    Ok(SiteSpec {
        names,
        basedir: paths.get(1).map_or_else(|| docroot.clone(), PathBuf::from),
        docroot,
    })
}

/// The sites of a sites file, in order (the first is the default).
pub fn parse_file(text: &str) -> Result<Vec<SiteSpec>, SiteError> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(line, spec)| {
            parse_site(spec).map_err(|error| SiteError::Line {
                line,
                error: Box::new(error),
            })
        })
        .collect()
}

/// Where a site's PHP keeps its temporary files, uploads and file sessions: in its own
/// runtime directory, not in a `/tmp` every site can read.
pub fn tmp_dir(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("tmp")
}

/// The ini settings that keep a site's scripts to its own files: `open_basedir` holds its
/// base directory, its docroot and its runtime directory (the session handler PHP
/// prepends, and [`tmp_dir`]), and PHP's temporary files, uploads and file sessions go to
/// [`tmp_dir`]. PHP lets a script narrow `open_basedir` but never widen it.
pub fn isolation(docroot: &Path, basedir: &Path, runtime_dir: &Path) -> Vec<(String, String)> {
    let mut allowed = vec![basedir];
    if !docroot.starts_with(basedir) {
        allowed.push(docroot);
    }
    allowed.push(runtime_dir);
    let open_basedir = allowed
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let tmp = tmp_dir(runtime_dir).display().to_string();
    vec![
        ("open_basedir".to_owned(), open_basedir),
        ("sys_temp_dir".to_owned(), tmp.clone()),
        ("upload_tmp_dir".to_owned(), tmp.clone()),
        ("session.save_path".to_owned(), tmp),
    ]
}

/// A server name as nginx matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `*.example.com` (`suffix` = `.example.com`); `.example.com` also matches the bare
    /// name (`bare`).
    Head {
        suffix: String,
        bare: bool,
    },
    /// `www.example.*` (`prefix` = `www.example.`).
    Tail {
        prefix: String,
    },
}

impl Pattern {
    /// nginx allows an asterisk only at the start or the end, on a dot border.
    fn parse(name: &str) -> Option<Pattern> {
        let valid = |s: &str| {
            !s.is_empty()
                && !s.contains(['*', '~', '/'])
                && !s.starts_with('.')
                && !s.ends_with('.')
                && !s.contains("..")
        };
        if let Some(rest) = name.strip_prefix("*.") {
            return valid(rest).then(|| Pattern::Head {
                suffix: format!(".{rest}"),
                bare: false,
            });
        }
        if let Some(rest) = name.strip_prefix('.') {
            return valid(rest).then(|| Pattern::Head {
                suffix: format!(".{rest}"),
                bare: true,
            });
        }
        if let Some(rest) = name.strip_suffix(".*") {
            return valid(rest).then(|| Pattern::Tail {
                prefix: format!("{rest}."),
            });
        }
        // `_` and the like are names no request has: the usual name of a default server.
        (!name.contains(['*', '~', '/']) && !name.is_empty())
            .then(|| Pattern::Exact(name.to_owned()))
    }
}

/// Sites by server name: [`ServerNames::choose`] gives the one a host goes to.
#[derive(Debug)]
pub struct ServerNames<T> {
    sites: Vec<T>,
    exact: HashMap<String, usize>,
    /// (suffix, bare, site), longest suffix first.
    head: Vec<(String, bool, usize)>,
    /// (prefix, site), longest prefix first.
    tail: Vec<(String, usize)>,
}

impl<T> ServerNames<T> {
    /// `sites` with their names, the first being the default; each site's names must be
    /// valid and no name may belong to two sites.
    pub fn new(sites: Vec<(Vec<String>, T)>) -> Result<ServerNames<T>, SiteError> {
        if sites.is_empty() {
            return Err(SiteError::None);
        }
        let mut owner: HashMap<String, usize> = HashMap::new();
        let mut table = ServerNames {
            sites: Vec::with_capacity(sites.len()),
            exact: HashMap::new(),
            head: Vec::new(),
            tail: Vec::new(),
        };
        let firsts: Vec<String> = sites
            .iter()
            .map(|(names, _)| names.first().cloned().unwrap_or_default())
            .collect();
        for (index, (names, site)) in sites.into_iter().enumerate() {
            for name in names {
                let name = name.to_ascii_lowercase();
                let pattern =
                    Pattern::parse(&name).ok_or_else(|| SiteError::BadName(name.clone()))?;
                if let Some(&first) = owner.get(&name).filter(|&&i| i != index) {
                    return Err(SiteError::Conflict {
                        name,
                        first: firsts[first].clone(),
                        second: firsts[index].clone(),
                    });
                }
                owner.insert(name, index);
                match pattern {
                    Pattern::Exact(name) => {
                        table.exact.insert(name, index);
                    }
                    Pattern::Head { suffix, bare } => table.head.push((suffix, bare, index)),
                    Pattern::Tail { prefix } => table.tail.push((prefix, index)),
                }
            }
            table.sites.push(site);
        }
        table
            .head
            .sort_by_key(|(suffix, _, _)| std::cmp::Reverse(suffix.len()));
        table
            .tail
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(table)
    }

    /// The site for `host` (nginx's `$host`: lower-cased, no port, no trailing dot).
    pub fn choose(&self, host: &str) -> &T {
        &self.sites[self.index(host)]
    }

    fn index(&self, host: &str) -> usize {
        if let Some(&i) = self.exact.get(host) {
            return i;
        }
        let head = self.head.iter().find(|(suffix, bare, _)| {
            (host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                || (*bare && host == &suffix[1..])
        });
        if let Some(&(_, _, i)) = head {
            return i;
        }
        let tail = self
            .tail
            .iter()
            .find(|(prefix, _)| host.len() > prefix.len() && host.starts_with(prefix.as_str()));
        tail.map_or(0, |&(_, i)| i)
    }

    pub fn sites(&self) -> &[T] {
        &self.sites
    }
}

#[cfg(test)]
mod tests;
