//! Shared test setup: a private config folder, the fake server and a
//! command builder that cannot see the developer's own settings.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;

use crate::fake_entra::{FakeEntra, CLIENT_ID, GRAPH_DEFAULT, PUBLIC_CLIENT_ID, TENANT_ID};

pub struct TestEnv {
    pub dir: TempDir,
    pub server: FakeEntra,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temporary folder"),
            server: FakeEntra::start(),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn profiles_path(&self) -> PathBuf {
        self.config_dir().join("profiles.json")
    }

    /// Builds the binary's command with a private config folder, the fake server as
    /// authority, and no ENTRATOOL_* variable from the caller.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// Builds the same command as [`TestEnv::cmd`], as a plain `std::process::Command`
    /// for tests that start several processes at once.
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("entratool"));
        // The caller's CI or Azure settings must not reach the tool: each
        // test sets the variables it is about.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if ["ENTRATOOL_", "AZURE_", "ACTIONS_ID_TOKEN_"]
                .iter()
                .any(|prefix| name_text.starts_with(prefix))
            {
                cmd.env_remove(&name);
            }
        }
        for name in ["KUBERNETES_EXEC_INFO", "CI", "TF_BUILD", "GITHUB_ENV"] {
            cmd.env_remove(name);
        }
        cmd.env("ENTRATOOL_CONFIG_DIR", self.config_dir())
            .env("ENTRATOOL_AUTHORITY", self.server.url())
            .env_remove("RUST_LOG")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        for proxy in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"] {
            cmd.env_remove(proxy).env_remove(proxy.to_lowercase());
        }
        cmd.env_remove("NO_COLOR");
        cmd
    }

    /// Writes `profiles.json` directly, without the keyring, with the modes
    /// the tool itself uses (folder 0700, file 0600), so it does not warn
    /// about exposed files.
    pub fn write_profiles(&self, json: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(self.config_dir()).unwrap();
        std::fs::write(self.profiles_path(), json).unwrap();
        // Private modes, as the tool itself creates them, so commands do not
        // warn about an exposed config folder.
        std::fs::set_permissions(self.config_dir(), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::set_permissions(self.profiles_path(), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }

    /// Writes a one-profile file for the fake app, with the given overrides.
    pub fn write_profile(&self, name: &str, tenant: &str, client_id: &str, scopes: &[&str]) {
        let profile = serde_json::json!([{
            "name": name,
            "tenantId": tenant,
            "clientId": client_id,
            "scopes": scopes,
            "authMethod": "ClientSecret",
            "cacheCertificatePassword": false,
            "createdAt": "2026-01-01T00:00:00+00:00",
            "updatedAt": "2026-01-01T00:00:00+00:00"
        }]);
        self.write_profiles(&profile.to_string());
    }

    pub fn write_default_profile(&self, name: &str) {
        self.write_profile(name, TENANT_ID, CLIENT_ID, &[GRAPH_DEFAULT]);
    }
}

/// Returns a profile name no other test (or earlier run) uses, since keyring
/// entries are shared by every test in the session.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Lists every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// True when `needle` appears in any file under `dir`, as text or hex.
pub fn secret_appears_under(dir: &Path, needle: &str) -> Option<PathBuf> {
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    files_under(dir).into_iter().find(|path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        text.contains(&needle.to_lowercase()) || text.contains(&hex)
    })
}

impl TestEnv {
    /// Builds the binary's command with `args` for a pseudo-terminal, without
    /// colour so prompts can be matched as plain text.
    pub fn pty_cmd(&self, args: &[&str]) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.std_cmd();
        cmd.args(args).env("NO_COLOR", "1").env("TERM", "xterm");
        // The pseudo-terminal starts with echo off. Turn it on, as in a real
        // terminal, so `send_hidden_line` can see a hidden-input prompt
        // switch it off.
        // SAFETY: runs in the child before exec and calls only tcgetattr and
        // tcsetattr, which are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
                if libc::tcgetattr(libc::STDIN_FILENO, termios.as_mut_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut termios = termios.assume_init();
                termios.c_lflag |= libc::ECHO;
                if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &termios) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs the binary in a pseudo-terminal, so it detects a terminal and
    /// shows its prompts.
    pub fn spawn_in_pty(&self, cmd: std::process::Command) -> expectrl::session::OsSession {
        let mut session = expectrl::Session::spawn(cmd).expect("spawn in a pseudo-terminal");
        session.set_expect_timeout(Some(std::time::Duration::from_secs(20)));
        session
    }

    /// Returns the token cache folder of `profile`: `cache/` and the first 32 hex
    /// digits of the SHA-256 of the lower-cased name.
    pub fn profile_cache_dir(&self, profile: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let digest: String = Sha256::digest(profile.to_lowercase().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.config_dir().join("cache").join(&digest[..32])
    }

    /// Runs get-token for `profile` so its token is cached, and returns the
    /// profile's cache folder.
    pub fn fill_cache(&self, profile: &str) -> PathBuf {
        let output = self
            .cmd()
            .args(["get-token", "-p", profile, "--no-clipboard"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
        let dir = self.profile_cache_dir(profile);
        assert!(
            files_under(&dir)
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "json")),
            "get-token cached nothing in {}",
            dir.display()
        );
        dir
    }

    /// Reads profiles.json as JSON.
    pub fn profiles_json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.profiles_path()).expect("profiles.json"))
            .expect("profiles.json is JSON")
    }
}

/// Waits for the end of a pseudo-terminal session and returns its exit code.
pub fn pty_exit_code(mut session: expectrl::session::OsSession) -> i32 {
    use expectrl::Expect;
    let _ = session.expect(expectrl::Eof);
    match session.get_process().wait().expect("wait for the process") {
        expectrl::process::unix::WaitStatus::Exited(_, code) => code,
        other => panic!("the process did not exit normally: {other:?}"),
    }
}

/// Reads a keyring entry with libsecret's `secret-tool`; `None` when the
/// entry does not exist. scripts/test.sh installs the tool.
pub fn keyring_lookup(account: &str) -> Option<String> {
    let output = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "entratool", "username", account])
        .output()
        .expect("secret-tool is missing; install libsecret-tools (scripts/test.sh does)");
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string()
    })
}

/// Returns the keyring account of a profile's client secret.
pub fn secret_account(profile: &str) -> String {
    format!("profile:{}:secret", profile.to_lowercase())
}

/// Returns the keyring account of a profile's certificate password.
pub fn cert_password_account(profile: &str) -> String {
    format!("profile:{}:cert-password", profile.to_lowercase())
}

/// Stores a keyring entry with `secret-tool`, as the product would.
pub fn keyring_store(account: &str, value: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("secret-tool")
        .args([
            "store",
            "--label",
            "entratool test",
            "service",
            "entratool",
            "username",
            account,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool is missing; install libsecret-tools (scripts/test.sh does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "secret-tool store failed");
}

/// Types a line at a hidden-input prompt. The prompt turns echo off and
/// discards any input typed before that, so this waits for echo to go off.
/// It relies on [`TestEnv::pty_cmd`] having turned echo on at the start.
pub fn send_hidden_line(session: &mut expectrl::session::OsSession, line: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while session
        .get_process()
        .get_echo()
        .expect("read the terminal mode")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the hidden-input prompt never turned echo off"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    expectrl::Expect::send_line(session, line).expect("type into the terminal");
}

/// Runs a command that may write files of at most 16 bytes (RLIMIT_FSIZE),
/// so saving `profiles.json` fails with EFBIG. SIGXFSZ is ignored so the
/// write returns the error instead of killing the process. Keyring writes
/// go over D-Bus to another process, so they still succeed.
pub fn output_with_tiny_file_limit(mut cmd: std::process::Command) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    cmd.stdin(std::process::Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (setrlimit, signal).
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 16,
                rlim_max: 16,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Writes a one-profile file for the public test app, for the user flows.
pub fn write_public_profile(env: &TestEnv, name: &str, scopes: &[&str]) {
    env.write_profile(name, TENANT_ID, PUBLIC_CLIENT_ID, scopes);
}

/// A running `entratool` whose stderr is collected as it arrives. Dropping
/// it kills the process if it is still running.
pub struct Running {
    child: Option<std::process::Child>,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub stdin: Option<std::process::ChildStdin>,
}

/// The outcome of a [`Running`] process.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Running {
    /// Starts `cmd` with stdout and stderr as pipes, and stdin as a pipe
    /// when `with_stdin` is set (else empty).
    pub fn start(mut cmd: std::process::Command, with_stdin: bool) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if with_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().expect("start entratool");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        let stdin = child.stdin.take();
        Running {
            child: Some(child),
            stderr,
            reader: Some(reader),
            stdin,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` and returns stderr so far.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.stderr_so_far();
            if text.contains(needle) {
                return text;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap().is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "stderr never contained `{needle}` (exited: {exited}):\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit, killing it after `timeout`.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let started = Instant::now();
        let mut child = self.child.take().unwrap();
        drop(self.stdin.take());
        let mut stdout_pipe = child.stdout.take().unwrap();
        let stdout_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout_pipe.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "entratool did not exit within {timeout:?}; stderr:\n{}",
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Finished {
            code: status.code(),
            stdout: stdout_reader.join().unwrap(),
            stderr: self.stderr_so_far(),
            elapsed: started.elapsed(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `condition` holds, failing the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Returns a port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when 127.0.0.1:`port` can be bound now (the listener is released).
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Sends a GET to a `http://127.0.0.1:PORT/...` URL and returns the
/// `Location` header, as a browser following the sign-in page does.
pub fn location_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the fake server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        })
}

/// Returns the first `http` URL in `text` that contains `marker`.
pub fn url_containing(text: &str, marker: &str) -> Option<String> {
    text.split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(marker))
        .map(str::to_string)
}
