//! Runs the local Entra stand-in used by the tests, for trying entratool
//! without an Azure tenant:
//!
//!     cargo run --example fake_entra -- --port 8400
//!
//! It serves the v2.0 token endpoint on 127.0.0.1 only, with one tenant and
//! one app whose IDs and secret it prints.

#[path = "../tests/support/fake_entra.rs"]
mod fake_entra;

fn main() {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a port number");
            }
            other => panic!("unknown argument `{other}`; the only option is --port N"),
        }
    }
    let server = fake_entra::FakeEntra::start_on(port);
    eprintln!("fake Entra listening on {}", server.url());
    eprintln!("  tenant:        {}", fake_entra::TENANT_ID);
    eprintln!("  client ID:     {}", fake_entra::CLIENT_ID);
    eprintln!("  client secret: {}", fake_entra::CLIENT_SECRET);
    eprintln!("  scope:         {}", fake_entra::GRAPH_DEFAULT);
    eprintln!("Stop it with Ctrl-C.");
    loop {
        std::thread::park();
    }
}
