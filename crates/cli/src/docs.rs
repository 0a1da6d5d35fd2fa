//! `polyplug completions <shell>` and `polyplug man`: shell completions and man pages,
//! generated from the clap definitions, so they never disagree with the commands;
//! `polyplug sdk path|export`: the plugin SDK the binary carries.

use crate::args::{Cli, CompletionsArgs, ManArgs, SdkCommand};
use crate::{error, EXIT_FAILED};
use clap::CommandFactory;

/// Prints the completion script of `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> i32 {
    let mut command = visible(Cli::command());
    clap_complete::generate(args.shell, &mut command, "polyplug", &mut std::io::stdout());
    0
}

/// The command without its hidden subcommands (`__worker`), which the completion
/// generators would offer otherwise.
fn visible(command: clap::Command) -> clap::Command {
    let mut shown = clap::Command::new("polyplug")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true);
    if let Some(about) = command.get_about() {
        shown = shown.about(about.clone());
    }
    shown.subcommands(
        command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned(),
    )
}

/// Prints the main man page, or writes every page into `--dir`.
pub fn man(args: ManArgs) -> i32 {
    let command = Cli::command();
    let written = match &args.dir {
        None => clap_mangen::Man::new(command).render(&mut std::io::stdout()),
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(command, dir))
            .map(|()| {
                println!("man pages written to {}", dir.display());
            }),
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            error(match &args.dir {
                Some(dir) => format!("{}: cannot write the man pages: {e}", dir.display()),
                None => format!("cannot print the man page: {e}"),
            });
            EXIT_FAILED
        }
    }
}

/// `sdk path` (the SDK written into the cache, its folder printed) and `sdk export`.
pub fn sdk(command: SdkCommand) -> i32 {
    let done = match command {
        SdkCommand::Path => {
            polyplug_engine::sdk_folder(&polyplug_engine::core::LoadOptions::default())
                .map(|dir| println!("{}", dir.display()))
        }
        SdkCommand::Export(a) => polyplug_engine::export_sdk(&a.dir).map(|()| {
            println!("the polyplug plugin SDK is in {}", a.dir.display());
        }),
    };
    match done {
        Ok(()) => 0,
        Err(e) => {
            error(e);
            EXIT_FAILED
        }
    }
}
