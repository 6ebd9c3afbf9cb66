//! Shared test setup: a private config folder, the fake server and a
//! command builder that cannot see the developer's own settings.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use assert_cmd::Command;
use tempfile::TempDir;

use crate::fake_entra::{FakeEntra, CLIENT_ID, GRAPH_DEFAULT, TENANT_ID};

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

    /// Writes `profiles.json` directly, without the keyring.
    pub fn write_profiles(&self, json: &str) {
        std::fs::create_dir_all(self.config_dir()).unwrap();
        std::fs::write(self.profiles_path(), json).unwrap();
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
