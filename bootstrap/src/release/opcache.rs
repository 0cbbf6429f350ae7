//! A release's PHP compiled once, as it is unpacked, into opcache's file cache
//! (`opcache.file_cache`), which every sandbox serving the release then starts with: the
//! first request after a cold start loads compiled scripts instead of compiling them.
//!
//! - **Where**: `$LAMPHP_RELEASES/.opcache/<id>/<system id>/<the release's path>/….php.bin`,
//!   beside the release, never in it: a release's docroot is inside `<id>`, so no URL
//!   reaches the cache. Pruning a release prunes its cache ([`super::prune`]).
//! - **Built by the PHP that serves**: the same binary and ini in a pool of its own with
//!   `opcache.file_cache_only`, one FastCGI request per file. A PHP build writes under its
//!   own system id (PHP's version, build and the extensions that hook the compiler), so
//!   the cache matches what reads it. A request per file, because a compiled file's
//!   functions stay declared for the rest of its request: in one request, WordPress's
//!   `noop.php` keeps `functions.php` from compiling.
//! - **Read through the sandbox's own file cache**, in its runtime dir, in which only the
//!   release's own subtree is a symlink to the shared cache ([`link`]). PHP keys the cache
//!   by a script's full path and writes there what it compiles; pointed at the shared
//!   cache, a sandbox would write the compiled form of what it generates in `/tmp`, which
//!   another sandbox, with timestamps unchecked, would then run in place of its own. PHP
//!   8.2 and 8.4 have no read-only file cache (8.5's `opcache.file_cache_read_only`).
//! - **Only speed is at stake**: PHP reads its own system id's directory only, checks the
//!   id in each file's header and (`opcache.file_cache_consistency_checks`) each file's
//!   checksum, so a cache of another PHP build is never loaded and a broken file is
//!   compiled anew; a cache that cannot be built or linked is logged and done without.

use crate::fastcgi::Client;
use crate::fpm::{Fpm, FpmConfig};
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use std::borrow::Cow;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::time::Instant;

/// The directory of the caches, in the releases directory.
pub const CACHES: &str = ".opcache";

/// What one file's request answers when it compiled.
const COMPILED: &[u8] = b"compiled";

/// The script each compile request runs: the file to compile is a FastCGI param.
const COMPILE_SCRIPT: &str = "<?php\n\
    // lamphp: compiles one file of a release into opcache's file cache.\n\
    echo @opcache_compile_file($_SERVER['LAMPHP_COMPILE']) ? 'compiled' : 'failed';\n";

/// What a build did, for the unpack's log line.
#[derive(Debug, PartialEq, Eq)]
pub struct Built {
    /// The PHP files of the release.
    pub files: u64,
    /// Those in the cache now.
    pub compiled: u64,
    /// The system id the cache is for: `None` when nothing compiled.
    pub system_id: Option<String>,
    /// Whether the deadline stopped the build before its last file.
    pub cut_short: bool,
    pub ms: u64,
}

/// Where release `id`'s caches are, one directory per PHP system id.
pub fn cache_of(releases: &Path, id: &str) -> PathBuf {
    releases.join(CACHES).join(id)
}

/// Whether release `id` has a cache of any PHP build.
pub fn has_cache(releases: &Path, id: &str) -> bool {
    fs::read_dir(cache_of(releases, id)).is_ok_and(|mut entries| entries.next().is_some())
}

/// Compile the PHP files of release `id` (unpacked in `releases`) with the PHP `php`
/// describes, into its cache; stops at `deadline`, keeping what compiled by then.
pub async fn build(releases: &Path, id: &str, php: &FpmConfig, deadline: Instant) -> Result<Built> {
    let started = Instant::now();
    let release = fs::canonicalize(releases.join(id))
        .with_context(|| format!("finding release {id} in {}", releases.display()))?;
    let files = {
        let release = release.clone();
        tokio::task::spawn_blocking(move || php_files(&release))
            .await
            .context("the file listing task failed")??
    };
    let suffix = super::unpack::random_suffix()?;
    let work = releases
        .join(CACHES)
        .join(format!(".partial-{id}-{suffix}"));
    let written = work.join("cache");
    fs::create_dir_all(&written).with_context(|| format!("creating {}", written.display()))?;
    // The pool's socket and script stay on local disk, not on EFS with the cache.
    let runtime = php.runtime_dir.join(format!("compile-{suffix}"));
    let compiled = compile_all(&files, &written, &runtime, php, deadline).await;
    let _ = fs::remove_dir_all(&runtime);
    let outcome = compiled.and_then(|compiled| {
        let system_id = publish(&written, &release, &cache_of(releases, id))?;
        Ok(Built {
            files: files.len() as u64,
            compiled,
            system_id,
            cut_short: Instant::now() >= deadline,
            ms: started.elapsed().as_millis() as u64,
        })
    });
    let _ = fs::remove_dir_all(&work);
    outcome
}

/// Every regular `.php` and `.phtml` file under `dir`, symlinked directories not
/// followed (what they hold is not the release's own), sorted.
fn php_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "php" || e == "phtml")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Compile `files` in a pool of their own, writing to `cache`; how many compiled.
async fn compile_all(
    files: &[PathBuf],
    cache: &Path,
    runtime: &Path,
    php: &FpmConfig,
    deadline: Instant,
) -> Result<u64> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = compiler(php, cache, runtime, cores)?;
    fs::create_dir_all(runtime).with_context(|| format!("creating {}", runtime.display()))?;
    let script = runtime.join("compile.php");
    fs::write(&script, COMPILE_SCRIPT).with_context(|| format!("writing {}", script.display()))?;
    let fpm = Fpm::start(config)
        .await
        .context("starting PHP to compile the release")?;
    let client = Client::new(fpm.pool());
    let script = Arc::new(script);
    let compiled = futures_util::stream::iter(files.iter().cloned())
        .map(|file| {
            let (client, script) = (Arc::clone(&client), Arc::clone(&script));
            async move { compile_one(&client, &script, &file, deadline).await }
        })
        .buffer_unordered(cores)
        .filter(|compiled| std::future::ready(*compiled))
        .count()
        .await;
    fpm.shutdown().await;
    Ok(compiled as u64)
}

/// The serving PHP's config as a compiler: opcache on, file cache only, and files written
/// a moment ago compiled too (`file_update_protection` would skip what was just unpacked).
fn compiler(
    php: &FpmConfig,
    cache: &Path,
    runtime_dir: &Path,
    workers: usize,
) -> Result<FpmConfig> {
    let cache = cache
        .to_str()
        .context("the releases directory's path is not UTF-8")?;
    let mut config = php.clone();
    config.children = workers;
    config.max_requests = 0;
    config.runtime_dir = runtime_dir.to_owned();
    config.terminate_after = None;
    config.kill_timed_out = false;
    config.ini = vec![("memory_limit".into(), "-1".into())];
    config.startup_ini = [
        ("opcache.enable", "1"),
        ("opcache.file_cache", cache),
        ("opcache.file_cache_only", "1"),
        ("opcache.file_update_protection", "0"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    Ok(config)
}

/// One file's request; whether it compiled.
async fn compile_one(client: &Arc<Client>, script: &Path, file: &Path, deadline: Instant) -> bool {
    if Instant::now() >= deadline {
        return false;
    }
    let params: crate::cgi::Params = vec![
        (Cow::Borrowed(b"REQUEST_METHOD"), b"GET".to_vec()),
        (
            Cow::Borrowed(b"SCRIPT_FILENAME"),
            script.as_os_str().as_encoded_bytes().to_vec(),
        ),
        (
            Cow::Borrowed(b"LAMPHP_COMPILE"),
            file.as_os_str().as_encoded_bytes().to_vec(),
        ),
    ];
    let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
    let Ok(exchange) = client.send(&params, body, deadline, "compile".into()).await else {
        return false;
    };
    match exchange.body.collect().await {
        Ok(body) => body.to_bytes() == COMPILED,
        Err(_) => false,
    }
}

/// Move the release's part of what was written to `into/<system id>`; the system id.
/// A cache another unpack published first for the same PHP is kept.
fn publish(written: &Path, release: &Path, into: &Path) -> Result<Option<String>> {
    let mut ids = fs::read_dir(written)
        .with_context(|| format!("listing {}", written.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let Some(system_id) = ids.next() else {
        return Ok(None);
    };
    if ids.next().is_some() {
        bail!(
            "PHP wrote the cache under two system ids in {}",
            written.display()
        );
    }
    let relative = release.strip_prefix("/").unwrap_or(release);
    let tree = written.join(&system_id).join(relative);
    if !tree.is_dir() {
        return Ok(None); // nothing of the release compiled
    }
    let target = into.join(&system_id).join(relative);
    let parent = target.parent().expect("joined under `into`");
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    match fs::rename(&tree, &target) {
        Ok(()) => Ok(Some(system_id)),
        Err(_) if target.is_dir() => Ok(Some(system_id)),
        Err(e) => Err(e).with_context(|| format!("moving the cache to {}", target.display())),
    }
}

/// Set up `php` to serve release `id` of `releases` ([`link`]).
pub fn serve_from(php: &mut FpmConfig, releases: &Path, id: &str) {
    let ini = link(&php.runtime_dir, releases, id);
    php.startup_ini.extend(ini);
}

/// The start-up ini of PHP serving release `id` from `releases`: timestamps never checked
/// (a release never changes), and, when it has a cache, `opcache.file_cache` pointed at
/// `runtime_dir/opcache`, made anew, whose release subtree links to the shared cache of
/// each PHP build that built one. Failing to link only costs speed: logged, and served
/// without.
pub fn link(runtime_dir: &Path, releases: &Path, id: &str) -> Vec<(String, String)> {
    let mut ini = vec![("opcache.validate_timestamps".to_owned(), "0".to_owned())];
    // Read once: on EFS, during the cold start this is for.
    let shared = cache_of(releases, id);
    let system_ids: Vec<OsString> = match fs::read_dir(&shared) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.file_name())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!(
                "release {id} is served without its compiled cache, so its first requests compile PHP: listing {}: {e}",
                shared.display()
            );
            Vec::new()
        }
    };
    if system_ids.is_empty() {
        return ini;
    }
    let local = runtime_dir.join("opcache");
    match link_into(&local, releases, id, &system_ids) {
        Ok(()) => match local.to_str() {
            Some(path) => ini.extend([
                ("opcache.file_cache".to_owned(), path.to_owned()),
                (
                    "opcache.file_cache_consistency_checks".to_owned(),
                    "1".to_owned(),
                ),
            ]),
            None => tracing::warn!(
                "the runtime dir's path is not UTF-8: release {id} is served without its compiled cache"
            ),
        },
        Err(e) => tracing::warn!(
            "release {id} is served without its compiled cache, so its first requests compile PHP: {e:#}"
        ),
    }
    ini
}

/// Links `local/<system id>/<release path>` to the shared cache of each of `system_ids`.
fn link_into(local: &Path, releases: &Path, id: &str, system_ids: &[OsString]) -> Result<()> {
    let release = fs::canonicalize(releases.join(id))
        .with_context(|| format!("finding release {id} in {}", releases.display()))?;
    let relative = release.strip_prefix("/").unwrap_or(&release);
    if local.exists() {
        fs::remove_dir_all(local).with_context(|| format!("clearing {}", local.display()))?;
    }
    let shared = cache_of(releases, id);
    for system_id in system_ids {
        let tree = shared.join(system_id).join(relative);
        let link = local.join(system_id).join(relative);
        let parent = link.parent().expect("joined under `local`");
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        std::os::unix::fs::symlink(&tree, &link)
            .with_context(|| format!("linking {} to {}", link.display(), tree.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpm::Backend;

    /// Each backend builds the cache in a pool of its own, a request per file, and the
    /// link gives PHP the ini to read it through the sandbox's own cache.
    #[tokio::test]
    async fn both_backends_compile_every_file_that_compiles_and_link_the_release_alone() {
        for backend in [Backend::Fpm, Backend::Cgi] {
            let dir = tempfile::tempdir().unwrap();
            let releases = dir.path().join("releases");
            let site = releases.join("r1/public");
            fs::create_dir_all(site.join("lib")).unwrap();
            for (name, text) in [
                ("index.php", "<?php echo 1;"),
                ("lib/a.php", "<?php function twice() {}"),
                ("lib/b.php", "<?php function twice() {}"),
                ("view.phtml", "<p><?= 1 ?></p>"),
                ("broken.php", "<?php nope nope"),
                ("notes.txt", "not PHP"),
            ] {
                fs::write(site.join(name), text).unwrap();
            }
            let runtime = dir.path().join("run");
            let later = Instant::now() + std::time::Duration::from_secs(60);
            let built = build(
                &releases,
                "r1",
                &FpmConfig::new(backend, runtime.clone()),
                later,
            )
            .await
            .unwrap();
            let name = backend.name();
            assert_eq!((built.files, built.compiled), (5, 4), "{name}: {built:?}");
            assert!(!built.cut_short, "{name}");
            let system_id = built.system_id.clone().unwrap();
            let release = fs::canonicalize(releases.join("r1")).unwrap();
            let tree = cache_of(&releases, "r1")
                .join(&system_id)
                .join(release.strip_prefix("/").unwrap());
            for bin in ["index.php", "lib/a.php", "lib/b.php", "view.phtml"] {
                let bin = tree.join(format!("public/{bin}.bin"));
                assert!(bin.is_file(), "{name}: no {}", bin.display());
            }
            assert_eq!(
                fs::read_dir(releases.join(CACHES)).unwrap().count(),
                1,
                "{name}: no work directory left"
            );
            assert!(
                fs::read_dir(&runtime).unwrap().next().is_none(),
                "{name}: the compiling pool's files are gone"
            );

            let ini = link(&runtime, &releases, "r1");
            let local = runtime.join("opcache");
            let want: Vec<(String, String)> = [
                ("opcache.validate_timestamps", "0"),
                ("opcache.file_cache", local.to_str().unwrap()),
                ("opcache.file_cache_consistency_checks", "1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
            assert_eq!(ini, want, "{name}");
            let linked = local
                .join(&system_id)
                .join(release.strip_prefix("/").unwrap());
            assert_eq!(fs::read_link(&linked).unwrap(), tree, "{name}");
            let only: Vec<_> = fs::read_dir(local.join(&system_id))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                only.len(),
                1,
                "{name}: one tree, leading to the release: {only:?}"
            );

            fs::remove_dir_all(cache_of(&releases, "r1")).unwrap();
            assert_eq!(
                link(&runtime, &releases, "r1"),
                want[..1],
                "{name}: without a cache, timestamps are still not checked"
            );
        }
    }

    /// Past its deadline a build compiles nothing more, and says it was cut short.
    #[tokio::test]
    async fn a_build_past_its_deadline_is_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let releases = dir.path().join("releases");
        fs::create_dir_all(releases.join("r1")).unwrap();
        fs::write(releases.join("r1/index.php"), "<?php echo 1;").unwrap();
        let config = FpmConfig::new(Backend::Fpm, dir.path().join("run"));
        let built = build(&releases, "r1", &config, Instant::now())
            .await
            .unwrap();
        assert_eq!((built.files, built.compiled), (1, 0), "{built:?}");
        assert!(built.cut_short);
        assert_eq!(built.system_id, None);
        assert!(!has_cache(&releases, "r1"));
    }
}
