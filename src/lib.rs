//! entratool: get Microsoft Entra ID access tokens from a terminal, a script
//! or a CI step.

pub mod certificate;
pub mod cli;
pub mod commands;
pub mod env;
pub mod error;
pub mod flows;
pub mod fsutil;
pub mod output;
pub mod profile;
pub mod secrets;
pub mod token;
pub mod ui;

use clap::Parser;

use crate::error::ExitCode;

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with success; real usage errors
            // get their own exit code, since 2 means "profile not found".
            let code = if error.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
            let _ = error.print();
            return std::process::ExitCode::from(code as u8);
        }
    };
    init_logging();

    match commands::dispatch(&cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            ui::error(&error.to_string());
            if let Some(hint) = error.hint() {
                ui::hint(&hint);
            }
            std::process::ExitCode::from(error.exit_code() as u8)
        }
    }
}

fn init_logging() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => tracing_subscriber::EnvFilter::new(value),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ui::stderr_is_terminal())
        .try_init();
}
