//! The sign-in's renewals: the access token refreshed every 6 hours, a full
//! sign-in every week (as the SDK does). A lone host runs them; in a
//! cluster, the gateway does, since it alone is signed in.

use crate::platform::HttpApi;
use std::sync::Arc;
use std::time::Duration;

const TOKEN_REFRESH: Duration = Duration::from_secs(6 * 3600);
const FULL_SIGN_IN: Duration = Duration::from_secs(7 * 24 * 3600);

/// Both renewal timers.
pub(in crate::host) fn spawn_timers(http: &Arc<HttpApi>) -> [tokio::task::JoinHandle<()>; 2] {
    [
        spawn_token_timer(http.clone(), TOKEN_REFRESH, false),
        spawn_token_timer(http.clone(), FULL_SIGN_IN, true),
    ]
}

fn spawn_token_timer(
    http: Arc<HttpApi>,
    every: Duration,
    full: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            let result = if full {
                http.sign_in().await
            } else {
                http.refresh().await
            };
            match result {
                Ok(()) => tracing::info!(full, "tokens renewed"),
                Err(e) => tracing::warn!(full, error = %e, "token renewal failed"),
            }
        }
    })
}
