//! Integration tests: the built binary against a local, strict stand-in for
//! Entra ID's endpoints.

#[path = "../support/fake_entra.rs"]
mod fake_entra;

mod auth_code;
mod browser;
mod common;
mod config;
mod device_code;
mod fake_server;
mod get_token;
mod keyring;
