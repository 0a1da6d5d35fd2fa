//! The WASI preview 1 functions (`wasi_snapshot_preview1`) a guest may import, over
//! the [`Sandbox`](crate::sandbox::Sandbox) of its instance: files and folders only as granted, standard
//! streams to the console, no clock, environment, arguments or network.

use crate::mem::{bytes, bytes_mut, iovecs, put_u32, put_u64, split};
use crate::sandbox::{errno, io_errno, OpenDir, OpenFile};
use crate::sandbox::{
    FDFLAG_APPEND, FILETYPE_CHAR, FILETYPE_DIR, FILETYPE_FILE, MAX_OPEN, OFLAG_CREAT,
    OFLAG_DIRECTORY, OFLAG_EXCL, OFLAG_TRUNC, RIGHTS_ALL, RIGHT_FD_SEEK, RIGHT_FD_TELL,
    RIGHT_FD_WRITE, ROOT_FD,
};
use crate::state::Host;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use wasmtime::{Caller, Error, Linker, Module, Result, Val, ValType};

/// The WASI preview 1 import module.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

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
                    // The guest's stdout and stderr both go to the console (polyplug's
                    // stderr): polyplug's stdout may be the results table. Under
                    // --log-dir, a compute's go to the entity's files.
                    1 | 2 => {
                        match (&mut host.captured, fd) {
                            (Some((out, _)), 1) => out.extend_from_slice(data),
                            (Some((_, err)), _) => err.extend_from_slice(data),
                            (None, _) => host.console.plugin_output(data),
                        }
                        Ok(data.len())
                    }
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
            // The standard streams are a terminal to the guest (a character device it
            // cannot seek on): its C library then writes stdout line by line, so
            // that each compute's lines reach the console, or its --log-dir file,
            // with it rather than with a later one.
            let rights = match fd {
                0..=2 => RIGHTS_ALL & !(RIGHT_FD_SEEK | RIGHT_FD_TELL),
                _ => RIGHTS_ALL,
            };
            let buf = bytes_mut(mem, out, 24)?;
            buf.fill(0);
            buf[0] = filetype;
            buf[2..4].copy_from_slice(&flags.to_le_bytes());
            buf[8..16].copy_from_slice(&rights.to_le_bytes());
            buf[16..24].copy_from_slice(&rights.to_le_bytes());
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
