//! Starting the system browser on the sign-in URL.
//!
//! `BROWSER` is honoured here because the `open` crate ignores it (its
//! documentation says so as of version 5.4). The variable contains one or more
//! commands separated by `:` (`;` on Windows). A `%s` in a command is
//! replaced by the URL, and otherwise the URL is appended as the last argument.

use std::process::{Command, Stdio};

use tracing::debug;

/// Opens `url` in a browser. Returns why no browser could be started.
pub fn open_url(url: &str) -> Result<(), String> {
    if let Some(reason) = crate::ui::interaction_off_reason() {
        return Err(format!(
            "no browser is started while interaction is off ({reason}); drop --no-interactive \
             or unset CI to sign in with a browser"
        ));
    }
    let browser_variable = std::env::var("BROWSER")
        .ok()
        .filter(|v| !v.trim().is_empty());
    if let Some(value) = browser_variable {
        return open_with_browser_variable(&value, url);
    }
    if let Some(reason) = missing_graphical_session() {
        return Err(reason);
    }
    // Without a terminal on stdin no person may be present to use a browser,
    // so only an explicit BROWSER command is started then.
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(
            "stdin is not a terminal, so no browser is started unless BROWSER names one"
                .to_string(),
        );
    }
    open::that_detached(url).map_err(|e| format!("no program could open the URL ({e})"))
}

fn open_with_browser_variable(value: &str, url: &str) -> Result<(), String> {
    let separator = if cfg!(windows) { ';' } else { ':' };
    let mut failures = Vec::new();
    for entry in value.split(separator).filter(|e| !e.trim().is_empty()) {
        let mut words = entry.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        let mut args: Vec<String> = words.map(str::to_string).collect();
        if args.iter().any(|a| a.contains("%s")) {
            for arg in &mut args {
                *arg = arg.replace("%s", url);
            }
        } else {
            args.push(url.to_string());
        }
        // The browser must not write to stdout, which holds only the token,
        // nor read the terminal the tool may prompt on.
        let spawned = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(mut child) => {
                debug!("started BROWSER entry `{program}`");
                // Reap the process when it ends, without waiting for it here:
                // a graphical browser may run long after the sign-in.
                let _ = std::thread::Builder::new()
                    .name("browser".into())
                    .spawn(move || {
                        let _ = child.wait();
                    });
                return Ok(());
            }
            Err(e) => failures.push(format!("`{program}`: {e}")),
        }
    }
    Err(format!(
        "no command in BROWSER could be started ({})",
        if failures.is_empty() {
            "it names no command".to_string()
        } else {
            failures.join("; ")
        }
    ))
}

/// On Linux and the BSDs a browser needs an X11 or Wayland session, except
/// under WSL, where the `open` crate hands the URL to Windows. Returns the
/// reason when there is none.
fn missing_graphical_session() -> Option<String> {
    if cfg!(any(target_os = "macos", target_os = "windows")) || is_wsl() {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        return None;
    }
    let ssh = if set("SSH_CONNECTION") || set("SSH_TTY") {
        " (this is an SSH session)"
    } else {
        ""
    };
    Some(format!(
        "there is no graphical session{ssh}: neither DISPLAY nor WAYLAND_DISPLAY is set, and \
         BROWSER is not set"
    ))
}

fn is_wsl() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    if std::env::var_os("WSL_DISTRO_NAME").is_some() {
        return true;
    }
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.to_ascii_lowercase().contains("microsoft"))
        .unwrap_or(false)
}
