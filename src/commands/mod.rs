//! One module per subcommand; `dispatch` routes the parsed command line.

pub mod config;
pub mod config_edit;
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
