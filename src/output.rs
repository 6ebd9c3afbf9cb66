//! Rendering a token for stdout or `--file`, and the human summary for
//! stderr.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::token::Token;
use crate::ui;

/// Renders the token as the chosen format, newline included.
pub fn render(token: &Token, format: OutputFormat, now: OffsetDateTime) -> String {
    match format {
        OutputFormat::Token => format!("{}\n", token.access_token.expose()),
        OutputFormat::Json => {
            let value = json!({
                "token_type": token.token_type,
                "access_token": token.access_token.expose(),
                "expires_in": token.expires_in(now),
                "expires_on": rfc3339(token.expires_on),
                "expires_on_epoch": token.expires_on.unix_timestamp(),
                "scope": token.scopes.join(" "),
                "from_cache": token.from_cache,
            });
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            text
        }
        OutputFormat::Env => render_env(token, now),
        OutputFormat::ExecCredential => {
            crate::exec_credential::render(token, &crate::exec_credential::ExecInfo::default())
        }
    }
}

/// Renders POSIX shell `export` lines, for `eval "$(entratool get-token -o env)"`.
/// Every value is single-quoted, so no character in it is expanded.
fn render_env(token: &Token, now: OffsetDateTime) -> String {
    let lines = [
        (
            "ENTRATOOL_ACCESS_TOKEN",
            token.access_token.expose().to_string(),
        ),
        ("ENTRATOOL_TOKEN_TYPE", token.token_type.clone()),
        ("ENTRATOOL_EXPIRES_ON", rfc3339(token.expires_on)),
        (
            "ENTRATOOL_EXPIRES_ON_EPOCH",
            token.expires_on.unix_timestamp().to_string(),
        ),
        ("ENTRATOOL_EXPIRES_IN", token.expires_in(now).to_string()),
        ("ENTRATOOL_SCOPE", token.scopes.join(" ")),
    ];
    let mut text = String::new();
    for (name, value) in lines {
        text.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    text
}

/// Quotes a value for a POSIX shell: inside single quotes nothing is
/// special, and a single quote itself is written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Formats a moment as RFC 3339 in UTC with whole seconds, such as
/// `2026-01-01T12:00:00Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Sends the rendered token to `--file` (0600) or stdout.
pub fn deliver(rendered: &str, file: Option<&Path>, silent: bool) -> Result<()> {
    match file {
        Some(path) => {
            fsutil::write_private(path, rendered.as_bytes())?;
            if !silent {
                ui::note(&format!("Token written to {}", path.display()));
            }
            Ok(())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::Other(format!("cannot write the token to stdout: {e}")))
        }
    }
}

/// Prints a short summary of the token on stderr.
pub fn print_summary(token: &Token, profile: &str, flow: &str, now: OffsetDateTime) {
    let minutes = token.expires_in(now) / 60;
    let source = if token.from_cache { "cached" } else { "new" };
    ui::note(&format!(
        "{} {source} token for profile {} ({flow}), expires {} (in {minutes} min)",
        ui::bold("✓"),
        ui::bold(profile),
        rfc3339(token.expires_on),
    ));
    if !token.scopes.is_empty() {
        ui::note(&format!("  scopes: {}", token.scopes.join(" ")));
    }
}

/// Renders a left-aligned text table: the header, then one line a row, the
/// columns two spaces apart and as wide as their widest cell.
pub fn render_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &[&str]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    push_row(header);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_handles_quotes() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$HOME `x`"), "'$HOME `x`'");
    }
}
