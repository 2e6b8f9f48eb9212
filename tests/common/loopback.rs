//! Starting a sandbox on a free loopback port. Loaded by `common` and by
//! `sandbox_support` (which does without `common`): one source for both.

use moobius_host::sandbox::{Sandbox, SandboxOptions};

/// A sandbox on 127.0.0.1 at a port the system picks; with its TLS listener
/// (and a CA generated at start) when `tls`.
pub async fn start_on_loopback(tls: bool) -> Sandbox {
    Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        tls,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}
