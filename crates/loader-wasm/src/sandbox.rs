//! The sandbox: what one instance may reach, as polyplug's own implementation of the
//! part of WASI preview 1 (`wasi_snapshot_preview1`, the functions are in module
//! `wasi`) that plugins need, denying by default. This module holds the state and the
//! one check every path goes through ([`Sandbox::resolve`]).
//!
//! - **Files.** The guest sees one pre-opened directory, `/` (fd 3). Every path it
//!   opens is tried relative to polyplug's working directory, then as an absolute path,
//!   and opens only if it is *granted*: the entity's file in `files` mode (read-only,
//!   during its compute) or a path inside an `--allow-dir` folder (read-only, or
//!   read-write with `DIR:rw`). Anything else fails with `ENOTCAPABLE` inside the guest
//!   ("Capabilities insufficient"), whether it exists or not. Symbolic links and `..`
//!   are resolved on the host before the check (for a path that does not exist, its
//!   longest existing prefix), so the answer never depends on what exists outside a
//!   grant. A granted folder can be opened and listed (`opendir`/`readdir`); paths
//!   opened relative to it start from it and are checked the same way. The
//!   pre-opened `/` itself is not listed. At most [`MAX_OPEN`] files and folders are
//!   open per instance.
//! - **Standard streams.** stdin is empty; stdout and stderr go to the console, which
//!   polyplug prints on its stderr (polyplug's stdout may be the results table).
//! - **No clock, environment, arguments or network.** Clocks fail with `ENOTCAPABLE`,
//!   the environment and the arguments are empty, sockets are not offered.
//!   `random_get` gives a fixed pseudo-random sequence (runs are reproducible).
//! - **`proc_exit`** ends the call with an error naming the exit code.
//! - Any other WASI function the module imports returns `ENOSYS`.

use polyplug_core::DirGrant;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// WASI error numbers.
pub(crate) mod errno {
    pub const SUCCESS: i32 = 0;
    pub const ACCES: i32 = 2;
    pub const BADF: i32 = 8;
    pub const EXIST: i32 = 20;
    pub const MFILE: i32 = 33;
    pub const INVAL: i32 = 28;
    pub const IO: i32 = 29;
    pub const ISDIR: i32 = 31;
    pub const NOENT: i32 = 44;
    pub const NOSYS: i32 = 52;
    pub const NOTDIR: i32 = 54;
    pub const SPIPE: i32 = 70;
    pub const NOTCAPABLE: i32 = 76;
}

/// The one pre-opened directory.
pub(crate) const ROOT_FD: u32 = 3;
/// Files and folders one instance may have open at once (each holds a host file
/// descriptor): a guest opening without closing gets `EMFILE`, not the host's limit.
pub(crate) const MAX_OPEN: usize = 256;
pub(crate) const FILETYPE_CHAR: u8 = 2;
pub(crate) const FILETYPE_DIR: u8 = 3;
pub(crate) const FILETYPE_FILE: u8 = 4;
pub(crate) const FILETYPE_SYMLINK: u8 = 7;
pub(crate) const RIGHTS_ALL: u64 = (1 << 29) - 1;
pub(crate) const RIGHT_FD_SEEK: u64 = 1 << 2;
pub(crate) const RIGHT_FD_TELL: u64 = 1 << 5;
pub(crate) const RIGHT_FD_WRITE: u64 = 1 << 6;
pub(crate) const OFLAG_CREAT: u32 = 1;
pub(crate) const OFLAG_DIRECTORY: u32 = 2;
pub(crate) const OFLAG_EXCL: u32 = 4;
pub(crate) const OFLAG_TRUNC: u32 = 8;
pub(crate) const FDFLAG_APPEND: u32 = 1;

pub(crate) struct OpenFile {
    pub(crate) file: File,
    /// Opened through the entity grant: closed when the compute ends.
    pub(crate) entity: bool,
    /// Opened for appending: every write goes to the end.
    pub(crate) append: bool,
    /// A folder, for `fd_readdir` and paths relative to it.
    pub(crate) dir: Option<OpenDir>,
}

/// An open folder.
pub(crate) struct OpenDir {
    /// The host path (canonical): paths opened relative to the folder start here.
    pub(crate) host: PathBuf,
    /// Its entries as last listed (at the first `fd_readdir`, and again at each one
    /// with cookie 0): name, WASI file type, inode; sorted by name, `.` and `..` first.
    pub(crate) entries: Vec<(Vec<u8>, u8, u64)>,
    /// Whether it was listed since it was opened.
    pub(crate) listed: bool,
}

impl OpenDir {
    /// Lists the folder's entries (again).
    pub(crate) fn list(&mut self) -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::DirEntryExt;
        let mut entries = Vec::new();
        for e in std::fs::read_dir(&self.host)? {
            let e = e?;
            let kind = match e.file_type() {
                Ok(t) if t.is_dir() => FILETYPE_DIR,
                Ok(t) if t.is_file() => FILETYPE_FILE,
                Ok(t) if t.is_symlink() => FILETYPE_SYMLINK,
                _ => 0,
            };
            entries.push((e.file_name().as_bytes().to_vec(), kind, e.ino()));
        }
        entries.sort();
        let mut all = vec![
            (b".".to_vec(), FILETYPE_DIR, 0),
            (b"..".to_vec(), FILETYPE_DIR, 0),
        ];
        all.extend(entries);
        self.entries = all;
        self.listed = true;
        Ok(())
    }
}

/// One instance's view of the outside world.
pub(crate) struct Sandbox {
    cwd: PathBuf,
    /// The granted folders, with canonical absolute paths.
    dirs: Vec<DirGrant>,
    /// The entity file granted during the running compute: (as given, canonical).
    entity: Option<(PathBuf, Option<PathBuf>)>,
    /// The open files and folders by descriptor.
    pub(crate) fds: BTreeMap<u32, OpenFile>,
    rng: u64,
}

impl Sandbox {
    /// A sandbox granting `dirs` (canonical paths) and nothing else yet.
    pub(crate) fn new(dirs: Vec<DirGrant>) -> Sandbox {
        Sandbox {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            dirs,
            entity: None,
            fds: BTreeMap::new(),
            rng: 0x853c_49e6_748f_ea9b,
        }
    }

    /// Grants read access to the file `entity` until [`Sandbox::revoke_entity`].
    pub(crate) fn grant_entity(&mut self, entity: &str) {
        let abs = normalize(&self.cwd.join(entity));
        let canonical = std::fs::canonicalize(&abs).ok();
        self.entity = Some((abs, canonical));
    }

    /// Ends the entity grant and closes the files opened through it.
    pub(crate) fn revoke_entity(&mut self) {
        self.entity = None;
        self.fds.retain(|_, f| !f.entity);
    }

    /// Finds the host path a guest path (opened relative to `dirfd`) names, if it is
    /// granted. Returns the path and whether it was granted as the entity file. Among
    /// the granted candidates, one that exists wins.
    pub(crate) fn resolve(
        &self,
        dirfd: u32,
        guest: &str,
        write: bool,
    ) -> std::result::Result<(PathBuf, bool), i32> {
        let candidates = self.candidates(dirfd, guest)?;
        let mut granted = None;
        for lexical in candidates {
            let canonical = canonical_prefix(&lexical);
            if let Some(g) = self.grant(&lexical, canonical, write) {
                if g.0.exists() {
                    return Ok(g);
                }
                granted.get_or_insert(g);
            }
        }
        if let Some(g) = granted {
            return Ok(g);
        }
        Err(if write && self.resolve(dirfd, guest, false).is_ok() {
            errno::ACCES
        } else {
            errno::NOTCAPABLE
        })
    }

    /// Whether a path (lexical and canonical forms) is granted.
    fn grant(&self, lexical: &Path, canonical: PathBuf, write: bool) -> Option<(PathBuf, bool)> {
        if !write {
            if let Some((abs, canon)) = &self.entity {
                if abs == lexical || canon.as_ref() == Some(&canonical) {
                    return Some((canonical, true));
                }
            }
        }
        self.dirs
            .iter()
            .any(|d| canonical.starts_with(&d.path) && (!write || d.writable))
            .then_some((canonical, false))
    }

    /// The host paths `path` may name, opened relative to `dirfd`: the pre-opened `/`
    /// (the working directory, then the root) or an open folder (that folder only; an
    /// absolute path is refused there). Lexical: `..` is resolved, links are not.
    fn candidates(&self, dirfd: u32, path: &str) -> std::result::Result<Vec<PathBuf>, i32> {
        if dirfd == ROOT_FD {
            let rel = path.trim_start_matches('/');
            return Ok(vec![
                normalize(&self.cwd.join(rel)),
                normalize(&Path::new("/").join(rel)),
            ]);
        }
        match self.fds.get(&dirfd) {
            Some(OpenFile { dir: Some(_), .. }) if path.starts_with('/') => Err(errno::NOTCAPABLE),
            Some(OpenFile { dir: Some(d), .. }) => Ok(vec![normalize(&d.host.join(path))]),
            Some(_) => Err(errno::NOTDIR),
            None => Err(errno::BADF),
        }
    }

    pub(crate) fn next_fd(&self) -> u32 {
        let mut fd = ROOT_FD + 1;
        for k in self.fds.keys() {
            if *k == fd {
                fd += 1;
            } else if *k > fd {
                break;
            }
        }
        fd
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Removes `.` and resolves `..` lexically (never above `/`).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The canonical form of `p` (absolute, normalized): of its longest existing prefix,
/// joined with the names after it that do not exist (yet). So whether a path is
/// granted never depends on which of its parts exist: a link to outside a grant is
/// outside it, down to any depth.
fn canonical_prefix(p: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = p;
    loop {
        if let Ok(c) = std::fs::canonicalize(at) {
            let mut out = c;
            for name in missing.iter().rev() {
                out.push(name);
            }
            return out;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// The WASI error number of an I/O error.
pub(crate) fn io_errno(e: &std::io::Error) -> i32 {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => errno::NOENT,
        K::PermissionDenied => errno::ACCES,
        K::AlreadyExists => errno::EXIST,
        K::InvalidInput => errno::INVAL,
        _ => match e.raw_os_error() {
            Some(21) => errno::ISDIR,
            Some(20) => errno::NOTDIR,
            Some(29) => errno::SPIPE,
            _ => errno::IO,
        },
    }
}
