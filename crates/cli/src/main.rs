//! The `polyplug` command line: it parses arguments (those of `prenacs batch-compute`
//! for `run`), calls the engine, prints, and maps outcomes to exit statuses. It is the
//! only crate that knows the argument syntax, prints, and calls
//! `std::process::exit`.

mod args;
mod args_cluster;
mod build;
mod console;
mod docs;
mod forward;
mod info;
mod k8s;
mod new;
mod run;
mod slurm;
mod status;
mod stores;

use clap::Parser;

/// mimalloc: entities are allocated by the reader thread and freed by the writer
/// thread; glibc's allocator spends a third of a trivial plugin's run on that
/// cross-thread traffic (see ARCHITECTURE.md, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's (its static library comes with the `mimalloc` crate): returns the
    /// memory its heaps hold free to the system; `force` also what it would keep
    /// for a while.
    fn mi_collect(force: bool);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    /// glibc's: returns the free memory of its arenas to the system. The C libraries
    /// in the process allocate there (SQLite, scanning a large store, keeps megabytes).
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// Gives the memory freed after the checks before a run back to the system (see
/// `polyplug_runner::set_give_back`): Rust's allocations are mimalloc's, the C
/// libraries' glibc's.
fn collect_memory() {
    // SAFETY: mi_collect takes no pointer; it walks the calling thread's heap and
    // mimalloc's shared arenas under their own locks, and touches only memory that
    // is free. It is the allocator this binary was linked with.
    unsafe { mi_collect(true) };
    // SAFETY: malloc_trim takes no pointer; it walks glibc's arenas under their own
    // locks and returns only free pages.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        malloc_trim(0)
    };
}

/// Turns transparent huge pages off for this process and the workers it starts.
/// mimalloc asks for huge pages on its arenas, and each first touch of one zeroes
/// 2 MiB: a run of a trivial plugin over a million IDs spent up to a tenth of its
/// time in the kernel clearing pages (`clear_page_erms`), and -j2 took about 9% less
/// time without them. (It is what mimalloc's own `MIMALLOC_ALLOW_THP=0` does.) The
/// workers that run a language runtime (Python, and Bash through its guard) turn
/// them back on for the plugin's code: `polyplug_engine::worker_main`.
fn small_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Exit status when an entity failed or the run stopped early.
pub const EXIT_FAILED: i32 = 1;
/// Exit status for bad usage, a plugin that cannot load, or bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit status after an interrupt.
pub const EXIT_INTERRUPTED: i32 = 130;

fn main() {
    small_pages();
    polyplug_engine::set_give_back(collect_memory);
    let cli = args::Cli::parse();
    let code = match cli.command {
        args::Command::Run(a) => run::run(*a),
        args::Command::List(a) => info::list(a),
        args::Command::Info(a) => info::info(a),
        args::Command::Check(a) => info::check(a),
        args::Command::Build(a) => build::build(a),
        args::Command::New(a) => new::new(a),
        args::Command::Index(a) => build::index(a),
        args::Command::Completions(a) => docs::completions(a),
        args::Command::Sdk(c) => docs::sdk(c),
        args::Command::Man(a) => docs::man(a),
        args::Command::Worker(a) => worker(&a.kind, &a.args),
        args::Command::Attrs(a) => stores::attrs(a),
        args::Command::Load(a) => stores::load(a),
        args::Command::Query(a) => stores::query(a),
        args::Command::Runs(a) => stores::runs(a),
        args::Command::Export(a) => stores::export(a),
        args::Command::Merge(a) => stores::merge(a),
        args::Command::Slurm(c) => slurm::slurm(c),
        args::Command::K8s(args::K8sCommand::Manifest(a)) => k8s::manifest(a),
    };
    std::process::exit(code);
}

/// `polyplug __worker <kind> <args>…`: a worker process of a run, or a worker's guard.
fn worker(kind: &str, args: &[String]) -> i32 {
    use polyplug_engine::WorkerEnd;
    match polyplug_engine::worker_main(kind, args) {
        Some(WorkerEnd::Exit(code)) => code,
        Some(WorkerEnd::Signal(signal)) => {
            // End as the guarded worker did: by its signal.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            128 + signal
        }
        Some(WorkerEnd::Failed(m)) => {
            error(format!("{kind} worker: {m}"));
            EXIT_USAGE
        }
        None => {
            error(format!("unknown worker kind '{kind}'"));
            EXIT_USAGE
        }
    }
}

/// Prints an error as `polyplug: <message>` on stderr.
pub fn error(message: impl std::fmt::Display) {
    eprintln!("polyplug: {message}");
}

/// Prints an error and gives the exit status for bad usage, or 0.
pub fn finish<E: std::fmt::Display>(r: Result<(), E>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            error(e);
            EXIT_USAGE
        }
    }
}
