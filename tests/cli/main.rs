//! Integration tests: the built binary against a local, strict stand-in for
//! Entra ID's endpoints.

#[path = "../support/fake_entra.rs"]
mod fake_entra;
#[path = "../support/federation.rs"]
mod federation;
#[path = "../support/tls.rs"]
mod tls_support;

mod cache;
mod certificates;
mod ci_mode;
mod clipboard;
mod common;
mod config;
mod get_token;
mod keyring;
mod recipes;
mod resilience;
mod tls;
