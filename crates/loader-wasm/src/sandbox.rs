//! The sandbox: polyplug's own implementation of the part of WASI preview 1
//! (`wasi_snapshot_preview1`) that plugins need, denying by default.
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
//! - **Standard streams.** stdin is empty; stdout and stderr go to polyplug's stderr
//!   (polyplug's stdout may be the results table).
//! - **No clock, environment, arguments or network.** Clocks fail with `ENOTCAPABLE`,
//!   the environment and the arguments are empty, sockets are not offered.
//!   `random_get` gives a fixed pseudo-random sequence (runs are reproducible).
//! - **`proc_exit`** ends the call with an error naming the exit code.
//! - Any other WASI function the module imports returns `ENOSYS`.

use crate::host::{bytes, bytes_mut, Host};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use wasmtime::{Caller, Error, Linker, Module, Result, Val, ValType};

/// The WASI preview 1 import module.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

mod errno {
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
const ROOT_FD: u32 = 3;
/// Files and folders one instance may have open at once (each holds a host file
/// descriptor): a guest opening without closing gets `EMFILE`, not the host's limit.
const MAX_OPEN: usize = 256;
const FILETYPE_CHAR: u8 = 2;
const FILETYPE_DIR: u8 = 3;
const FILETYPE_FILE: u8 = 4;
const FILETYPE_SYMLINK: u8 = 7;
const RIGHTS_ALL: u64 = (1 << 29) - 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const OFLAG_CREAT: u32 = 1;
const OFLAG_DIRECTORY: u32 = 2;
const OFLAG_EXCL: u32 = 4;
const OFLAG_TRUNC: u32 = 8;
const FDFLAG_APPEND: u32 = 1;

/// A folder granted with `--allow-dir`.
#[derive(Debug, Clone)]
pub(crate) struct DirGrant {
    /// Canonical absolute path.
    pub path: PathBuf,
    /// `DIR:rw`.
    pub writable: bool,
}

struct OpenFile {
    file: File,
    /// Opened through the entity grant: closed when the compute ends.
    entity: bool,
    append: bool,
    /// A folder, for `fd_readdir` and paths relative to it.
    dir: Option<OpenDir>,
}

/// An open folder.
struct OpenDir {
    /// The host path (canonical): paths opened relative to the folder start here.
    host: PathBuf,
    /// Its entries as last listed (at the first `fd_readdir`, and again at each one
    /// with cookie 0): name, WASI file type, inode; sorted by name, `.` and `..` first.
    entries: Vec<(Vec<u8>, u8, u64)>,
    listed: bool,
}

impl OpenDir {
    fn list(&mut self) -> std::io::Result<()> {
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
    dirs: Vec<DirGrant>,
    /// The entity file granted during the running compute: (as given, canonical).
    entity: Option<(PathBuf, Option<PathBuf>)>,
    fds: BTreeMap<u32, OpenFile>,
    rng: u64,
}

impl Sandbox {
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
    fn resolve(
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

    fn next_fd(&self) -> u32 {
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

    fn next_random(&mut self) -> u64 {
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

fn io_errno(e: &std::io::Error) -> i32 {
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

fn put_u32(mem: &mut [u8], ptr: u32, v: u32) -> Result<()> {
    bytes_mut(mem, ptr, 4)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

fn put_u64(mem: &mut [u8], ptr: u32, v: u64) -> Result<()> {
    bytes_mut(mem, ptr, 8)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

fn get_u32(mem: &[u8], ptr: u32) -> Result<u32> {
    let b = bytes(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn split<'a>(caller: &'a mut Caller<'_, Host>) -> Result<(&'a mut [u8], &'a mut Host)> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| Error::msg("the module exports no `memory`"))?;
    Ok(memory.data_and_store_mut(caller))
}

/// The `(ptr, len)` pairs of a WASI iovec array.
fn iovecs(mem: &[u8], iovs: u32, n: u32) -> Result<Vec<(u32, u32)>> {
    let mut v = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = iovs.wrapping_add(i.wrapping_mul(8));
        v.push((get_u32(mem, at)?, get_u32(mem, at.wrapping_add(4))?));
    }
    Ok(v)
}

fn write_filestat(mem: &mut [u8], ptr: u32, md: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let buf = bytes_mut(mem, ptr, 64)?;
    buf.fill(0);
    buf[0..8].copy_from_slice(&md.dev().to_le_bytes());
    buf[8..16].copy_from_slice(&md.ino().to_le_bytes());
    buf[16] = if md.is_dir() {
        FILETYPE_DIR
    } else {
        FILETYPE_FILE
    };
    buf[24..32].copy_from_slice(&md.nlink().to_le_bytes());
    buf[32..40].copy_from_slice(&md.len().to_le_bytes());
    // Times stay 0: the sandbox has no clock.
    Ok(())
}

/// The WASI functions implemented here.
const IMPLEMENTED: &[&str] = &[
    "fd_read",
    "fd_write",
    "fd_seek",
    "fd_tell",
    "fd_close",
    "fd_fdstat_get",
    "fd_filestat_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_readdir",
    "path_open",
    "path_filestat_get",
    "environ_sizes_get",
    "environ_get",
    "args_sizes_get",
    "args_get",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "proc_exit",
    "sched_yield",
];

/// Error returned by `proc_exit`, recognised by the loader.
#[derive(Debug)]
pub(crate) struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin called exit({})", self.0)
    }
}

impl std::error::Error for Exit {}

/// Adds the WASI functions to `linker`, plus an `ENOSYS` stub for every other WASI
/// function `module` imports.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>, module: &Module) -> Result<()> {
    let m = WASI_MODULE;
    linker.func_wrap(
        m,
        "fd_read",
        |mut c: Caller<'_, Host>, fd: u32, iovs: u32, n: u32, nread: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let vecs = iovecs(mem, iovs, n)?;
            let mut total: u32 = 0;
            if fd <= 2 {
                return put_u32(mem, nread, 0).map(|()| errno::SUCCESS);
            }
            let Some(f) = host.sandbox.fds.get_mut(&fd) else {
                return Ok(errno::BADF);
            };
            for (ptr, len) in vecs {
                let buf = bytes_mut(mem, ptr, len as usize)?;
                match f.file.read(buf) {
                    Ok(got) => {
                        total += got as u32;
                        if got < len as usize {
                            break;
                        }
                    }
                    Err(e) if total == 0 => return Ok(io_errno(&e)),
                    Err(_) => break,
                }
            }
            put_u32(mem, nread, total)?;
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "fd_write",
        |mut c: Caller<'_, Host>, fd: u32, iovs: u32, n: u32, nwritten: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let vecs = iovecs(mem, iovs, n)?;
            let mut total: u32 = 0;
            for (ptr, len) in vecs {
                let data = bytes(mem, ptr, len)?;
                let r = match fd {
                    0 => return Ok(errno::BADF),
                    // The guest's stdout and stderr both go to polyplug's stderr.
                    1 | 2 => std::io::stderr().write_all(data).map(|()| data.len()),
                    _ => match host.sandbox.fds.get_mut(&fd) {
                        Some(f) => {
                            if f.append {
                                let _ = f.file.seek(SeekFrom::End(0));
                            }
                            f.file.write(data)
                        }
                        None => return Ok(errno::BADF),
                    },
                };
                match r {
                    Ok(w) => total += w as u32,
                    Err(e) if total == 0 => return Ok(io_errno(&e)),
                    Err(_) => break,
                }
            }
            put_u32(mem, nwritten, total)?;
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "fd_seek",
        |mut c: Caller<'_, Host>, fd: u32, offset: i64, whence: u32, out: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            if fd <= 2 {
                return Ok(errno::SPIPE);
            }
            let Some(f) = host.sandbox.fds.get_mut(&fd) else {
                return Ok(errno::BADF);
            };
            let pos = match whence {
                0 if offset >= 0 => SeekFrom::Start(offset as u64),
                1 => SeekFrom::Current(offset),
                2 => SeekFrom::End(offset),
                _ => return Ok(errno::INVAL),
            };
            match f.file.seek(pos) {
                Ok(p) => put_u64(mem, out, p).map(|()| errno::SUCCESS),
                Err(e) => Ok(io_errno(&e)),
            }
        },
    )?;
    linker.func_wrap(
        m,
        "fd_tell",
        |mut c: Caller<'_, Host>, fd: u32, out: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let Some(f) = host.sandbox.fds.get_mut(&fd) else {
                return Ok(if fd <= 2 { errno::SPIPE } else { errno::BADF });
            };
            match f.file.stream_position() {
                Ok(p) => put_u64(mem, out, p).map(|()| errno::SUCCESS),
                Err(e) => Ok(io_errno(&e)),
            }
        },
    )?;
    linker.func_wrap(m, "fd_close", |mut c: Caller<'_, Host>, fd: u32| -> i32 {
        if fd <= ROOT_FD {
            return errno::SUCCESS;
        }
        match c.data_mut().sandbox.fds.remove(&fd) {
            Some(_) => errno::SUCCESS,
            None => errno::BADF,
        }
    })?;
    linker.func_wrap(
        m,
        "fd_fdstat_get",
        |mut c: Caller<'_, Host>, fd: u32, out: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let (filetype, flags) = match fd {
                0..=2 => (FILETYPE_CHAR, 0u16),
                ROOT_FD => (FILETYPE_DIR, 0),
                _ => match host.sandbox.fds.get(&fd) {
                    Some(f) => (
                        if f.dir.is_some() {
                            FILETYPE_DIR
                        } else {
                            FILETYPE_FILE
                        },
                        if f.append { FDFLAG_APPEND as u16 } else { 0 },
                    ),
                    None => return Ok(errno::BADF),
                },
            };
            let buf = bytes_mut(mem, out, 24)?;
            buf.fill(0);
            buf[0] = filetype;
            buf[2..4].copy_from_slice(&flags.to_le_bytes());
            buf[8..16].copy_from_slice(&RIGHTS_ALL.to_le_bytes());
            buf[16..24].copy_from_slice(&RIGHTS_ALL.to_le_bytes());
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "fd_filestat_get",
        |mut c: Caller<'_, Host>, fd: u32, out: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            if fd <= ROOT_FD {
                let buf = bytes_mut(mem, out, 64)?;
                buf.fill(0);
                buf[16] = if fd == ROOT_FD {
                    FILETYPE_DIR
                } else {
                    FILETYPE_CHAR
                };
                return Ok(errno::SUCCESS);
            }
            let Some(f) = host.sandbox.fds.get(&fd) else {
                return Ok(errno::BADF);
            };
            match f.file.metadata() {
                Ok(md) => write_filestat(mem, out, &md).map(|()| errno::SUCCESS),
                Err(e) => Ok(io_errno(&e)),
            }
        },
    )?;
    linker.func_wrap(
        m,
        "fd_prestat_get",
        |mut c: Caller<'_, Host>, fd: u32, out: u32| -> Result<i32> {
            if fd != ROOT_FD {
                return Ok(errno::BADF);
            }
            let (mem, _) = split(&mut c)?;
            let buf = bytes_mut(mem, out, 8)?;
            buf.fill(0);
            buf[4..8].copy_from_slice(&1u32.to_le_bytes()); // name "/" is 1 byte
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "fd_prestat_dir_name",
        |mut c: Caller<'_, Host>, fd: u32, ptr: u32, len: u32| -> Result<i32> {
            if fd != ROOT_FD {
                return Ok(errno::BADF);
            }
            if len < 1 {
                return Ok(errno::INVAL);
            }
            let (mem, _) = split(&mut c)?;
            bytes_mut(mem, ptr, 1)?[0] = b'/';
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "fd_readdir",
        |mut c: Caller<'_, Host>,
         fd: u32,
         buf: u32,
         len: u32,
         cookie: u64,
         used: u32|
         -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let dir = match host.sandbox.fds.get_mut(&fd) {
                Some(OpenFile { dir: Some(d), .. }) => d,
                Some(_) => return Ok(errno::NOTDIR),
                // The pre-opened `/` stands for every granted path: it is not listed.
                None if fd == ROOT_FD => return Ok(errno::NOTCAPABLE),
                None => return Ok(errno::BADF),
            };
            if cookie == 0 || !dir.listed {
                if let Err(e) = dir.list() {
                    return Ok(io_errno(&e));
                }
            }
            // Entries from `cookie` on, each a 24-byte dirent and the name, as many as
            // fit; the last one may be cut (the guest then asks again with a larger
            // buffer), as WASI specifies.
            let out = bytes_mut(mem, buf, len as usize)?;
            let mut n = 0usize;
            let start = usize::try_from(cookie).unwrap_or(usize::MAX);
            for (i, (name, kind, ino)) in dir.entries.iter().enumerate().skip(start) {
                let mut head = [0u8; 24];
                head[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
                head[8..16].copy_from_slice(&ino.to_le_bytes());
                head[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
                head[20] = *kind;
                for part in [&head[..], name.as_slice()] {
                    let k = part.len().min(out.len() - n);
                    out[n..n + k].copy_from_slice(&part[..k]);
                    n += k;
                }
                if n == out.len() {
                    break;
                }
            }
            put_u32(mem, used, n as u32)?;
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "path_open",
        |mut c: Caller<'_, Host>,
         dirfd: u32,
         _dirflags: u32,
         path: u32,
         path_len: u32,
         oflags: u32,
         rights: u64,
         _inheriting: u64,
         fdflags: u32,
         out: u32|
         -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let Ok(guest) = std::str::from_utf8(bytes(mem, path, path_len)?) else {
                return Ok(errno::INVAL);
            };
            if host.sandbox.fds.len() >= MAX_OPEN {
                return Ok(errno::MFILE);
            }
            let create = oflags & OFLAG_CREAT != 0;
            let trunc = oflags & OFLAG_TRUNC != 0;
            let append = fdflags & FDFLAG_APPEND != 0;
            let write = rights & RIGHT_FD_WRITE != 0 || create || trunc || append;
            let (host_path, entity) = match host.sandbox.resolve(dirfd, guest, write) {
                Ok(r) => r,
                Err(e) => return Ok(e),
            };
            let (opened, append, dir) = if host_path.is_dir() {
                if write {
                    return Ok(errno::ISDIR);
                }
                if entity {
                    // `files` mode grants the entity's file, not a folder's contents.
                    return Ok(errno::NOTCAPABLE);
                }
                let dir = OpenDir {
                    host: host_path.clone(),
                    entries: Vec::new(),
                    listed: false,
                };
                (File::open(&host_path), false, Some(dir))
            } else {
                if oflags & OFLAG_DIRECTORY != 0 {
                    return Ok(errno::NOTDIR);
                }
                let mut opts = OpenOptions::new();
                opts.read(true).write(write && !append).append(append);
                if oflags & OFLAG_EXCL != 0 && create {
                    opts.create_new(true);
                } else {
                    opts.create(create);
                }
                opts.truncate(trunc);
                // `host_path` is canonical (no symbolic link left) except for a file
                // about to be created; refusing to follow a link there keeps a dangling
                // link in a granted folder from creating a file outside it.
                #[cfg(target_os = "linux")]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    const O_NOFOLLOW: i32 = 0o400000;
                    opts.custom_flags(O_NOFOLLOW);
                }
                (opts.open(&host_path), append, None)
            };
            let file = match opened {
                Ok(f) => f,
                Err(e) => return Ok(io_errno(&e)),
            };
            let fd = host.sandbox.next_fd();
            host.sandbox.fds.insert(
                fd,
                OpenFile {
                    file,
                    entity,
                    append,
                    dir,
                },
            );
            put_u32(mem, out, fd)?;
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "path_filestat_get",
        |mut c: Caller<'_, Host>,
         dirfd: u32,
         _flags: u32,
         path: u32,
         path_len: u32,
         out: u32|
         -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let Ok(guest) = std::str::from_utf8(bytes(mem, path, path_len)?) else {
                return Ok(errno::INVAL);
            };
            let (host_path, _) = match host.sandbox.resolve(dirfd, guest, false) {
                Ok(r) => r,
                Err(e) => return Ok(e),
            };
            match std::fs::metadata(host_path) {
                Ok(md) => write_filestat(mem, out, &md).map(|()| errno::SUCCESS),
                Err(e) => Ok(io_errno(&e)),
            }
        },
    )?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(
            m,
            name,
            |mut c: Caller<'_, Host>, count: u32, size: u32| -> Result<i32> {
                let (mem, _) = split(&mut c)?;
                put_u32(mem, count, 0)?;
                put_u32(mem, size, 0)?;
                Ok(errno::SUCCESS)
            },
        )?;
    }
    for name in ["environ_get", "args_get"] {
        linker.func_wrap(m, name, |_: Caller<'_, Host>, _: u32, _: u32| -> i32 {
            errno::SUCCESS
        })?;
    }
    linker.func_wrap(
        m,
        "clock_time_get",
        |_: Caller<'_, Host>, _id: u32, _precision: u64, _out: u32| -> i32 { errno::NOTCAPABLE },
    )?;
    linker.func_wrap(
        m,
        "clock_res_get",
        |_: Caller<'_, Host>, _id: u32, _out: u32| -> i32 { errno::NOTCAPABLE },
    )?;
    linker.func_wrap(
        m,
        "random_get",
        |mut c: Caller<'_, Host>, ptr: u32, len: u32| -> Result<i32> {
            let (mem, host) = split(&mut c)?;
            let buf = bytes_mut(mem, ptr, len as usize)?;
            for chunk in buf.chunks_mut(8) {
                let r = host.sandbox.next_random().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            Ok(errno::SUCCESS)
        },
    )?;
    linker.func_wrap(
        m,
        "proc_exit",
        |_: Caller<'_, Host>, code: i32| -> Result<()> { Err(Error::new(Exit(code))) },
    )?;
    linker.func_wrap(m, "sched_yield", |_: Caller<'_, Host>| -> i32 {
        errno::SUCCESS
    })?;

    // Everything else the module imports from WASI: ENOSYS, or a trap for a function
    // that cannot return an errno.
    for import in module.imports() {
        if import.module() != WASI_MODULE || IMPLEMENTED.contains(&import.name()) {
            continue;
        }
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let name = import.name().to_string();
        let returns_errno =
            ty.results().len() == 1 && matches!(ty.results().next(), Some(ValType::I32));
        linker.func_new(m, import.name(), ty, move |_, _, results| {
            if returns_errno {
                results[0] = Val::I32(errno::NOSYS);
                Ok(())
            } else {
                Err(Error::msg(format!(
                    "the plugin called the WASI function {name}, which polyplug does not offer"
                )))
            }
        })?;
    }
    Ok(())
}
