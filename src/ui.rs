//! Messages for people, all on stderr: errors, warnings, notes and the
//! token summary. Colour only when stderr is a terminal and `NO_COLOR` is
//! unset.

use std::io::{IsTerminal, Write};

use crate::env;

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// True when prompts can be shown and answered: both stdin and stderr are
/// terminals.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && stderr_is_terminal()
}

fn colour_enabled() -> bool {
    stderr_is_terminal() && std::env::var_os(env::NO_COLOR).is_none_or(|v| v.is_empty())
}

fn paint(code: &str, text: &str) -> String {
    if colour_enabled() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn write_line(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

pub fn error(message: &str) {
    write_line(&format!("{} {message}", paint("1;31", "error:")));
}

pub fn hint(message: &str) {
    write_line(&format!("{} {message}", paint("1;36", "hint:")));
}

pub fn warn(message: &str) {
    write_line(&format!("{} {message}", paint("1;33", "warning:")));
}

/// A plain status line.
pub fn note(message: &str) {
    write_line(message);
}

pub fn bold(text: &str) -> String {
    paint("1", text)
}

/// A spinner on stderr while the tool waits for a person. It is drawn only
/// when stderr is a terminal, and cleared when dropped, including on Ctrl-C
/// and timeouts.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    /// Starts the spinner unless `enabled` is false or stderr is not a
    /// terminal.
    pub fn start(message: &str, enabled: bool) -> Spinner {
        if !enabled || !stderr_is_terminal() {
            return Spinner(None);
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(Some(bar))
    }

    pub fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
