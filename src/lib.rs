//! entratool: get Microsoft Entra ID access tokens from a terminal, a script
//! or a CI step.

pub mod cache;
pub mod certificate;
pub mod cli;
pub mod clipboard;
pub mod commands;
pub mod env;
pub mod environment;
pub mod error;
pub mod exec_credential;
pub mod export;
pub mod federated;
pub mod flows;
pub mod fsutil;
pub mod jwt;
pub mod output;
pub mod profile;
pub mod secrets;
pub mod token;
pub mod ui;

use clap::Parser;

use crate::error::ExitCode;

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> std::process::ExitCode {
    // The clipboard holder is an internal mode, kept out of the clap tree so
    // it appears in no help or completion.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == clipboard::HOLDER_COMMAND)
    {
        return clipboard::hold();
    }
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
    init_logging(cli.verbose);
    if cli.no_interactive {
        ui::disable_interaction("--no-interactive is set");
    }
    if let Some(path) = &cli.ca_file {
        token::client::trust_ca_file(path.clone());
    }

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

/// Sends tracing output to stderr: `-v` shows decisions and requests,
/// `-vv` adds details, and `RUST_LOG` replaces both.
fn init_logging(verbosity: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => tracing_subscriber::EnvFilter::new(value),
        _ => match verbosity {
            0 => return,
            1 => tracing_subscriber::EnvFilter::new("entratool=info"),
            _ => tracing_subscriber::EnvFilter::new("entratool=debug"),
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ui::stderr_is_terminal())
        .try_init();
}
