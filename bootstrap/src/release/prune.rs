//! The prune command: delete the releases nothing refers to any more.
//!
//! The release command computes `keep` from `$LATEST` and every published version; the
//! release this instance serves is kept whatever it says, and so are other people's
//! files (anything that is not a release id). Work directories of unpacks that died
//! (`.partial-*`) go once they are an hour old: a younger one may be an unpack running
//! in another instance now. The compiled cache of a release ([`super::opcache`]) goes with
//! it.

use super::unpack::is_partial;
use anyhow::{Context, Result};
use lamphp_protocol::{id, Pruned};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Past this age a `.partial-*` directory is an unpack that died.
pub const STALE_PARTIAL: Duration = Duration::from_secs(3600);

/// What becomes of one entry of the releases directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Keep,
    Remove,
    /// Not a release: not ours to judge.
    Ignore,
}

/// Pure: the fate of the entry `name`, `age` old, a directory or not.
pub fn fate(
    name: &str,
    is_dir: bool,
    age: Duration,
    keep: &[String],
    serving: Option<&str>,
) -> Fate {
    if !is_dir {
        Fate::Ignore
    } else if is_partial(name) {
        if age >= STALE_PARTIAL {
            Fate::Remove
        } else {
            Fate::Ignore
        }
    } else if id::check(name).is_err() {
        Fate::Ignore
    } else if serving == Some(name) || keep.iter().any(|k| k == name) {
        Fate::Keep
    } else {
        Fate::Remove
    }
}

/// Prune `dir`; a missing directory has nothing to prune.
pub fn prune(dir: &Path, keep: &[String], serving: Option<&str>) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let now = SystemTime::now();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry
            .metadata()
            .with_context(|| format!("reading {name}"))?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        match fate(&name, meta.is_dir(), age, keep, serving) {
            Fate::Keep => pruned.kept.push(name),
            Fate::Remove => {
                fs::remove_dir_all(entry.path())
                    .with_context(|| format!("deleting the release {name}"))?;
                pruned.removed.push(name);
            }
            Fate::Ignore => {}
        }
    }
    prune_caches(dir, now)?;
    pruned.removed.sort();
    pruned.kept.sort();
    Ok(pruned)
}

/// The compiled caches ([`super::opcache`]) of releases no longer there, and the work
/// directories of builds that died.
fn prune_caches(dir: &Path, now: SystemTime) -> Result<()> {
    let caches = dir.join(super::opcache::CACHES);
    let entries = match fs::read_dir(&caches) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", caches.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", caches.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let orphan = if is_partial(&name) {
            age >= STALE_PARTIAL
        } else {
            id::check(&name).is_ok() && !dir.join(&name).is_dir()
        };
        if orphan {
            fs::remove_dir_all(entry.path())
                .with_context(|| format!("deleting the compiled cache {name}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fates() {
        let keep = ["a".to_owned(), "b".to_owned()];
        let hour = STALE_PARTIAL;
        let minute = Duration::from_secs(60);
        let table = [
            ("a", true, minute, None, Fate::Keep),
            ("c", true, minute, None, Fate::Remove),
            ("c", true, minute, Some("c"), Fate::Keep),
            ("c", false, hour, None, Fate::Ignore),
            (".partial-c-0a1b", true, minute, None, Fate::Ignore),
            (".partial-c-0a1b", true, hour, None, Fate::Remove),
            (".snapshot", true, hour, None, Fate::Ignore),
            ("lost+found", true, hour, None, Fate::Ignore),
        ];
        for (name, is_dir, age, serving, want) in table {
            assert_eq!(fate(name, is_dir, age, &keep, serving), want, "{name}");
        }
    }

    #[test]
    fn prunes_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c", "serving", ".partial-d-1"] {
            fs::create_dir(dir.path().join(name)).unwrap();
        }
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let caches = dir.path().join(".opcache");
        for name in ["a", "b", "gone", ".partial-b-2"] {
            fs::create_dir_all(caches.join(name).join("sysid")).unwrap();
        }
        let pruned = prune(dir.path(), &["a".into()], Some("serving")).unwrap();
        let cached: Vec<_> = ["a", "b", "gone", ".partial-b-2"]
            .into_iter()
            .filter(|name| caches.join(name).exists())
            .collect();
        assert_eq!(
            cached,
            ["a", ".partial-b-2"],
            "a pruned release's cache goes, a kept one's and a fresh build's stay"
        );
        assert_eq!(pruned.removed, ["b", "c"]);
        assert_eq!(pruned.kept, ["a", "serving"]);
        assert!(
            dir.path().join(".partial-d-1").exists(),
            "a fresh unpack is left alone"
        );
        assert!(dir.path().join("notes.txt").exists());
        let missing = prune(&dir.path().join("none"), &[], None).unwrap();
        assert_eq!(missing, Pruned::default());
    }
}
