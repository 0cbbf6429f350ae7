//! The docroot both sides serve. Most of it is committed; what git cannot or should not
//! hold is made here at test start (and git-ignored): a `.git/` directory and a large file.

use std::fs;
use std::path::{Path, PathBuf};

/// Size of the generated large file: over 5 MB, so it crosses every buffer on the way.
pub const BIG_LEN: usize = 5 * 1024 * 1024 + 123;

/// Creates the generated files and returns the docroot's absolute path, which both
/// sides get, so DOCUMENT_ROOT and SCRIPT_FILENAME match.
pub fn prepare() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/docroot");
    let root = root.canonicalize().expect("the parity docroot exists");
    // git refuses to track a path named .git, so the dot-dir case gets its files here.
    fs::create_dir_all(root.join(".git")).expect("create docroot/.git");
    write_if_changed(&root.join(".git/config"), b"[core]\n\tbare = false\n");
    // Deterministic bytes (every value, NULs included); rewritten only when different,
    // so its ETag stays put between runs.
    let big: Vec<u8> = (0..BIG_LEN).map(|i| (i * 7 % 256) as u8).collect();
    write_if_changed(&root.join("big.bin"), &big);
    root
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
