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
