//! Integration tests: the built binary against a local, strict stand-in for
//! Entra ID's endpoints.

#[path = "../support/fake_entra.rs"]
mod fake_entra;
#[path = "../support/fake_graph.rs"]
mod fake_graph;
#[path = "../support/federation.rs"]
mod federation;
#[path = "../support/tls.rs"]
mod tls_support;

mod auth_code;
mod browser;
mod cache;
mod certificates;
mod ci_mode;
mod clipboard;
mod common;
mod config;
mod config_manage;
mod device_code;
mod discover;
mod export;
mod fake_server;
mod files;
mod get_token;
mod hostile_server;
mod inspect;
mod keyring;
mod recipes;
mod redaction;
mod resilience;
mod tls;
