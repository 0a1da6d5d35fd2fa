//! The `polyplug` command line. It is the only crate that knows Prenacs' argument
//! syntax and the only one that wires loaders, runner and outputs together.

mod args;
mod build;
mod discover;
mod info;
mod new;
mod run;
mod store;

use clap::Parser;

/// mimalloc: entities are allocated by the reader thread and freed by the writer
/// thread; glibc's allocator spends a third of a trivial plugin's run on that
/// cross-thread traffic (see ARCHITECTURE.md, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when an entity failed or the run stopped early.
pub const EXIT_FAILED: i32 = 1;
/// Exit status for bad usage, a plugin that cannot load, or bad input.
pub const EXIT_USAGE: i32 = 2;
/// Exit status after an interrupt.
pub const EXIT_INTERRUPTED: i32 = 130;

fn main() {
    let cli = args::Cli::parse();
    let code = match cli.command {
        args::Command::Run(a) => run::run(*a),
        args::Command::List(a) => info::list(a),
        args::Command::Info(a) => info::info(a),
        args::Command::Check(a) => info::check(a),
        args::Command::Build(a) => build::build(a),
        args::Command::New(a) => new::new(a),
        args::Command::Worker(a) => match a.kind.as_str() {
            "python" => polyplug_loader_python::worker_main(),
            other => {
                error(format!("unknown worker kind '{other}'"));
                EXIT_USAGE
            }
        },
        args::Command::Attrs(a) => store::attrs(a),
        args::Command::Load(a) => store::load(a),
        args::Command::Query(a) => store::query(a),
        args::Command::Runs(a) => store::runs(a),
        args::Command::Export(a) => store::export(a),
    };
    std::process::exit(code);
}

/// Prints an error as `polyplug: <message>` on stderr.
pub fn error(message: impl std::fmt::Display) {
    eprintln!("polyplug: {message}");
}
