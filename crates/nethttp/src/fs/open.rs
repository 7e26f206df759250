//! Opening a path under the file server's root without leaving it: the root is held open as a
//! directory descriptor and each lookup is `openat2(2)` from it with `RESOLVE_BENEATH`, so
//! the kernel refuses any step (a symlink, a `..` inside one) that would end outside the
//! root, and it does so atomically with the open: no path is resolved twice, and a symlink
//! swapped in between cannot win a race. Absolute symlinks are refused by `RESOLVE_BENEATH`
//! even when they lead inside the root; those (and kernels without `openat2`, before 5.6, or
//! sandboxes that forbid it) take a slower path: resolve the whole path, check it is under
//! the root, and open the resolved path beneath the root with no symlink left to follow.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The served directory: its canonical path and a descriptor on it.
#[derive(Debug)]
pub(crate) struct Root {
    /// Canonical (symlinks resolved), for listings and the slow path's comparison.
    pub path: PathBuf,
    dir: OwnedFd,
}

/// Set once `openat2` turned out to be missing or forbidden: every lookup then takes the
/// slow path without trying it first.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

impl Root {
    /// Opens `path` (a directory) as the root.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let path = std::fs::canonicalize(path)?;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the root path"))?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call; `open` touches no
        // other memory of ours.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENOTDIR) {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the file server's root is not a directory",
                )
            } else {
                e
            });
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Root { path, dir })
    }

    /// Opens `rel` (relative to the root, bytes without `..` segments or NUL; empty for the
    /// root itself), read-only. `confined`: the lookup may not leave the root, through
    /// symlinks or otherwise (the file server's default); a way out then reads as "not
    /// found". `rel` gets a NUL appended (it has room reserved for one).
    pub(crate) fn open_file(&self, rel: &mut Vec<u8>, confined: bool) -> io::Result<File> {
        if rel.is_empty() {
            rel.push(b'.');
        }
        rel.push(0);
        let r = self.open_c(rel, confined);
        rel.pop();
        if rel == b"." {
            rel.clear();
        }
        r
    }

    fn open_c(&self, rel: &[u8], confined: bool) -> io::Result<File> {
        let c = CStr::from_bytes_with_nul(rel)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the path"))?;
        if !confined {
            return openat(&self.dir, c);
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match openat2(&self.dir, c, libc::RESOLVE_BENEATH) {
                Ok(f) => return Ok(f),
                // An absolute symlink (refused even when it leads inside) or a way out: the
                // slow path tells them apart.
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        self.open_resolved(c)
    }

    /// The slow path: resolve every symlink of `rel`, refuse what ends outside the root
    /// (as not found), and open the resolved path, which has no symlink left, following
    /// none (so one swapped in since cannot lead out either; without `openat2` only the last
    /// component is held to that).
    fn open_resolved(&self, rel: &CStr) -> io::Result<File> {
        let full = self.path.join(std::ffi::OsStr::from_bytes(rel.to_bytes()));
        let real = std::fs::canonicalize(full)?;
        let Ok(inner) = real.strip_prefix(&self.path) else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let mut bytes = inner.as_os_str().as_bytes().to_vec();
        if bytes.is_empty() {
            bytes.push(b'.');
        }
        bytes.push(0);
        let c = CStr::from_bytes_with_nul(&bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the path"))?;
        if NO_OPENAT2.load(Ordering::Relaxed) {
            return openat_flags(&self.dir, c, libc::O_NOFOLLOW);
        }
        openat2(
            &self.dir,
            c,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
        )
    }
}

/// `openat(dir, rel)` read-only, following symlinks wherever they lead.
fn openat(dir: &OwnedFd, rel: &CStr) -> io::Result<File> {
    openat_flags(dir, rel, 0)
}

fn openat_flags(dir: &OwnedFd, rel: &CStr, extra: libc::c_int) -> io::Result<File> {
    // SAFETY: `rel` is NUL-terminated and outlives the call; `dir` is an open descriptor we
    // own for the call's duration.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            rel.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | extra,
        )
    };
    if fd < 0 {
        return Err(map_loop(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// `openat2(dir, rel)` read-only with the `resolve` restrictions (and never through a
/// `/proc` magic link).
fn openat2(dir: &OwnedFd, rel: &CStr, resolve: u64) -> io::Result<File> {
    // SAFETY: `open_how` is a C struct of integers, for which all zeroes is a valid value
    // (and the one the kernel expects in any field not set here).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = resolve | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `openat2` reads `rel` (NUL-terminated) and `how` (a live local whose size is
    // passed with it), both outliving the call, and writes no memory of ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(map_loop(io::Error::last_os_error()));
    }
    let fd = libc::c_int::try_from(fd)
        .map_err(|_| io::Error::other("openat2 returned an out-of-range descriptor"))?;
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A symlink loop (or `O_NOFOLLOW` meeting a symlink) reads as "not found".
fn map_loop(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::ErrorKind::NotFound.into()
    } else {
        e
    }
}
