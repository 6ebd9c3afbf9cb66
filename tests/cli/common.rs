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
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ENTRATOOL_") {
                cmd.env_remove(&name);
            }
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
        std::fs::create_dir_all(self.config_dir()).unwrap();
        std::fs::write(self.profiles_path(), json).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = |path: PathBuf, mode: u32| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
            };
            private(self.config_dir(), 0o700);
            private(self.profiles_path(), 0o600);
        }
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
