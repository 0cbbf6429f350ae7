//! A bundle's tar stream written out under a directory, refusing anything that could land
//! outside it: absolute paths, `..`, links pointing outside, device files, writing
//! through a link, the same path twice.
//!
//! Symbolic links stay inside by construction: a link's target may climb with leading
//! `..` no higher than the link's own directory, and never climbs after descending (the
//! descent could go through another link to somewhere shallower); and no entry is written
//! through a link, so every link's directory is the real one its path names.
//!
//! File modes are kept (the permission bits; set-id bits are dropped), and directories
//! keep the owner's rwx so that a release can be deleted. Modification times are not
//! kept: the bundle's are fixed for a reproducible hash, so files get the time of the
//! unpack, which makes ETag and Last-Modified change with each release as they would
//! after any copy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use thiserror::Error;

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Regular files and links.
    pub files: u64,
    /// The regular files' bytes.
    pub bytes: u64,
}

#[derive(Debug, Error)]
pub enum ExtractError {
    #[error("the bundle holds {path:?}: {why}")]
    Unsafe { path: String, why: &'static str },
    #[error("reading the bundle (not a .tar.gz, or cut short?): {0}")]
    Read(io::Error),
    #[error("writing {path}: {source}{}", full_hint(source))]
    Write { path: PathBuf, source: io::Error },
}

/// What to do about a full file system, the one write error a user can fix from here.
fn full_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => {
            " (the releases directory is full: `lamphp prune` deletes the releases no version uses)"
        }
        _ => "",
    }
}

/// Copies an entry's data; `io::copy` would not say whether reading the bundle or writing
/// the file failed, and only the second can be a full disk.
fn copy_entry(
    entry: &mut impl Read,
    file: &mut File,
    write: impl Fn(io::Error) -> ExtractError,
) -> Result<u64, ExtractError> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExtractError::Read(e)),
        };
        file.write_all(&buf[..n]).map_err(&write)?;
        total += n as u64;
    }
}

/// Extract the tar stream `tar` under `into`, which exists and is empty.
pub fn extract(tar: impl Read, into: &Path) -> Result<Totals, ExtractError> {
    let mut archive = tar::Archive::new(tar);
    let mut totals = Totals::default();
    let mut dirs = Vec::new();
    for entry in archive.entries().map_err(ExtractError::Read)? {
        let mut entry = entry.map_err(ExtractError::Read)?;
        let raw = entry.path().map_err(ExtractError::Read)?.into_owned();
        let unsafe_entry = |why| ExtractError::Unsafe {
            path: raw.display().to_string(),
            why,
        };
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let relative = entry_path(&raw).map_err(unsafe_entry)?;
        if relative.as_os_str().is_empty() {
            continue; // "./" itself
        }
        if through_link(into, &relative) {
            return Err(unsafe_entry("a path through a symbolic link"));
        }
        let path = into.join(&relative);
        let write = |source| ExtractError::Write {
            path: path.clone(),
            source,
        };
        let mode = entry.header().mode().map_err(ExtractError::Read)? & 0o777;
        if kind.is_dir() {
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(unsafe_entry("a directory where another entry is")),
                Err(_) => fs::create_dir_all(&path).map_err(write)?,
            }
            dirs.push((path, mode | 0o700));
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            make_parent(&path).map_err(write)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => unsafe_entry("the same path twice"),
                    _ => write(e),
                })?;
            totals.bytes += copy_entry(&mut entry, &mut file, write)?;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(write)?;
            file.sync_all().map_err(write)?;
            totals.files += 1;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(ExtractError::Read)?
                .ok_or_else(|| unsafe_entry("a symbolic link without a target"))?;
            if !link_stays_inside(&relative, &target) {
                return Err(unsafe_entry("a symbolic link pointing outside the release"));
            }
            make_parent(&path).map_err(write)?;
            symlink(&target, &path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => unsafe_entry("the same path twice"),
                _ => write(e),
            })?;
            totals.files += 1;
        } else if kind.is_hard_link() {
            return Err(unsafe_entry(
                "a hard link (bundles hold plain files and symbolic links)",
            ));
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(unsafe_entry("a device file or FIFO"));
        } else {
            return Err(unsafe_entry("an entry type lamphp does not extract"));
        }
    }
    // Deepest first, so that a parent's mode never blocks its children's.
    for (dir, mode) in dirs.iter().rev() {
        let write = |source| ExtractError::Write {
            path: dir.clone(),
            source,
        };
        fs::set_permissions(dir, fs::Permissions::from_mode(mode & 0o777)).map_err(write)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(write)?;
    }
    Ok(totals)
}

/// The entry's path relative to the release: no root, no `..`; `.` components dropped.
pub fn entry_path(raw: &Path) -> Result<PathBuf, &'static str> {
    let mut relative = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(name) => relative.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err("a path with '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path"),
        }
    }
    Ok(relative)
}

/// Whether the link at `at` (relative to the release) pointing to `target` resolves
/// inside the release: relative, its `..` all leading and no more of them than `at` has
/// directories above it.
pub fn link_stays_inside(at: &Path, target: &Path) -> bool {
    let depth = at.components().count().saturating_sub(1);
    let mut climbed = 0;
    let mut descended = false;
    for component in target.components() {
        match component {
            Component::ParentDir if !descended => climbed += 1,
            Component::ParentDir => return false,
            Component::Normal(_) => descended = true,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    climbed <= depth && !target.as_os_str().is_empty()
}

/// Whether any directory above `relative` under `root` is a symbolic link.
fn through_link(root: &Path, relative: &Path) -> bool {
    let mut path = root.to_path_buf();
    let parents = relative.parent().into_iter().flat_map(Path::components);
    parents.into_iter().any(|component| {
        path.push(component);
        fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
    })
}

fn make_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        let table: [(&str, Result<&str, &str>); 7] = [
            ("public/index.php", Ok("public/index.php")),
            ("./public/./a.css", Ok("public/a.css")),
            ("./", Ok("")),
            ("/etc/passwd", Err("an absolute path")),
            ("../x", Err("a path with '..'")),
            ("a/../../x", Err("a path with '..'")),
            ("a/..", Err("a path with '..'")),
        ];
        for (raw, want) in table {
            assert_eq!(entry_path(Path::new(raw)), want.map(PathBuf::from), "{raw}");
        }
    }

    #[test]
    fn links_stay_inside() {
        let table = [
            ("public/current", "../app", true),
            ("a/b/c", "../../x/y", true),
            ("a/b/c", "../../../x", false),
            ("top", "../x", false),
            ("top", "x/y", true),
            ("top", "/etc/passwd", false),
            ("a/l", "s/../x", false),
            ("a/l", "./x", true),
            ("a/l", "", false),
        ];
        for (at, target, inside) in table {
            assert_eq!(
                link_stays_inside(Path::new(at), Path::new(target)),
                inside,
                "{at} -> {target}"
            );
        }
    }

    /// A tar entry: path, type, link target, contents.
    type Entry<'a> = (&'a str, tar::EntryType, &'a str, &'a [u8]);

    /// A tar built by hand, so that it can hold what `tar::Builder` refuses to write.
    fn hostile(entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, kind, link, data) in entries {
            let mut header = tar::Header::new_old();
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o755);
            header.set_size(data.len() as u64);
            if !link.is_empty() {
                let linkname = &mut header.as_old_mut().linkname;
                linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    #[test]
    fn hostile_bundles_are_refused() {
        use tar::EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};
        let table: [(&[Entry], &str); 9] = [
            (&[("../evil.php", Regular, "", b"x")], "a path with '..'"),
            (&[("/tmp/evil.php", Regular, "", b"x")], "an absolute path"),
            (&[("l", Symlink, "/etc", b"")], "pointing outside"),
            (&[("a/l", Symlink, "../../etc", b"")], "pointing outside"),
            (
                &[("l", Symlink, ".", b""), ("l/x", Symlink, "../up", b"")],
                "through a symbolic link",
            ),
            (&[("h", Link, "/etc/passwd", b"")], "a hard link"),
            (&[("null", Char, "", b"")], "a device file"),
            (
                &[("sda", Block, "", b""), ("p", Fifo, "", b"")],
                "a device file",
            ),
            (
                &[
                    ("a", Directory, "", b""),
                    ("f", Regular, "", b"1"),
                    ("f", Regular, "", b"2"),
                ],
                "the same path twice",
            ),
        ];
        for (entries, want) in table {
            let dir = tempfile::tempdir().unwrap();
            let err = extract(&hostile(entries)[..], dir.path()).unwrap_err();
            assert!(err.to_string().contains(want), "{entries:?}: {err}");
            assert!(
                !dir.path().parent().unwrap().join("evil.php").exists(),
                "{entries:?} escaped"
            );
        }
    }

    #[test]
    fn plain_bundles_keep_modes_and_links() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let dir = tempfile::tempdir().unwrap();
        let tar = hostile(&[
            ("./", Directory, "", b""),
            ("public/", Directory, "", b""),
            ("public/index.php", Regular, "", b"<?php echo 1;"),
            ("public/current", Symlink, "index.php", b""),
        ]);
        let totals = extract(&tar[..], dir.path()).unwrap();
        assert_eq!(
            totals,
            Totals {
                files: 2,
                bytes: 13
            }
        );
        let index = dir.path().join("public/index.php");
        assert_eq!(fs::read(&index).unwrap(), b"<?php echo 1;");
        assert_eq!(
            fs::metadata(&index).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(dir.path().join("public/current")).unwrap(),
            Path::new("index.php")
        );
    }
}
