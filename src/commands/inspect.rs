//! `inspect`: decode a JWT locally and show its header, claims and validity.
//! The token is never sent anywhere and its signature is not checked.

use std::io::{IsTerminal, Read, Write};

use serde_json::{json, Map, Value};
use time::{OffsetDateTime, UtcOffset};

use crate::cli::{InspectArgs, InspectFormat};
use crate::error::{Error, Result};
use crate::jwt::{self, DecodedJwt};

/// Claims people look for first when debugging permissions.
const KEY_CLAIMS: [&str; 9] = [
    "aud", "scp", "roles", "tid", "appid", "azp", "oid", "upn", "iss",
];

/// Claims holding a NumericDate, shown with the date beside the number.
const DATE_CLAIMS: [&str; 4] = ["exp", "nbf", "iat", "auth_time"];

/// Largest token file read; Entra access tokens are a few kilobytes.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

pub fn run(args: &InspectArgs) -> Result<()> {
    // Read the local offset before anything could start a thread: the time
    // crate refuses to read it in a multi-threaded process on Unix.
    let local_offset = UtcOffset::current_local_offset().ok();
    let input = read_input(args)?;
    let decoded = jwt::decode(&input)
        .map_err(|e| Error::InvalidInput(format!("cannot read the token: {e}")))?;
    let now = OffsetDateTime::now_utc();
    let validity = Validity::of(&decoded.claims, now);

    let text = match args.output {
        InspectFormat::Json => render_json(&decoded, args),
        InspectFormat::Text => render_text(&decoded, &validity, args, local_offset),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))?;

    match validity.expires {
        Some(expires) if expires <= now => Err(Error::TokenExpired(format!(
            "the token expired {} ago, at {}",
            describe_span(now - expires),
            crate::output::rfc3339(expires)
        ))),
        _ => Ok(()),
    }
}

fn read_input(args: &InspectArgs) -> Result<String> {
    let mut bytes = Vec::new();
    if let Some(path) = &args.file {
        let file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
        file.take(MAX_TOKEN_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading", path, e))?;
    } else {
        match args.token.as_deref() {
            Some(token) if token != "-" => return Ok(token.to_string()),
            Some(_) => {}
            None if std::io::stdin().is_terminal() => {
                return Err(Error::Usage(
                    "no token given: pass it as an argument, `-` to read stdin, --file PATH, or \
                     pipe it in"
                        .to_string(),
                ))
            }
            None => {}
        }
        std::io::stdin()
            .lock()
            .take(MAX_TOKEN_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Other(format!("cannot read the token from stdin: {e}")))?;
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::InvalidInput("cannot read the token: it is not UTF-8 text".to_string()))
}

/// The token's validity window.
struct Validity {
    not_before: Option<OffsetDateTime>,
    expires: Option<OffsetDateTime>,
    issued: Option<OffsetDateTime>,
    now: OffsetDateTime,
}

impl Validity {
    fn of(claims: &Map<String, Value>, now: OffsetDateTime) -> Validity {
        let date = |name| {
            jwt::numeric_date(claims, name)
                .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        };
        Validity {
            not_before: date("nbf"),
            expires: date("exp"),
            issued: date("iat"),
            now,
        }
    }

    fn status(&self) -> String {
        match (self.not_before, self.expires) {
            (_, Some(expires)) if expires <= self.now => {
                format!("EXPIRED {} ago", describe_span(self.now - expires))
            }
            (Some(nbf), _) if nbf > self.now => {
                format!(
                    "not valid yet (starts in {})",
                    describe_span(nbf - self.now)
                )
            }
            (_, Some(expires)) => format!("valid, {} left", describe_span(expires - self.now)),
            (_, None) => "no expiry (the token has no exp claim)".to_string(),
        }
    }
}

/// Formats a span as `1h 5m`, `4m 10s` or `12s`.
fn describe_span(span: time::Duration) -> String {
    let total = span.whole_seconds().unsigned_abs();
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn render_json(decoded: &DecodedJwt, args: &InspectArgs) -> String {
    let value = if args.claims {
        Value::Object(sorted(&decoded.claims))
    } else if args.header {
        Value::Object(decoded.header.clone())
    } else {
        json!({ "header": decoded.header, "claims": sorted(&decoded.claims) })
    };
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn sorted(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn render_text(
    decoded: &DecodedJwt,
    validity: &Validity,
    args: &InspectArgs,
    local_offset: Option<UtcOffset>,
) -> String {
    let mut out = String::new();
    let show_all = !args.claims && !args.header;

    if show_all || args.header {
        out.push_str("Header\n");
        let mut rows = Vec::new();
        for name in ["alg", "typ", "kid"] {
            let value = decoded.header.get(name).map_or("-".to_string(), display);
            rows.push((name.to_string(), value));
        }
        for (name, value) in sorted(&decoded.header) {
            if !["alg", "typ", "kid"].contains(&name.as_str()) {
                rows.push((name, display(&value)));
            }
        }
        push_rows(&mut out, &rows);
    }

    if show_all {
        let rows: Vec<(String, String)> = KEY_CLAIMS
            .iter()
            .filter_map(|name| {
                decoded
                    .claims
                    .get(*name)
                    .map(|value| (name.to_string(), display(value)))
            })
            .collect();
        out.push_str("\nKey claims\n");
        if rows.is_empty() {
            out.push_str("  (none of aud, scp, roles, tid, appid, azp, oid, upn, iss)\n");
        } else {
            push_rows(&mut out, &rows);
        }

        out.push_str("\nValidity\n");
        let when = |at: Option<OffsetDateTime>| {
            at.map_or("-".to_string(), |at| format_time(at, local_offset))
        };
        push_rows(
            &mut out,
            &[
                ("issued".to_string(), when(validity.issued)),
                ("valid from".to_string(), when(validity.not_before)),
                ("valid to".to_string(), when(validity.expires)),
                ("status".to_string(), validity.status()),
            ],
        );
        out.push('\n');
    }

    if show_all || args.claims {
        out.push_str("Claims\n");
        let rows: Vec<(String, String)> = sorted(&decoded.claims)
            .into_iter()
            .map(|(name, value)| {
                let mut shown = display(&value);
                if DATE_CLAIMS.contains(&name.as_str()) {
                    if let Some(at) = jwt::numeric_date(&decoded.claims, &name)
                        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
                    {
                        shown = format!("{shown} ({})", crate::output::rfc3339(at));
                    }
                }
                (name, shown)
            })
            .collect();
        push_rows(&mut out, &rows);
    }
    out
}

/// Formats an instant in local time and in UTC; when the local offset is
/// unknown only UTC is shown.
fn format_time(at: OffsetDateTime, local_offset: Option<UtcOffset>) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    let utc = at
        .to_offset(UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default();
    match local_offset.filter(|offset| !offset.is_utc()) {
        Some(offset) => format!(
            "{} ({utc})",
            at.to_offset(offset).format(format).unwrap_or_default()
        ),
        None => utc,
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn push_rows(out: &mut String, rows: &[(String, String)]) {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in rows {
        out.push_str(&format!("  {name:<width$}  {value}\n"));
    }
}
