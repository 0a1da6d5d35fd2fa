//! The `polyplug` command line. It is the only crate that knows Prenacs' argument
//! syntax and the only one that wires loaders, runner and outputs together.

mod args;
mod discover;
mod info;
mod run;
mod store;

use clap::Parser;

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
