//! A look at a library's ELF headers before `dlopen`: a file that is not a shared
//! library for this machine, or that is shorter than its own headers say, gets an
//! error that says what is wrong with it. `dlopen` would say little ("file too
//! short"), or map a truncated file and die of SIGBUS when touching the missing part.

use object::elf::{self, FileHeader64, ProgramHeader64, SectionHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadCache, ReadRef};
use std::fs::File;
use std::path::Path;

/// `Err` with what is wrong with the file at `path` as a shared library for this
/// machine; `Ok` when it is one as far as its headers tell (then `dlopen` decides).
pub fn check(path: &Path) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?
        .len();
    let data = ReadCache::new(file);
    let magic = data.read_bytes_at(0, 4).unwrap_or_default();
    if magic != elf::ELFMAG {
        return Err(format!(
            "it is not a shared library (no ELF header: it starts with {:?})",
            String::from_utf8_lossy(magic)
        ));
    }
    let ident = data.read_bytes_at(4, 1).unwrap_or_default();
    if ident == [elf::ELFCLASS32] {
        return Err(
            "it is a 32-bit library and polyplug is a 64-bit program: build it \
                    for 64 bits"
                .into(),
        );
    }
    let header = FileHeader64::<Endianness>::parse(&data)
        .map_err(|_| truncated(size, "where an ELF header alone is 64 bytes"))?;
    let endian = header
        .endian()
        .map_err(|_| "its ELF header names no known byte order".to_string())?;
    let machine = header.e_machine(endian);
    if let Some(ours) = HOST_MACHINE {
        if machine != ours {
            return Err(format!(
                "it is built for {} and this machine is {}: build it here",
                machine_name(machine),
                machine_name(ours)
            ));
        }
    }
    match header.e_type(endian) {
        elf::ET_DYN => {}
        elf::ET_EXEC => {
            return Err(
                "it is a program, not a shared library: link it with -shared (C), \
                 --app:lib (Nim) or crate-type = [\"cdylib\"] (Rust)"
                    .into(),
            )
        }
        elf::ET_REL => {
            return Err(
                "it is an object file, not a shared library: link it with -shared \
                 (C), --app:lib (Nim) or crate-type = [\"cdylib\"] (Rust)"
                    .into(),
            )
        }
        t => {
            return Err(format!(
                "it is an ELF file of type {t}, not a shared library"
            ))
        }
    }
    // Every table and segment the headers describe must be in the file.
    let mut needed = 0u64;
    let phnum = header
        .phnum(endian, &data)
        .map_err(|_| truncated(size, "where its headers point past its end"))?;
    let phoff: u64 = header.e_phoff(endian);
    needed = needed.max(phoff + (phnum * size_of::<ProgramHeader64<Endianness>>()) as u64);
    let shnum = header
        .shnum(endian, &data)
        .map_err(|_| truncated(size, "where its headers point past its end"))?;
    let shoff: u64 = header.e_shoff(endian);
    if shnum > 0 {
        needed = needed.max(shoff + (shnum * size_of::<SectionHeader64<Endianness>>()) as u64);
    }
    if needed > size {
        return Err(truncated(
            size,
            &format!("where its ELF headers describe {needed} bytes"),
        ));
    }
    let segments = header
        .program_headers(endian, &data)
        .map_err(|_| truncated(size, "where its headers point past its end"))?;
    for segment in segments {
        needed = needed.max(segment.p_offset(endian) + segment.p_filesz(endian));
    }
    if needed > size {
        return Err(truncated(
            size,
            &format!("where its ELF headers describe {needed} bytes"),
        ));
    }
    Ok(())
}

/// `where` completes "it is truncated: N bytes, ...".
fn truncated(size: u64, r#where: &str) -> String {
    format!(
        "it is truncated: {size} bytes, {where} (copied or written incompletely?): build \
         it or copy it again"
    )
}

/// The ELF machine of this build of polyplug.
const HOST_MACHINE: Option<u16> = if cfg!(target_arch = "x86_64") {
    Some(elf::EM_X86_64)
} else if cfg!(target_arch = "aarch64") {
    Some(elf::EM_AARCH64)
} else {
    None
};

fn machine_name(machine: u16) -> String {
    match machine {
        elf::EM_X86_64 => "x86_64".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_386 => "x86 (32-bit)".into(),
        elf::EM_ARM => "arm (32-bit)".into(),
        elf::EM_RISCV => "riscv".into(),
        elf::EM_PPC64 => "powerpc64".into(),
        elf::EM_S390 => "s390x".into(),
        other => format!("ELF machine {other}"),
    }
}
