//! One module per subcommand; `dispatch` routes the parsed command line.

pub mod config;
pub mod get_token;
pub mod refresh;

use crate::cli::{Command, ConfigCommand};
use crate::error::Result;

pub fn dispatch(command: &Command) -> Result<()> {
    match command {
        Command::GetToken(args) => get_token::run(args),
        Command::Refresh(args) => refresh::run(args),
        Command::Config(ConfigCommand::Create(args)) => config::create(args),
        Command::Config(ConfigCommand::List(args)) => config::list(args),
    }
}
