//! What PHP's FastCGI server is run with: which one (php-fpm or php-cgi), which binary,
//! and its pool config or command line.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The PHP FastCGI server that runs the scripts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// php-fpm: a master and a static pool of workers, configured by a pool file.
    #[default]
    Fpm,
    /// `php-cgi -b`: a parent and `PHP_FCGI_CHILDREN` children, configured by its
    /// environment and `-d` settings; no master process to configure.
    Cgi,
}

impl Backend {
    /// The program's name, as installed and as logged.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Fpm => "php-fpm",
            Backend::Cgi => "php-cgi",
        }
    }

    /// The setting that names the binary explicitly.
    fn setting(self) -> &'static str {
        match self {
            Backend::Fpm => "LAMPHP_PHP_FPM",
            Backend::Cgi => "LAMPHP_PHP_CGI",
        }
    }

    /// Where Debian installs it: php-fpm in sbin, off most PATHs.
    fn system_dir(self) -> &'static Path {
        match self {
            Backend::Fpm => Path::new("/usr/sbin"),
            Backend::Cgi => Path::new("/usr/bin"),
        }
    }

    /// Names it is installed under on PATH, newest first; the bare name wins because it is
    /// what the system (or the user) chose as the default.
    fn path_names(self) -> Vec<String> {
        let name = self.name();
        std::iter::once(name.to_owned())
            .chain(["8.4", "8.3", "8.2", "8.1", "8.0"].map(|v| format!("{name}{v}")))
            .collect()
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        match s {
            "fpm" => Ok(Backend::Fpm),
            "cgi" => Ok(Backend::Cgi),
            other => Err(format!("{other:?} is not a PHP backend: fpm or cgi")),
        }
    }
}

/// How to run the PHP workers.
#[derive(Clone, Debug)]
pub struct FpmConfig {
    /// php-fpm or php-cgi (`LAMPHP_PHP_BACKEND`).
    pub backend: Backend,
    /// Explicit binary (`LAMPHP_PHP_FPM` / `LAMPHP_PHP_CGI`); `None` searches the usual
    /// places.
    pub binary: Option<PathBuf>,
    /// Number of workers (php-fpm: `pm = static`, `pm.max_children`; php-cgi:
    /// `PHP_FCGI_CHILDREN`).
    pub children: usize,
    /// Recycle a worker after this many requests (0 = never): `pm.max_requests`,
    /// `PHP_FCGI_MAX_REQUESTS`.
    pub max_requests: u32,
    /// Private directory for the pool config and the socket; created with mode 0700 if missing.
    pub runtime_dir: PathBuf,
    /// Extra ini settings, with the value in php.ini syntax, so they behave as php.ini
    /// lines do: constants such as `E_ALL & ~E_NOTICE` expand, `On` reads back as "1", and
    /// scripts may still `ini_set()` them (php-fpm: `php_value[name] = value`; php-cgi:
    /// `-d name=value`).
    pub ini: Vec<(String, String)>,
    /// Ini settings PHP reads only as it starts (`PHP_INI_SYSTEM` ones such as opcache's
    /// file cache, which a pool's `php_value` would set too late): `-d name=value` on the
    /// command line of either backend.
    pub startup_ini: Vec<(String, String)>,
    /// `request_terminate_timeout`: php-fpm kills a worker whose request runs longer.
    /// A script we stopped waiting for would otherwise hold its worker forever. php-cgi has
    /// no such setting: when this is set, the bootstrap kills the worker itself as soon as
    /// it gives up on the request (`Pool::stop_worker`).
    pub terminate_after: Option<std::time::Duration>,
    /// Kill the worker of a request the client gave up on at once, php-fpm's too: Lambda
    /// Managed Instances, where restarting the pool, as one-request Lambda mode does, would
    /// cut the scripts of the other requests in flight.
    pub kill_timed_out: bool,
}

impl FpmConfig {
    /// `backend` as searched for, with one worker never recycled, no limits and no ini of
    /// ours, its files in `runtime_dir`: the start the other settings change.
    pub fn new(backend: Backend, runtime_dir: PathBuf) -> FpmConfig {
        FpmConfig {
            backend,
            binary: None,
            children: 1,
            max_requests: 0,
            runtime_dir,
            ini: Vec::new(),
            startup_ini: Vec::new(),
            terminate_after: None,
            kill_timed_out: false,
        }
    }

    /// Whether a connection to PHP may carry more than one request. A worker recycled by
    /// php-fpm ends its connection gracefully, reading and dropping what we send (the
    /// client then retries), but php-cgi's child closes it at once, so a request sent on
    /// it in that moment would be lost: with recycling on, php-cgi gets a connection per
    /// request, and a child that is gone never takes one.
    pub fn keep_alive(&self) -> bool {
        !(self.backend == Backend::Cgi && self.max_requests > 0)
    }
}

/// The places `find_binary` looks in, apart from the explicit path; tests point them at
/// temporary directories.
pub(super) struct SearchPlaces<'a> {
    pub opt_bin: &'a Path,
    pub path: Option<&'a OsStr>,
    pub system: &'a Path,
}

/// Finds the backend's binary: `explicit` (from `LAMPHP_PHP_FPM` / `LAMPHP_PHP_CGI`) if
/// given, else `/opt/bin/<name>` (the Lambda layer), then `<name>`, `<name>8.4` ..
/// `<name>8.0` on PATH, then the newest `<name>*` where Debian installs it (`/usr/sbin`
/// for php-fpm, `/usr/bin` for php-cgi).
pub fn find_binary(backend: Backend, explicit: Option<&Path>) -> Result<PathBuf> {
    let path = std::env::var_os("PATH");
    let places = SearchPlaces {
        opt_bin: Path::new("/opt/bin"),
        path: path.as_deref(),
        system: backend.system_dir(),
    };
    search(backend, explicit, &places)
}

pub(super) fn search(
    backend: Backend,
    explicit: Option<&Path>,
    places: &SearchPlaces,
) -> Result<PathBuf> {
    let setting = backend.setting();
    if let Some(explicit) = explicit {
        let meta = std::fs::metadata(explicit).with_context(|| {
            format!("{setting} is {}, which does not exist", explicit.display())
        })?;
        if !is_executable(&meta) {
            bail!(
                "{setting} is {}, which is not an executable file",
                explicit.display()
            );
        }
        return Ok(explicit.to_owned());
    }
    let name = backend.name();
    let dirs: Vec<PathBuf> = places
        .path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let names = backend.path_names();
    let on_path = names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)));
    let candidates = std::iter::once(places.opt_bin.join(name))
        .chain(on_path)
        .chain(by_version_in(places.system, name));
    for candidate in candidates {
        if std::fs::metadata(&candidate).is_ok_and(|m| is_executable(&m)) {
            return Ok(candidate);
        }
    }
    bail!(
        "{name} not found: looked for {}, for {} on PATH ({}), and for {}/{name}*; \
         install {name} (e.g. `apt-get install php8.2-{}`) or set {setting} to its path",
        places.opt_bin.join(name).display(),
        names.join(", "),
        places.path.unwrap_or_default().to_string_lossy(),
        places.system.display(),
        &name[4..],
    )
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// The `<name>*` in `dir`, highest version suffix first (`php-fpm8.10` before
/// `php-fpm8.9`), an unversioned `<name>` last.
fn by_version_in(dir: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| {
            let file = entry.ok()?.file_name();
            Some((version_of(&file, name)?, dir.join(file)))
        })
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    found.into_iter().map(|(_, path)| path).collect()
}

/// `Some(vec![])` for `php-fpm`, `Some(vec![8, 2])` for `php-fpm8.2` (with `name`
/// `php-fpm`), `None` for anything else.
fn version_of(file: &OsStr, name: &str) -> Option<Vec<u32>> {
    let suffix = file.to_str()?.strip_prefix(name)?;
    if suffix.is_empty() {
        return Some(Vec::new());
    }
    suffix.split('.').map(|part| part.parse().ok()).collect()
}

/// The environment PHP gets when it comes from a lamphp layer, i.e. `binary` is
/// `<prefix>/bin/php-fpm` (or `php-cgi`) next to `<prefix>/etc/php/php.ini` (`/opt/...` on
/// Lambda).
///
/// A PHP build's php.ini and conf.d paths are compiled in (Debian's say `/etc/php/8.2/fpm`),
/// and a layer cannot set environment variables, so the bootstrap points PHP at the
/// layer's: `PHPRC` (the directory php.ini is read from) and `PHP_INI_SCAN_DIR` (`:`-separated
/// conf.d directories: the layer's, then `$LAMBDA_TASK_ROOT/php/conf.d` so the site's own
/// `.ini` files come last and win). Either one set by the user is left alone. Workers
/// inherit both (`clear_env = no`), so `/opt/bin/php` run from a script reads the same ini.
pub(super) fn layer_env(
    binary: &Path,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Vec<(&'static str, OsString)> {
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
        check_ini(name, value)?;
        writeln!(conf, "php_value[{name}] = {value}").expect("writing to a String");
    }
    Ok(conf)
}

/// An ini setting that cannot be mistaken for something else in a pool file or a `-d`.
fn check_ini(name: &str, value: &str) -> Result<()> {
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
    Ok(())
}

/// How the backend is started: its arguments, and the environment it gets beyond ours.
#[derive(Debug, PartialEq)]
pub(super) struct Invocation {
    pub args: Vec<OsString>,
    pub env: Vec<(&'static str, OsString)>,
}

/// php-fpm's arguments. `-F` keeps it our child; `-R` because php-fpm refuses a pool
/// without `user` when run as root, and naming a user would change who scripts run as.
fn fpm_args(config: &FpmConfig, conf: &Path, as_root: bool) -> Result<Vec<OsString>> {
    let mut args: Vec<OsString> = vec!["-F".into(), "-y".into(), conf.into()];
    if as_root {
        args.push("-R".into());
    }
    push_defines(&mut args, &config.startup_ini)?;
    Ok(args)
}

/// `-d name=value` for each setting, as both backends take them.
fn push_defines(args: &mut Vec<OsString>, settings: &[(String, String)]) -> Result<()> {
    for (name, value) in settings {
        check_ini(name, value)?;
        args.push("-d".into());
        args.push(format!("{name}={value}").into());
    }
    Ok(())
}

/// php-cgi's command line: `-b` binds the socket (before it forks its children, so it is
/// ready as soon as it accepts), the ini settings as `-d`, the pool's size and recycling
/// in the environment php-cgi reads them from. Unlike php-fpm it runs as root if started
/// as root, and passes its whole environment on to scripts, as `clear_env = no` does.
fn cgi_invocation(config: &FpmConfig, socket: &Path) -> Result<Invocation> {
    if config.children == 0 {
        bail!("php-cgi needs at least one worker (children = 0)");
    }
    let mut args: Vec<OsString> = vec!["-b".into(), socket.into()];
    push_defines(&mut args, &config.startup_ini)?;
    push_defines(&mut args, &config.ini)?;
    let env = vec![
        ("PHP_FCGI_CHILDREN", config.children.to_string().into()),
        (
            "PHP_FCGI_MAX_REQUESTS",
            config.max_requests.to_string().into(),
        ),
    ];
    Ok(Invocation { args, env })
}

/// Where the backend listens, in the runtime dir.
pub(super) fn socket_path(config: &FpmConfig) -> PathBuf {
    config.runtime_dir.join(match config.backend {
        Backend::Fpm => "fpm.sock",
        Backend::Cgi => "cgi.sock",
    })
}

/// Creates the runtime dir and writes what the backend reads there (php-fpm's pool
/// config); returns how to start `binary` and the socket it will listen on.
pub(super) fn prepare(
    config: &FpmConfig,
    binary: &Path,
    as_root: bool,
) -> Result<(Invocation, PathBuf)> {
    let dir = &config.runtime_dir;
    let name = config.backend.name();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {name}'s runtime dir {}", dir.display()))?;
    let socket = socket_path(config);
    check_socket_path(&socket)?;
    let mut invocation = match config.backend {
        Backend::Fpm => {
            let conf_path = dir.join("php-fpm.conf");
            let conf = render_pool(config, &socket)?;
            std::fs::write(&conf_path, conf).with_context(|| {
                format!("writing php-fpm's pool config {}", conf_path.display())
            })?;
            Invocation {
                args: fpm_args(config, &conf_path, as_root)?,
                env: Vec::new(),
            }
        }
        Backend::Cgi => cgi_invocation(config, &socket)?,
    };
    invocation
        .env
        .extend(layer_env(binary, |name| std::env::var_os(name)));
    Ok((invocation, socket))
}

/// php-fpm silently truncates a socket path that does not fit `sun_path` and listens
/// somewhere else (php-cgi refuses it), so catch it here.
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
            system: dir,
        };
        file(dir, "php-fpm", 0o755);
        file(dir, "plain", 0o644);
        let fpm = dir.join("php-fpm");
        assert_eq!(search(Backend::Fpm, Some(&fpm), &places).unwrap(), fpm);
        let err = error_of(search(Backend::Fpm, Some(&dir.join("plain")), &places));
        assert!(
            err.contains("LAMPHP_PHP_FPM") && err.contains("not an executable"),
            "{err}"
        );
        let err = error_of(search(Backend::Fpm, Some(&dir.join("missing")), &places));
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
            system: &sbin,
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
            assert_eq!(
                search(Backend::Fpm, None, &places).unwrap(),
                expected,
                "{why}"
            );
        }
    }

    #[test]
    fn not_finding_php_fpm_says_where_it_looked_and_what_to_do() {
        let tmp = TempDir::new();
        let path = std::ffi::OsString::from("/nowhere/bin:/nowhere/sbin");
        let places = SearchPlaces {
            opt_bin: tmp.path(),
            path: Some(&path),
            system: tmp.path(),
        };
        let err = error_of(search(Backend::Fpm, None, &places));
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
            children,
            max_requests,
            ini: ini
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..FpmConfig::new(Backend::Fpm, PathBuf::from("/run/l"))
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
    fn the_runtime_dir_is_created_private_and_each_backend_gets_its_command_line() {
        let tmp = TempDir::new();
        let runtime_dir = tmp.path().join("run");
        let fpm = FpmConfig {
            runtime_dir: runtime_dir.clone(),
            ..config(2, 0, &[("memory_limit", "1G")])
        };
        let (invocation, socket) = prepare(&fpm, Path::new("/usr/sbin/php-fpm8.2"), true).unwrap();
        let mode = std::fs::metadata(&runtime_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(socket, runtime_dir.join("fpm.sock"));
        let conf = runtime_dir.join("php-fpm.conf");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            render_pool(&fpm, &socket).unwrap()
        );
        let args = |words: &[&OsStr]| words.iter().map(|w| w.to_os_string()).collect::<Vec<_>>();
        let (f, y, r) = (OsStr::new("-F"), OsStr::new("-y"), OsStr::new("-R"));
        assert_eq!(
            invocation.args,
            args(&[f, y, conf.as_os_str(), r]),
            "-R as root"
        );
        assert!(
            invocation.env.is_empty(),
            "not a layer: {:?}",
            invocation.env
        );
        let (as_user, _) = prepare(&fpm, Path::new("/usr/sbin/php-fpm8.2"), false).unwrap();
        assert_eq!(as_user.args, args(&[f, y, conf.as_os_str()]));
        // Start-up settings are defines on the command line, never pool lines.
        let d = OsStr::new("-d");
        let cache = OsStr::new("opcache.file_cache=/tmp/c");
        let started = FpmConfig {
            startup_ini: vec![("opcache.file_cache".into(), "/tmp/c".into())],
            ..fpm.clone()
        };
        let (invocation, _) = prepare(&started, Path::new("/usr/sbin/php-fpm8.2"), false).unwrap();
        assert_eq!(invocation.args, args(&[f, y, conf.as_os_str(), d, cache]));
        assert!(!std::fs::read_to_string(&conf)
            .unwrap()
            .contains("file_cache"));
        let cgi_started = FpmConfig {
            backend: Backend::Cgi,
            ..started.clone()
        };
        let (invocation, socket) =
            prepare(&cgi_started, Path::new("/usr/bin/php-cgi8.2"), true).unwrap();
        let limit = OsStr::new("memory_limit=1G");
        let b = OsStr::new("-b");
        assert_eq!(
            invocation.args,
            args(&[b, socket.as_os_str(), d, cache, d, limit])
        );
        let injected = FpmConfig {
            startup_ini: vec![("opcache.file_cache".into(), "x\nlisten = 1".into())],
            ..started
        };
        assert!(error_of(prepare(&injected, Path::new("/x"), true)).contains("line break"));

        let cgi = FpmConfig {
            backend: Backend::Cgi,
            max_requests: 500,
            ..fpm.clone()
        };
        let (invocation, socket) = prepare(&cgi, Path::new("/usr/bin/php-cgi8.2"), true).unwrap();
        assert_eq!(socket, runtime_dir.join("cgi.sock"));
        let (b, d) = (OsStr::new("-b"), OsStr::new("-d"));
        let setting = OsStr::new("memory_limit=1G");
        assert_eq!(invocation.args, args(&[b, socket.as_os_str(), d, setting]));
        let env = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (*k, OsString::from(v)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            invocation.env,
            env(&[("PHP_FCGI_CHILDREN", "2"), ("PHP_FCGI_MAX_REQUESTS", "500")])
        );
        let none = FpmConfig {
            children: 0,
            ..cgi.clone()
        };
        assert!(error_of(prepare(&none, Path::new("/x"), true)).contains("at least one worker"));
        let injected = FpmConfig {
            ini: vec![("a b".into(), "1".into())],
            ..cgi
        };
        let err = error_of(prepare(&injected, Path::new("/x"), true));
        assert!(err.contains("not a valid php.ini name"), "{err}");
    }

    #[test]
    fn php_cgi_is_searched_for_as_php_fpm_is() {
        let tmp = TempDir::new();
        let [opt, bin] = ["opt", "bin"].map(|d| tmp.path().join(d));
        let places = SearchPlaces {
            opt_bin: &opt,
            path: None,
            system: &bin,
        };
        let err = error_of(search(Backend::Cgi, None, &places));
        for needle in [
            "php-cgi not found",
            "php-cgi8.4",
            "apt-get install php8.2-cgi",
            "LAMPHP_PHP_CGI",
        ] {
            assert!(err.contains(needle), "{needle:?} missing from: {err}");
        }
        file(&bin, "php-cgi8.1", 0o755);
        file(&bin, "php-cgi8.2", 0o755);
        file(&bin, "php-fpm8.4", 0o755);
        assert_eq!(
            search(Backend::Cgi, None, &places).unwrap(),
            bin.join("php-cgi8.2")
        );
        file(&opt, "php-cgi", 0o755);
        assert_eq!(
            search(Backend::Cgi, None, &places).unwrap(),
            opt.join("php-cgi")
        );
        let err = error_of(search(Backend::Cgi, Some(&bin.join("nope")), &places));
        assert!(err.contains("LAMPHP_PHP_CGI is "), "{err}");
        assert_eq!("cgi".parse(), Ok(Backend::Cgi));
        assert_eq!("fpm".parse(), Ok(Backend::Fpm));
        assert!("php-cgi"
            .parse::<Backend>()
            .unwrap_err()
            .contains("fpm or cgi"));
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
