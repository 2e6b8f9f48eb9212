//! One file per subcommand. This is the edge: errors become one line on
//! stderr and an exit code (2 for the author's files, 1 for the rest).

pub mod bundle;
pub mod check;
pub mod cluster;
pub mod defs;
pub mod deploy;
pub mod deploy_cluster;
pub mod deploy_list;
pub mod dev;
pub mod new;
pub mod run;
pub mod run_deployed;
pub mod sandbox;
pub mod spell;
pub mod test;

use tokio::sync::watch;

/// The warning for a `--cluster URL` with credentials given on the command
/// line (where every local user can read them), without the credentials;
/// `None` when it has none or came from the environment variable.
pub fn credentials_on_command_line(url: &str) -> Option<String> {
    use moobius_host::config::{cluster::URL_ENV, redact::redact_urls};
    let from_env = std::env::var(URL_ENV).is_ok_and(|v| v == url);
    let shown = redact_urls(url).filter(|_| !from_env)?;
    Some(format!(
        "--cluster {shown}: its password is on the command line, where any local user can read it; set {URL_ENV} instead"
    ))
}

/// A shutdown flag that turns true on Ctrl+C (or SIGTERM).
pub fn shutdown_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = tx.send(true);
    });
    rx
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
