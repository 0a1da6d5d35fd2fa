//! Records where libpython is as the polyplug binary's rpath.
//!
//! polyplug embeds CPython (pyo3), so the binary needs `libpython3.X.so` at run time.
//! A Python installed outside the system folders (pyenv, a custom prefix) is not on
//! the dynamic loader's search path; the rpath makes the binary find the library it
//! was built against, on this machine and on any machine with Python installed at the
//! same place. The Python is the one pyo3 chooses: `PYO3_PYTHON`, else `python3` on
//! PATH.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(dir) = &config.lib_dir {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
