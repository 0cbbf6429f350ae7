//! What php-fpm is run with: which binary, and the pool config written for it.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// How to run the php-fpm pool.
#[derive(Clone, Debug)]
pub struct FpmConfig {
    /// Explicit php-fpm binary (`LAMPHP_PHP_FPM`); `None` searches the usual places.
    pub binary: Option<PathBuf>,
    /// Number of workers (`pm = static`, `pm.max_children`).
    pub children: usize,
    /// `pm.max_requests`: recycle a worker after this many requests (0 = never).
    pub max_requests: u32,
    /// Private directory for the pool config and the socket; created with mode 0700 if missing.
    pub runtime_dir: PathBuf,
    /// Extra ini settings, written as `php_value[name] = value` with the value in php.ini
    /// syntax, so they behave as php.ini lines do: constants such as `E_ALL & ~E_NOTICE`
    /// expand, `On` reads back as "1", and scripts may still `ini_set()` them.
    pub ini: Vec<(String, String)>,
    /// `request_terminate_timeout`: php-fpm kills a worker whose request runs longer.
    /// A script we stopped waiting for would otherwise hold its worker forever.
    pub terminate_after: Option<std::time::Duration>,
}

/// Names php-fpm is installed under on PATH, newest first; a bare `php-fpm` wins because
/// it is what the system (or the user) chose as the default.
const PATH_NAMES: [&str; 6] = [
    "php-fpm",
    "php-fpm8.4",
    "php-fpm8.3",
    "php-fpm8.2",
    "php-fpm8.1",
    "php-fpm8.0",
];

/// The places `find_binary` looks in, apart from the explicit path; tests point them at
/// temporary directories.
pub(super) struct SearchPlaces<'a> {
    pub opt_bin: &'a Path,
    pub path: Option<&'a OsStr>,
    pub sbin: &'a Path,
}

/// Finds the php-fpm binary: `explicit` (from `LAMPHP_PHP_FPM`) if given, else
/// `/opt/bin/php-fpm` (the Lambda layer), then `php-fpm`, `php-fpm8.4` .. `php-fpm8.0` on
/// PATH, then the newest `/usr/sbin/php-fpm*` (Debian installs it there, off most PATHs).
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = std::env::var_os("PATH");
    let places = SearchPlaces {
        opt_bin: Path::new("/opt/bin"),
        path: path.as_deref(),
        sbin: Path::new("/usr/sbin"),
    };
    search(explicit, &places)
}

pub(super) fn search(explicit: Option<&Path>, places: &SearchPlaces) -> Result<PathBuf> {
    if let Some(explicit) = explicit {
        let meta = std::fs::metadata(explicit).with_context(|| {
            format!(
                "LAMPHP_PHP_FPM is {}, which does not exist",
                explicit.display()
            )
        })?;
        if !is_executable(&meta) {
            bail!(
                "LAMPHP_PHP_FPM is {}, which is not an executable file",
                explicit.display()
            );
        }
        return Ok(explicit.to_owned());
    }
    let dirs: Vec<PathBuf> = places
        .path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let on_path = PATH_NAMES
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)));
    let candidates = std::iter::once(places.opt_bin.join("php-fpm"))
        .chain(on_path)
        .chain(by_version_in(places.sbin));
    for candidate in candidates {
        if std::fs::metadata(&candidate).is_ok_and(|m| is_executable(&m)) {
            return Ok(candidate);
        }
    }
    bail!(
        "php-fpm not found: looked for {}, for {} on PATH ({}), and for {}/php-fpm*; \
         install php-fpm (e.g. `apt-get install php8.2-fpm`) or set LAMPHP_PHP_FPM to its path",
        places.opt_bin.join("php-fpm").display(),
        PATH_NAMES.join(", "),
        places.path.unwrap_or_default().to_string_lossy(),
        places.sbin.display(),
    )
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// The `php-fpm*` in `dir`, highest version suffix first (`php-fpm8.10` before
/// `php-fpm8.9`), an unversioned `php-fpm` last.
fn by_version_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            Some((version_of(&name)?, dir.join(name)))
        })
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    found.into_iter().map(|(_, path)| path).collect()
}

/// `Some(vec![])` for `php-fpm`, `Some(vec![8, 2])` for `php-fpm8.2`, `None` for anything else.
fn version_of(name: &OsStr) -> Option<Vec<u32>> {
    let suffix = name.to_str()?.strip_prefix("php-fpm")?;
    if suffix.is_empty() {
        return Some(Vec::new());
    }
    suffix.split('.').map(|part| part.parse().ok()).collect()
}

/// The environment php-fpm gets when it comes from a lamphp layer, i.e. `binary` is
/// `<prefix>/bin/php-fpm` next to `<prefix>/etc/php/php.ini` (`/opt/...` on Lambda).
///
/// A PHP build's php.ini and conf.d paths are compiled in (Debian's say `/etc/php/8.2/fpm`),
/// and a layer cannot set environment variables, so the bootstrap points PHP at the
/// layer's: `PHPRC` (the directory php.ini is read from) and `PHP_INI_SCAN_DIR` (`:`-separated
/// conf.d directories: the layer's, then `$LAMBDA_TASK_ROOT/php/conf.d` so the site's own
/// `.ini` files come last and win). Either one set by the user is left alone. Workers
/// inherit both (`clear_env = no`), so `/opt/bin/php` run from a script reads the same ini.
pub(super) fn layer_env(
    binary: &Path,
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Vec<(&'static str, std::ffi::OsString)> {
    let Some(prefix) = binary.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let etc = prefix.join("etc/php");
    if binary.parent().and_then(Path::file_name) != Some(OsStr::new("bin"))
        || !etc.join("php.ini").is_file()
    {
        return Vec::new();
    }
    let mut env = Vec::new();
    if lookup("PHPRC").is_none() {
        env.push(("PHPRC", etc.clone().into_os_string()));
    }
    if lookup("PHP_INI_SCAN_DIR").is_none() {
        let task_root = lookup("LAMBDA_TASK_ROOT").unwrap_or_else(|| "/var/task".into());
        let mut dirs = etc.join("conf.d").into_os_string();
        dirs.push(":");
        dirs.push(Path::new(&task_root).join("php/conf.d"));
        env.push(("PHP_INI_SCAN_DIR", dirs));
    }
    env
}

/// The pool config. It follows the reference pool (`shared/spec/reference/php-fpm.conf.in`)
/// line for line, except that the log goes to the master's stderr, which we drain, and
/// `pm.max_requests` and the ini lines are added.
pub(super) fn render_pool(config: &FpmConfig, socket: &Path) -> Result<String> {
    if config.children == 0 {
        bail!("php-fpm needs at least one worker (children = 0)");
    }
    let socket = socket
        .to_str()
        .context("php-fpm's socket path must be valid UTF-8")?;
    let mut conf = format!(
        "[global]\n\
         error_log = /proc/self/fd/2\n\
         daemonize = no\n\
         [www]\n\
         listen = {socket}\n\
         pm = static\n\
         pm.max_children = {}\n\
         pm.max_requests = {}\n\
         clear_env = no\n\
         catch_workers_output = yes\n\
         decorate_workers_output = no\n",
        config.children, config.max_requests
    );
    if let Some(limit) = config.terminate_after {
        conf.push_str(&format!(
            "request_terminate_timeout = {}s\n",
            limit.as_secs().max(1)
        ));
    }
    for (name, value) in &config.ini {
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !name_ok {
            bail!("ini setting name {name:?} is not a valid php.ini name");
        }
        // A line break would end the setting and start a config line of the caller's choosing.
        if value.contains(['\n', '\r', '\0']) {
            bail!("ini setting {name} has a line break or NUL in its value {value:?}");
        }
        writeln!(conf, "php_value[{name}] = {value}").expect("writing to a String");
    }
    Ok(conf)
}

/// Creates the runtime dir and writes the pool config into it; returns (config, socket).
pub(super) fn write_runtime_files(config: &FpmConfig) -> Result<(PathBuf, PathBuf)> {
    let dir = &config.runtime_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating php-fpm's runtime dir {}", dir.display()))?;
    let socket = dir.join("fpm.sock");
    check_socket_path(&socket)?;
    let conf_path = dir.join("php-fpm.conf");
    let conf = render_pool(config, &socket)?;
    std::fs::write(&conf_path, conf)
        .with_context(|| format!("writing php-fpm's pool config {}", conf_path.display()))?;
    Ok((conf_path, socket))
}

/// php-fpm silently truncates a socket path that does not fit `sun_path` and listens
/// somewhere else, so catch it here.
pub fn check_socket_path(socket: &Path) -> Result<()> {
    const MAX: usize = 107;
    let len = socket.as_os_str().len();
    if len > MAX {
        bail!(
            "php-fpm's socket path {} is {len} bytes, but unix socket paths may have at most \
             {MAX}: choose a shorter runtime dir",
            socket.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpm::tests::TempDir;

    fn file(dir: &Path, name: &str, mode: u32) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn error_of<T: std::fmt::Debug>(result: Result<T>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn an_explicit_binary_must_exist_and_be_executable_and_is_never_replaced() {
        let tmp = TempDir::new();
        let dir = tmp.path();
        let places = SearchPlaces {
            opt_bin: dir,
            path: None,
            sbin: dir,
        };
        file(dir, "php-fpm", 0o755);
        file(dir, "plain", 0o644);
        let fpm = dir.join("php-fpm");
        assert_eq!(search(Some(&fpm), &places).unwrap(), fpm);
        let err = error_of(search(Some(&dir.join("plain")), &places));
        assert!(
            err.contains("LAMPHP_PHP_FPM") && err.contains("not an executable"),
            "{err}"
        );
        let err = error_of(search(Some(&dir.join("missing")), &places));
        assert!(
            err.contains("LAMPHP_PHP_FPM") && err.contains("does not exist"),
            "{err}"
        );
    }

    /// Files to add, and which binary should be found then.
    type Step<'a> = (&'a [(&'a Path, &'a str, u32)], PathBuf, &'a str);

    #[test]
    fn search_order_is_opt_bin_then_path_then_newest_sbin() {
        let tmp = TempDir::new();
        let [opt, a, b, sbin] = ["opt", "a", "b", "sbin"].map(|d| tmp.path().join(d));
        let path = std::env::join_paths([&a, &b]).unwrap();
        let places = SearchPlaces {
            opt_bin: &opt,
            path: Some(&path),
            sbin: &sbin,
        };
        // Each step adds files that should win over everything added before.
        let steps: [Step; 5] = [
            (
                &[
                    (&sbin, "php-fpm", 0o755),
                    (&sbin, "php-fpm7.4", 0o755),
                    (&sbin, "php-fpm8.2", 0o755),
                    (&sbin, "php-fpm8.2.dpkg-old", 0o755),
                    (&sbin, "php-fpm8.3", 0o644),
                ],
                sbin.join("php-fpm8.2"),
                "the newest executable in sbin",
            ),
            (
                &[(&sbin, "php-fpm8.10", 0o755)],
                sbin.join("php-fpm8.10"),
                "numeric versions",
            ),
            (
                &[(&a, "php-fpm8.1", 0o755), (&b, "php-fpm8.3", 0o755)],
                b.join("php-fpm8.3"),
                "PATH before sbin, a newer name first",
            ),
            (
                &[(&a, "php-fpm", 0o644), (&b, "php-fpm", 0o755)],
                b.join("php-fpm"),
                "a plain php-fpm first, if executable",
            ),
            (
                &[(&opt, "php-fpm", 0o755)],
                opt.join("php-fpm"),
                "the layer's binary first",
            ),
        ];
        for (files, expected, why) in steps {
            for (dir, name, mode) in files {
                file(dir, name, *mode);
            }
            assert_eq!(search(None, &places).unwrap(), expected, "{why}");
        }
    }

    #[test]
    fn not_finding_php_fpm_says_where_it_looked_and_what_to_do() {
        let tmp = TempDir::new();
        let path = std::ffi::OsString::from("/nowhere/bin:/nowhere/sbin");
        let places = SearchPlaces {
            opt_bin: tmp.path(),
            path: Some(&path),
            sbin: tmp.path(),
        };
        let err = error_of(search(None, &places));
        let dir = tmp.path().display();
        for needle in [
            &format!("{dir}/php-fpm,"),
            "php-fpm, php-fpm8.4, php-fpm8.3, php-fpm8.2, php-fpm8.1, php-fpm8.0 on PATH",
            "(/nowhere/bin:/nowhere/sbin)",
            &format!("{dir}/php-fpm*"),
            "apt-get install php8.2-fpm",
            "or set LAMPHP_PHP_FPM",
        ] {
            assert!(err.contains(needle), "{needle:?} missing from: {err}");
        }
    }

    fn config(children: usize, max_requests: u32, ini: &[(&str, &str)]) -> FpmConfig {
        FpmConfig {
            terminate_after: None,
            binary: None,
            children,
            max_requests,
            runtime_dir: PathBuf::from("/run/l"),
            ini: ini
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// `shared/spec/reference/php-fpm.conf.in`, the pool the reference oracle runs.
    const REFERENCE: &str = "[global]\nerror_log = @RUN@/fpm.log\ndaemonize = no\n[www]\n\
        listen = @FPM_SOCK@\npm = static\npm.max_children = @CHILDREN@\nclear_env = no\n\
        catch_workers_output = yes\ndecorate_workers_output = no\n";

    #[test]
    fn the_pool_is_the_reference_pool_logging_to_stderr() {
        let cases = [
            (config(1, 0, &[]), "1", "0", ""),
            (config(8, 500, &[]), "8", "500", ""),
            (
                config(
                    2,
                    0,
                    &[
                        ("error_reporting", "E_ALL & ~E_NOTICE"),
                        ("memory_limit", "1G"),
                    ],
                ),
                "2",
                "0",
                "php_value[error_reporting] = E_ALL & ~E_NOTICE\nphp_value[memory_limit] = 1G\n",
            ),
        ];
        for (config, children, max_requests, ini) in cases {
            let expected = REFERENCE
                .replace("@RUN@/fpm.log", "/proc/self/fd/2")
                .replace("@FPM_SOCK@", "/run/l/fpm.sock")
                .replace(
                    "@CHILDREN@",
                    &format!("{children}\npm.max_requests = {max_requests}"),
                )
                + ini;
            let rendered = render_pool(&config, Path::new("/run/l/fpm.sock")).unwrap();
            assert_eq!(rendered, expected);
        }
    }

    #[test]
    fn pool_rendering_refuses_what_would_break_or_inject_config() {
        let bad = [
            (config(0, 0, &[]), "at least one worker"),
            (
                config(1, 0, &[("memory_limit", "1G\n[evil]")]),
                "line break",
            ),
            (config(1, 0, &[("memory_limit", "1G\r")]), "line break"),
            (
                config(1, 0, &[("a] = 1\nb", "1")]),
                "not a valid php.ini name",
            ),
            (config(1, 0, &[("", "1")]), "not a valid php.ini name"),
        ];
        for (config, why) in bad {
            let err = error_of(render_pool(&config, Path::new("/run/l/fpm.sock")));
            assert!(err.contains(why), "{:?}: {err}", config.ini);
        }
    }

    #[test]
    fn socket_paths_must_fit_sun_path() {
        assert!(check_socket_path(Path::new(&format!("/{}", "s".repeat(106)))).is_ok());
        let err = error_of(check_socket_path(Path::new(&format!(
            "/{}",
            "s".repeat(107)
        ))));
        assert!(err.contains("108 bytes"), "{err}");
    }

    #[test]
    fn the_runtime_dir_is_created_private_and_holds_the_pool() {
        let tmp = TempDir::new();
        let runtime_dir = tmp.path().join("run");
        let config = FpmConfig {
            runtime_dir: runtime_dir.clone(),
            ..config(2, 0, &[])
        };
        let (conf, socket) = write_runtime_files(&config).unwrap();
        let mode = std::fs::metadata(&runtime_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(socket, runtime_dir.join("fpm.sock"));
        assert_eq!(
            std::fs::read_to_string(conf).unwrap(),
            render_pool(&config, &socket).unwrap()
        );
    }

    #[test]
    fn a_layer_binary_gets_the_layers_ini_and_the_sites_conf_d() {
        let tmp = TempDir::new();
        let prefix = tmp.path();
        file(&prefix.join("bin"), "php-fpm", 0o755);
        let fpm = prefix.join("bin/php-fpm");
        let none = |_: &str| None;
        assert!(
            layer_env(&fpm, none).is_empty(),
            "no etc/php/php.ini: not a layer, PHP keeps its compiled-in paths"
        );
        std::fs::create_dir_all(prefix.join("etc/php")).unwrap();
        std::fs::write(prefix.join("etc/php/php.ini"), "").unwrap();
        let etc = prefix.join("etc/php");
        assert_eq!(
            layer_env(&fpm, none),
            [
                ("PHPRC", etc.clone().into_os_string()),
                (
                    "PHP_INI_SCAN_DIR",
                    format!("{}:/var/task/php/conf.d", etc.join("conf.d").display()).into()
                ),
            ]
        );
        let task_root = |name: &str| (name == "LAMBDA_TASK_ROOT").then(|| "/site".into());
        assert_eq!(
            layer_env(&fpm, task_root)[1].1,
            std::ffi::OsString::from(format!("{}:/site/php/conf.d", etc.join("conf.d").display()))
        );
        // What the user set wins.
        let user = |name: &str| (name != "LAMBDA_TASK_ROOT").then(|| "/mine".into());
        assert!(layer_env(&fpm, user).is_empty());
        // Only <prefix>/bin/php-fpm counts.
        file(&prefix.join("sbin"), "php-fpm", 0o755);
        assert!(layer_env(&prefix.join("sbin/php-fpm"), none).is_empty());
    }
}
