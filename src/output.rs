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
                "scope": token.scopes.join(" "),
                "from_cache": token.from_cache,
            });
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

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
