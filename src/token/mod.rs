//! Talking to the token endpoint: the shared HTTP client and the response
//! types.

pub mod client;
pub mod response;

pub use client::{TokenClient, DEFAULT_AUTHORITY};
pub use response::Token;
