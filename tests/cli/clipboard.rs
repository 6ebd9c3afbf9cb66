//! Clipboard copy in a terminal, read back from a real X server, and the
//! file fallback without one. `script` (util-linux) gives the binary a
//! pseudo-terminal as stdout; `scripts/with-xvfb.sh` starts the X server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::CLIENT_SECRET;

/// Runs `entratool ARGS` with a pseudo-terminal as stdout, through
/// `script`, and returns what the terminal showed.
fn run_in_terminal(env: &TestEnv, args: &str, display: Option<&str>) -> std::process::Output {
    let binary = assert_cmd::cargo::cargo_bin("entratool");
    let mut command = Command::new("script");
    command
        .args(["-qec", &format!("{} {args}", binary.display()), "/dev/null"])
        .env("ENTRATOOL_CONFIG_DIR", env.config_dir())
        .env("ENTRATOOL_AUTHORITY", env.server.url())
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .env_remove("WAYLAND_DISPLAY");
    match display {
        Some(display) => command.env("DISPLAY", display),
        None => command.env_remove("DISPLAY"),
    };
    command.output().expect("run script(1) from util-linux")
}

fn read_clipboard(display: &str) -> String {
    let output = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", display)
        .output()
        .expect("run xclip");
    assert!(output.status.success(), "xclip: {}", stderr_of(&output));
    stdout_of(&output)
}

fn test_display() -> String {
    std::env::var("ENTRATOOL_TEST_DISPLAY").expect(
        "ENTRATOOL_TEST_DISPLAY is unset: run the tests with scripts/test.sh, which starts Xvfb",
    )
}

fn fallback_file(env: &TestEnv) -> std::path::PathBuf {
    env.config_dir().join("last-token.txt")
}

#[test]
fn token_is_copied_and_read_back_from_x11() {
    let display = test_display();
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = run_in_terminal(&env, "get-token -p app", Some(&display));
    let shown = stdout_of(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("Copied to the clipboard"), "{shown}");
    let token = shown
        .lines()
        .find(|l| l.trim().split('.').count() == 3 && l.starts_with("ey"))
        .expect("the token line")
        .trim()
        .to_string();

    // The copy outlives the entratool process.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read_clipboard(&display), token);
    assert!(!fallback_file(&env).exists(), "a fallback file was written");

    // Another program can take the clipboard over; the holder lets go.
    let mut other = Command::new("xclip")
        .args(["-selection", "clipboard", "-loops", "1"])
        .env("DISPLAY", &display)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    other
        .stdin
        .take()
        .unwrap()
        .write_all(b"something else")
        .unwrap();
    let mut seen = String::new();
    for _ in 0..100 {
        seen = read_clipboard(&display);
        if seen == "something else" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(seen, "something else");
    let _ = other.wait();
}

#[test]
fn without_display_token_goes_to_a_private_file() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = run_in_terminal(&env, "get-token -p app", None);
    let shown = stdout_of(&output);
    assert!(output.status.success(), "{shown}");
    let path = fallback_file(&env);
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(shown.contains(saved.trim()), "file and terminal disagree");
    assert_private(&path);
}

#[test]
fn no_clipboard_flag_skips_copy_and_file() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = run_in_terminal(&env, "get-token -p app --no-clipboard", None);
    assert!(output.status.success(), "{}", stdout_of(&output));
    assert!(!stdout_of(&output).contains("clipboard"));
    assert!(!fallback_file(&env).exists());
}

#[test]
fn piped_stdout_never_copies_or_writes_a_file() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(!stderr_of(&output).contains("clipboard"));
    assert!(!fallback_file(&env).exists());
}

fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}
