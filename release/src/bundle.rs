//! A site directory as a reproducible `.tar.gz`: entries sorted, owners, times and
//! modes normalised, so that the same files give the same bytes and so the same id.
//!
//! The id is the first 16 hex digits of the bundle's sha256 (64 bits: no collision
//! among any team's releases). Purely content-derived rather than dated: deploying the
//! same site twice is the same release (the function reports it exists and nothing
//! changes), a retried deploy is safe, and the function may keep an existing `<id>`
//! directory as it is. When a release was deployed is in S3 (`releases/<id>.tar.gz`'s
//! date) and in `lamphp status`'s version descriptions.

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A bundled site.
pub struct Bundle {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
    pub id: String,
    pub files: u64,
}

/// The release id of a bundle with this hash.
pub fn release_id(sha256: &[u8; 32]) -> String {
    hex::encode(&sha256[..8])
}

/// The mode a bundle records: executable or not, readable by all, writable by the owner.
pub fn normal_mode(mode: u32, is_dir: bool) -> u32 {
    if is_dir || mode & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Bundle the directory `site`.
pub fn bundle(site: &Path) -> Result<Bundle> {
    let meta = fs::metadata(site)
        .with_context(|| format!("the site directory {} cannot be read", site.display()))?;
    if !meta.is_dir() {
        bail!("--site {} is not a directory", site.display());
    }
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::new(6)));
    let mut files = 0;
    add_dir(&mut tar, site, Path::new(""), &mut files)?;
    let bytes = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .context("finishing the bundle")?;
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    Ok(Bundle {
        id: release_id(&sha256),
        bytes,
        sha256,
        files,
    })
}

fn add_dir(
    tar: &mut tar::Builder<GzEncoder<Vec<u8>>>,
    dir: &Path,
    relative: &Path,
    files: &mut u64,
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = relative.join(entry.file_name());
        let meta =
            fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(normal_mode(meta.permissions().mode(), meta.is_dir()));
        let kind = meta.file_type();
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, &name, std::io::empty())?;
            add_dir(tar, &path, &name, files)?;
        } else if kind.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file =
                fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            tar.append_data(&mut header, &name, file)
                .with_context(|| format!("bundling {}", path.display()))?;
            *files += 1;
        } else if kind.is_symlink() {
            let target = fs::read_link(&path)?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &name, &target)
                .with_context(|| format!("bundling the link {}", path.display()))?;
            *files += 1;
        } else {
            bail!(
                "{} is neither a file, a directory nor a link; a site cannot hold it",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_hash_prefix() {
        let table = [
            ([0u8; 32], "0000000000000000"),
            ([0xab; 32], "abababababababab"),
        ];
        for (hash, id) in table {
            assert_eq!(release_id(&hash), id);
        }
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&[0x3f, 0x2a, 0x9c, 0x0d, 0x1b, 0x7e, 0x4f, 0x60]);
        assert_eq!(release_id(&hash), "3f2a9c0d1b7e4f60");
    }

    #[test]
    fn modes_are_normalised() {
        let table = [
            (0o600, false, 0o644),
            (0o664, false, 0o644),
            (0o700, false, 0o755),
            (0o744, false, 0o755),
            (0o700, true, 0o755),
        ];
        for (mode, is_dir, want) in table {
            assert_eq!(normal_mode(mode, is_dir), want, "{mode:o}");
        }
    }

    #[test]
    fn the_same_files_make_the_same_bundle() {
        let make = |touch: bool| {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("public")).unwrap();
            fs::write(dir.path().join("public/index.php"), "<?php echo 1;").unwrap();
            fs::write(dir.path().join("b.txt"), "b").unwrap();
            if touch {
                let f = fs::File::options()
                    .write(true)
                    .open(dir.path().join("b.txt"))
                    .unwrap();
                f.set_modified(
                    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345),
                )
                .unwrap();
            }
            let bundle = bundle(dir.path()).unwrap();
            (bundle.id, bundle.files)
        };
        assert_eq!(make(false), make(true));
        assert_eq!(make(false).1, 2);
        let missing = bundle(Path::new("/nonexistent/site")).err().unwrap();
        assert!(missing.to_string().contains("cannot be read"), "{missing}");
    }
}
