//! A file a server command put at a path (its pid file, its Unix socket) and removes at exit
//! only if it is still the same file: a successor that replaced it (wrote its own pid file)
//! or took it over keeps its own.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A path and the identity (device, inode) of the file this process left there.
#[derive(Debug)]
pub struct OwnedFile {
    path: PathBuf,
    id: (u64, u64),
}

impl OwnedFile {
    /// The file now at `path`, as this process's.
    pub fn at(path: &Path) -> io::Result<OwnedFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(OwnedFile {
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
        })
    }

    /// Writes this process's id to `path`, atomically (a temporary file renamed over it),
    /// so a script never reads a half-written pid and a successor's pid file is a new file.
    pub fn write_pid(path: &Path) -> io::Result<OwnedFile> {
        let pid = std::process::id();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{pid}.tmp"));
        std::fs::write(&tmp, format!("{pid}\n"))?;
        if let Err(e) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        OwnedFile::at(path)
    }

    /// Removes the file if it is still the one this process left.
    pub fn remove_if_unchanged(&self) {
        let same = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.id);
        if same {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
