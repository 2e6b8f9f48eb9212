//! `moobius-host sandbox`: the local platform alone, for other clients
//! (a Python SDK service, a second host, a test driver).

use clap::Args;
use moobius_host::config::seed::{seed_for_sandbox, SandboxSeed};
use moobius_host::config::{ConfigError, LogConfig};
use moobius_host::sandbox::{Sandbox, SandboxOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Seed this service directory: create a channel "lobby" and the
    /// --members users, and point DIR/config/config.json at this sandbox (its
    /// URLs, the channel, an empty service_id so that `run` creates the
    /// service; an empty email or password is filled in). The sandbox keeps
    /// nothing across restarts: seed again after each.
    #[arg(long, value_name = "DIR")]
    pub service: Option<PathBuf>,
    /// With --service: the users to create, comma-separated (they join when
    /// told to, through the control API).
    #[arg(long, value_delimiter = ',', default_value = "alice,bob,carol")]
    pub members: Vec<String>,
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
    println!("sandbox http: {}", info.http);
    println!("sandbox ws:   {}", info.ws);
    if let (Some(wss), Some(ca)) = (&info.wss, &info.ca_pem) {
        println!("sandbox wss:  {wss}");
        println!("sandbox CA:   {}", ca.display());
    }
    // Seeded before the ready file is written: a reader of the ready file
    // finds the service directory pointed at this sandbox.
    if let Some(dir) = &args.service {
        if let Err(e) = seed(&sandbox, dir, &args.members) {
            eprintln!("error: {e}");
            sandbox.shutdown().await;
            return 2;
        }
    }
    if let Some(path) = &args.ready_file {
        // Readers poll for the file: replaced whole, they never see half of it.
        if let Err(e) = moobius_host::fsutil::replace_file(path, json.as_bytes(), 0o644) {
            eprintln!("error: cannot write the ready file {}: {e}", path.display());
            sandbox.shutdown().await;
            return 1;
        }
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

/// `--service DIR`: a channel and users on this sandbox, and DIR's config
/// pointed at them.
fn seed(sandbox: &Sandbox, dir: &Path, members: &[String]) -> Result<(), ConfigError> {
    let control = sandbox.control();
    let channel_id = control.create_channel(SEEDED_CHANNEL);
    let members: Vec<&str> = members
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect();
    for m in &members {
        control.create_user(m);
    }
    let seed = SandboxSeed {
        http_server_uri: sandbox.http_url(),
        ws_server_uri: sandbox.ws_url(),
        channel_id: channel_id.clone(),
        email: "service@sandbox.local".into(),
        password: uuid::Uuid::new_v4().to_string(),
    };
    let config_file = dir.join("config").join("config.json");
    let seeded = seed_for_sandbox(&config_file, dir, &seed)?;
    let files: Vec<String> = seeded
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    println!("channel {SEEDED_CHANNEL}: {channel_id}");
    println!("users: {}", members.join(", "));
    println!(
        "{} now points at this sandbox (service_id emptied: `run` creates the service{})",
        files.join(", "),
        if seeded.account_filled {
            "; a sandbox account filled in"
        } else {
            ""
        }
    );
    if let Some(first) = members.first() {
        let url = sandbox.http_url();
        println!(
            "add a member:  curl -s {url}sandbox/act -H content-type:application/json -d '{{\"user\":\"{first}\",\"channel_id\":\"{SEEDED_CHANNEL}\",\"action\":\"join\"}}'"
        );
    }
    Ok(())
}

/// The channel `--service` creates (the control API takes its name for its id).
const SEEDED_CHANNEL: &str = "lobby";
