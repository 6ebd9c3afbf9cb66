//! Copying the token to the clipboard, with a private file as the fallback
//! where no clipboard exists (no display, SSH, containers).
//!
//! On X11 a copy lives only as long as the process that made it, so on Linux
//! and the BSDs the tool starts itself again as a short-lived holder
//! (`entratool __hold-clipboard`), hands it the token over a pipe (never
//! argv, which other users can read in /proc) and waits until the holder
//! confirms the copy. The holder keeps the selection for
//! [`HOLD_FOR`] or until something else is copied.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::fsutil;
use crate::secrets::Secret;

/// How long the holder keeps the token on the clipboard.
pub const HOLD_FOR: Duration = Duration::from_secs(45);

/// The hidden subcommand that runs the holder.
pub const HOLDER_COMMAND: &str = "__hold-clipboard";

/// File written in the config folder when no clipboard is available.
pub const FALLBACK_FILE: &str = "last-token.txt";

/// Maximum wait for the holder to confirm the copy.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

pub enum Outcome {
    Copied,
    /// No clipboard: the token went to this 0600 file instead.
    WroteFile(PathBuf),
}

/// Copies the token, or writes it to the fallback file.
pub fn copy_token(token: &Secret, config_dir: &Path) -> Result<Outcome> {
    if copy_with_holder(token).is_ok() {
        return Ok(Outcome::Copied);
    }
    let path = config_dir.join(FALLBACK_FILE);
    fsutil::write_atomic(&path, format!("{}\n", token.expose()).as_bytes())?;
    Ok(Outcome::WroteFile(path))
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn copy_with_holder(token: &Secret) -> std::result::Result<(), String> {
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        return Err("no X display".into());
    }
    use std::os::unix::process::CommandExt;

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .arg(HOLDER_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory. A new
    // session detaches the holder from the terminal, so closing the
    // terminal (SIGHUP) does not end the copy early.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    {
        let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
        stdin
            .write_all(token.expose().as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    match receiver.recv_timeout(CONFIRM_TIMEOUT) {
        Ok(line) if line.trim() == "ready" => Ok(()),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("the clipboard holder did not confirm: {other:?}"))
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
fn copy_with_holder(token: &Secret) -> std::result::Result<(), String> {
    // macOS and Windows keep the copy after the process exits.
    let mut clipboard = arboard::Clipboard::new().map_err(|e| e.to_string())?;
    clipboard
        .set_text(token.expose().to_string())
        .map_err(|e| e.to_string())
}

/// Runs the holder: reads the token from stdin, takes the clipboard, prints
/// `ready` once the copy can be read back, then keeps the selection until
/// [`HOLD_FOR`] passes or another program copies something.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
pub fn hold() -> std::process::ExitCode {
    use arboard::SetExtLinux;

    let mut token = zeroize::Zeroizing::new(String::new());
    if std::io::stdin().read_to_string(&mut token).is_err() || token.is_empty() {
        return std::process::ExitCode::FAILURE;
    }
    let Ok(mut owner) = arboard::Clipboard::new() else {
        return std::process::ExitCode::FAILURE;
    };
    let deadline = Instant::now() + HOLD_FOR;
    let value = token.to_string();
    let holder = std::thread::spawn(move || {
        let _ = owner
            .set()
            .exclude_from_history()
            .wait_until(deadline)
            .text(value);
    });

    // Confirm only once another client can read the copy back.
    let confirmed = arboard::Clipboard::new().is_ok_and(|mut reader| {
        let give_up = Instant::now() + CONFIRM_TIMEOUT;
        while Instant::now() < give_up {
            if reader.get_text().is_ok_and(|text| text == *token) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    if !confirmed {
        return std::process::ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let _ = holder.join();
    std::process::ExitCode::SUCCESS
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
pub fn hold() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
