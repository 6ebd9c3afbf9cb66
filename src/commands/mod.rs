//! One module per subcommand; `dispatch` routes the parsed command line.

pub mod config;
pub mod config_edit;
pub mod credential;
pub mod discover;
pub mod get_token;
pub mod inspect;
pub mod refresh;
pub mod transfer;

use crate::cli::{Command, ConfigCommand};
use crate::error::Result;

pub fn dispatch(command: &Command) -> Result<()> {
    match command {
        Command::GetToken(args) => get_token::run(args),
        Command::Refresh(args) => refresh::run(args),
        Command::Completions { shell } => print_completions(*shell),
        Command::Man => print_man_page(),
        Command::Config(ConfigCommand::Create(args)) => config::create(args),
        Command::Config(ConfigCommand::List(args)) => config::list(args),
        Command::Config(ConfigCommand::Edit(args)) => config_edit::edit(args),
        Command::Config(ConfigCommand::Delete(args)) => config_edit::delete(args),
        Command::Config(ConfigCommand::Export(args)) => transfer::export(args),
        Command::Config(ConfigCommand::Import(args)) => transfer::import(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Discover(args) => discover::run(args),
    }
}

fn print_completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut stdout = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "entratool", &mut stdout);
    Ok(())
}

fn print_man_page() -> Result<()> {
    let command = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut stdout = std::io::stdout().lock();
    match clap_mangen::Man::new(command).render(&mut stdout) {
        // A reader such as `head` that stops early is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::error::Error::Other(
            format!("cannot write the manual page: {e}"),
        )),
        _ => Ok(()),
    }
}
