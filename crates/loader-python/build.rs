//! Records which Python polyplug embeds (the one pyo3 links against, chosen by
//! `PYO3_PYTHON` or the `python3` on PATH at build time), for messages.

fn main() {
    let config = pyo3_build_config::get();
    println!(
        "cargo:rustc-env=POLYPLUG_PYTHON_VERSION={}.{}",
        config.version.major, config.version.minor
    );
    println!(
        "cargo:rustc-env=POLYPLUG_PYTHON_LIBDIR={}",
        config.lib_dir.as_deref().unwrap_or("")
    );
    println!(
        "cargo:rustc-env=POLYPLUG_PYTHON_EXECUTABLE={}",
        config.executable.as_deref().unwrap_or("")
    );
    // The crate's own unit-test binary finds libpython as the polyplug binary does.
    if let Some(dir) = &config.lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
