//! The config folder on disk: permission warnings, unusual paths, full and
//! read-only file systems, and the completion and manual page commands.

use std::path::Path;
use std::process::Command;

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, TENANT_ID};

const FIXTURE: &str = "tests/fixtures/original-profiles.json";

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn exposed_folder_and_file_get_a_warning() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string(FIXTURE).unwrap());
    set_mode(&env.config_dir(), 0o755);
    set_mode(&env.profiles_path(), 0o644);
    let output = env.cmd().args(["config", "list"]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("mode 755"), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
    assert!(stderr.contains("mode 644"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");

    set_mode(&env.config_dir(), 0o700);
    set_mode(&env.profiles_path(), 0o600);
    let output = env.cmd().args(["config", "list"]).output().unwrap();
    assert!(output.stderr.is_empty(), "{}", stderr_of(&output));
}

#[test]
fn config_folder_with_spaces_and_non_ascii_works() {
    let env = TestEnv::new();
    let folder = env.dir.path().join("Dossier de configuración ☃");
    let output = env
        .cmd()
        .env("ENTRATOOL_CONFIG_DIR", &folder)
        .args([
            "config",
            "create",
            "--name",
            "café app",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--no-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let output = env
        .cmd()
        .env("ENTRATOOL_CONFIG_DIR", &folder)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .args(["get-token", "-p", "CAFÉ APP"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output).lines().count(), 1);
    assert!(folder.join("profiles.json").exists());
}

/// Runs `config create` in a private mount namespace whose config folder is
/// a small tmpfs prepared by `setup` (shell), and reports whether the
/// profiles file survived unchanged.
fn create_on_tmpfs(env: &TestEnv, setup: &str) -> (std::process::Output, String) {
    let mount_point = env.dir.path().join("mnt");
    std::fs::create_dir_all(&mount_point).unwrap();
    let fixture = std::fs::canonicalize(FIXTURE).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("entratool");
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=32k,mode=700 tmpfs "$1"
cp "$3" "$1/profiles.json"
chmod 600 "$1/profiles.json"
{setup}
set +e
"$2" config create --name new --tenant-id {TENANT_ID} --client-id {CLIENT_ID} --no-secret
echo "exit=$?" >&2
if cmp -s "$1/profiles.json" "$3"; then echo unchanged; else echo changed; fi
ls -A "$1"
"#
    );
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script, "sh"])
        .arg(&mount_point)
        .arg(&binary)
        .arg(&fixture)
        .env("ENTRATOOL_CONFIG_DIR", &mount_point)
        .output()
        .expect("run unshare from util-linux");
    let stdout = stdout_of(&output);
    (output, stdout)
}

#[test]
fn full_disk_fails_cleanly_and_keeps_the_file() {
    let env = TestEnv::new();
    let (output, stdout) = create_on_tmpfs(
        &env,
        r#"dd if=/dev/zero of="$1/filler" bs=1k count=64 2>/dev/null || true"#,
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("exit=1"), "{stderr}\n{stdout}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("profiles.json"), "{stderr}");
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert!(
        !stdout.contains(".tmp"),
        "a temporary file was left: {stdout}"
    );
}

#[test]
fn read_only_disk_fails_cleanly_and_keeps_the_file() {
    let env = TestEnv::new();
    let (output, stdout) = create_on_tmpfs(&env, r#"mount -o remount,ro "$1""#);
    let stderr = stderr_of(&output);
    assert!(stderr.contains("exit=1"), "{stderr}\n{stdout}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(stdout.contains("unchanged"), "{stdout}");
}

#[test]
fn completions_cover_every_shell() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "_entratool()"),
        ("zsh", "#compdef entratool"),
        ("fish", "complete -c entratool"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = env.cmd().args(["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = stdout_of(&output);
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(200)]
        );
        assert!(script.contains("get-token"), "{shell}");
    }
}

#[test]
fn man_page_is_roff() {
    let env = TestEnv::new();
    let output = env.cmd().arg("man").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let page = stdout_of(&output);
    assert!(
        page.contains(".TH entratool 1"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("get\\-token"), "subcommands missing");
}
