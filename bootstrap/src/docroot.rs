//! The document root on disk, as the router asks about it.

use crate::router::{Docroot, Kind};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A directory of site files. Symbolic links are followed, as nginx follows them by
/// default (`disable_symlinks off`): a link is the site owner's own doing.
#[derive(Debug, Clone)]
pub struct FsDocroot {
    root: PathBuf,
}

impl FsDocroot {
    /// `root` must be absolute and canonical: it is what PHP sees as DOCUMENT_ROOT.
    pub fn new(root: PathBuf) -> Self {
        FsDocroot { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a normalised `$uri` names. `uri` has no `..` segments (see
    /// [`crate::uri`]), so the result stays under the root.
    pub fn path(&self, uri: &[u8]) -> PathBuf {
        let mut path = self.root.as_os_str().to_owned();
        path.push(OsStr::from_bytes(uri));
        PathBuf::from(path)
    }
}

impl Docroot for FsDocroot {
    fn kind(&self, uri: &[u8]) -> Kind {
        match std::fs::metadata(self.path(uri)) {
            Ok(meta) if meta.is_dir() => Kind::Dir,
            Ok(meta) if meta.is_file() => Kind::File,
            _ => Kind::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_the_file_system() {
        let dir = std::env::temp_dir().join(format!("lamphp-docroot-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("f.txt"), "x").unwrap();
        let root = FsDocroot::new(dir.clone());
        let table: &[(&str, Kind)] = &[
            ("/", Kind::Dir),
            ("/sub", Kind::Dir),
            ("/sub/", Kind::Dir),
            ("/f.txt", Kind::File),
            ("/f.txt/", Kind::Missing),
            ("/f.txt/x", Kind::Missing),
            ("/nope", Kind::Missing),
        ];
        for (uri, want) in table {
            assert_eq!(root.kind(uri.as_bytes()), *want, "{uri}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
