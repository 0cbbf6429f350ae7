//! The unpack command: the bundle streamed from its URL, hashed as it goes, extracted into
//! `.partial-<id>-<random>` beside the releases, and renamed to `<id>` only once it is
//! complete and its hash is the one the command named. A release directory is therefore
//! whole or absent; on any failure the partial directory is removed.

use super::{extract, fetch};
use anyhow::{anyhow, bail, Context, Result};
use flate2::read::GzDecoder;
use futures_util::TryStreamExt;
use http_body_util::BodyDataStream;
use lamphp_protocol::{True, Unpacked};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// Unpack the bundle at `url`, which must hash to `sha256`, as `dir/release`.
pub async fn unpack(dir: &Path, release: &str, url: &str, sha256: [u8; 32]) -> Result<Unpacked> {
    let target = dir.join(release);
    // Ids are content-derived: a release already there is left as it is.
    let existing = || Unpacked::Existing {
        release: release.to_owned(),
        existing: True,
    };
    if target.exists() {
        return Ok(existing());
    }
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "creating the releases directory {} (is EFS mounted there?)",
            dir.display()
        )
    })?;
    let partial = dir.join(format!(".partial-{release}-{}", random_suffix()?));
    fs::create_dir(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let body = fetch::get(url).await;
    let written = match body {
        Ok(body) => {
            let stream = BodyDataStream::new(body).map_err(io::Error::other);
            let reader = SyncIoBridge::new(StreamReader::new(stream));
            let at = partial.clone();
            tokio::task::spawn_blocking(move || write(reader, &at, sha256))
                .await
                .map_err(|e| anyhow!("the unpack task failed: {e}"))
                .and_then(|r| r)
        }
        Err(e) => Err(e),
    };
    let outcome = written.and_then(|totals| {
        publish(&partial, &target, dir).map(|new| match new {
            true => Unpacked::New {
                release: release.to_owned(),
                files: totals.files,
                bytes: totals.bytes,
            },
            false => existing(),
        })
    });
    if partial.exists() {
        let _ = fs::remove_dir_all(&partial);
    }
    outcome
}

/// Extract and check the hash of everything read, including what follows the archive.
fn write(body: impl Read, into: &Path, want: [u8; 32]) -> Result<extract::Totals> {
    let mut hashed = Hashed {
        inner: body,
        hash: Sha256::new(),
    };
    let extracted = extract::extract(GzDecoder::new(&mut hashed), into);
    let drained = io::copy(&mut hashed, &mut io::sink());
    let got: [u8; 32] = hashed.hash.finalize().into();
    if drained.is_ok() && got != want {
        bail!(
            "the bundle's sha256 is {}, not the {} the command named: the object was changed or corrupted after the upload; deploy again",
            hex::encode(got),
            hex::encode(want)
        );
    }
    drained.context("reading the bundle")?;
    Ok(extracted?)
}

/// Make the release visible: fsync, then rename. `false` when another unpack of the same
/// release won the race (the rename finds the name taken).
fn publish(partial: &Path, target: &Path, dir: &Path) -> Result<bool> {
    File::open(partial)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    match fs::rename(partial, target) {
        Ok(()) => {}
        Err(_) if target.exists() => return Ok(false),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("renaming {} to {}", partial.display(), target.display()))
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(true)
}

pub(super) fn random_suffix() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow!("no randomness for a work directory's name: {e}"))?;
    Ok(hex::encode(bytes))
}

/// A reader that hashes what passes through it.
struct Hashed<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// The work directories of unpacks: `.partial-<id>-<random>`.
pub fn is_partial(name: &str) -> bool {
    name.starts_with(".partial-")
}
