//! `moobius-host sandbox`: the local platform alone, for other clients
//! (a Python SDK service, a second host, a test driver).

use clap::Args;
use moobius_host::config::LogConfig;
use moobius_host::sandbox::{Sandbox, SandboxOptions};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Run the sandbox alone: a local Moobius platform on loopback.
///
/// Serves the platform's HTTP API, its WebSocket (at /ws) and the control API
/// (/sandbox/...) on one port. Services sign in with any email (the account
/// is created on first sign-in). Stops on Ctrl+C.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Once listening, write {"http": ..., "ws": ...} (plus "wss", "https" and
    /// "ca_pem" with --tls) to this file.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Also serve HTTPS and WSS on a second port, with a certificate for
    /// 127.0.0.1 and localhost signed by a CA generated at start (its PEM file
    /// is named in the ready file). The Python SDK needs this for its WebSocket.
    #[arg(long)]
    pub tls: bool,
}

pub async fn main(args: SandboxArgs) -> u8 {
    let _ = moobius_host::logging::init(&LogConfig::default());
    let sandbox = match Sandbox::start(SandboxOptions {
        listen: args.listen,
        tls: args.tls,
        ..SandboxOptions::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return 1;
        }
    };
    let info = sandbox.ready_info();
    let json = match serde_json::to_string(&info) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Some(path) = &args.ready_file {
        // Readers poll for the file: replaced whole, they never see half of it.
        if let Err(e) = moobius_host::fsutil::replace_file(path, json.as_bytes(), 0o644) {
            eprintln!("error: cannot write the ready file {}: {e}", path.display());
            sandbox.shutdown().await;
            return 1;
        }
    }
    println!("sandbox http: {}", info.http);
    println!("sandbox ws:   {}", info.ws);
    if let (Some(wss), Some(ca)) = (&info.wss, &info.ca_pem) {
        println!("sandbox wss:  {wss}");
        println!("sandbox CA:   {}", ca.display());
    }
    let mut stop = super::shutdown_on_signal();
    let _ = stop.wait_for(|s| *s).await;
    let _ = tokio::time::timeout(
        moobius_host::timeouts::SANDBOX_STOP_GRACE,
        sandbox.shutdown(),
    )
    .await;
    0
}
