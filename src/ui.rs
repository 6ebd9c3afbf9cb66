//! Messages for people, all on stderr: errors, warnings, notes and the
//! token summary. Colour only when stderr is a terminal and `NO_COLOR` is
//! unset.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use crate::env;

/// Reason prompts are off for this process, set by `--no-interactive` or
/// `KUBERNETES_EXEC_INFO` before any check of the terminal.
static PROMPTS_OFF: OnceLock<String> = OnceLock::new();

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Turns every prompt and browser launch into an error for the rest of the
/// process. `reason` names what asked for it, such as `--no-interactive`;
/// the first reason given is kept.
pub fn disable_interaction(reason: &str) {
    let _ = PROMPTS_OFF.set(reason.to_string());
}

/// Returns why the process may not interact with a person whatever the
/// terminal: `--no-interactive` (or another [`disable_interaction`] caller),
/// or `CI` or `TF_BUILD` set to a true value. A browser launch checks this.
pub fn interaction_off_reason() -> Option<String> {
    if let Some(reason) = PROMPTS_OFF.get() {
        return Some(reason.clone());
    }
    for name in [env::CI, env::TF_BUILD] {
        if let Some(value) = env::var(name) {
            if is_true(&value) {
                return Some(format!("{name}={value} is set"));
            }
        }
    }
    None
}

/// Returns why no prompt may be shown, or `None` when prompts are allowed:
/// any [`interaction_off_reason`], or stdin or stderr not being a terminal.
pub fn non_interactive_reason() -> Option<String> {
    if let Some(reason) = interaction_off_reason() {
        return Some(reason);
    }
    if !std::io::stdin().is_terminal() {
        return Some("stdin is not a terminal".to_string());
    }
    if !stderr_is_terminal() {
        return Some("stderr is not a terminal".to_string());
    }
    None
}

fn is_true(value: &str) -> bool {
    ["true", "1", "yes"]
        .iter()
        .any(|t| value.trim().eq_ignore_ascii_case(t))
}

/// True when the process may interact with a person: show prompts or open a
/// browser. False under `--no-interactive` or in CI, whatever the terminal.
pub fn interactive() -> bool {
    interaction_off_reason().is_none()
}

/// True when prompts can be shown and answered: interaction is allowed and
/// both stdin and stderr are terminals.
pub fn can_prompt() -> bool {
    non_interactive_reason().is_none()
}

/// Makes text from a server safe to print on a terminal: line breaks are
/// kept, tabs and carriage returns become spaces, and every other control
/// character (such as the ESC that starts a terminal escape sequence)
/// becomes U+FFFD.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' | '\r' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
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

/// Prints a plain status line on stderr.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_replaces_control_characters() {
        assert_eq!(
            printable("a\x1b]0;title\x07b\r\nc\td\u{9b}e"),
            "a\u{FFFD}]0;title\u{FFFD}b \nc d\u{FFFD}e"
        );
        assert_eq!(printable("plain text: é"), "plain text: é");
    }

    #[test]
    fn ci_values_that_count_as_true() {
        for value in ["true", "TRUE", "True", "1", "yes"] {
            assert!(is_true(value), "{value}");
        }
        for value in ["false", "0", "", "no"] {
            assert!(!is_true(value), "{value}");
        }
    }
}
