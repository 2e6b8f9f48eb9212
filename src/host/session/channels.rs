//! Choosing the channels to serve (docs/PROTOCOL.md 5.2 step 6): bind the
//! configured channels, applying the `others` policy to those another service
//! of this account holds.

use crate::config::{OthersPolicy, ServiceConfig};
use crate::platform::{HttpApi, PlatformError};
use std::collections::HashMap;

pub async fn select(
    http: &HttpApi,
    service_id: &str,
    cfg: &ServiceConfig,
) -> Result<Vec<String>, PlatformError> {
    let mut holder: HashMap<String, String> = HashMap::new();
    for s in http.list_services().await? {
        for ch in s.channel_ids {
            holder.insert(ch, s.service_id.clone());
        }
    }
    let mut kept = Vec::new();
    for ch in &cfg.channels {
        match holder.get(ch) {
            Some(owner) if owner == service_id => kept.push(ch.clone()),
            Some(other) => match cfg.others {
                OthersPolicy::Ignore => {
                    tracing::info!(channel_id = %ch, other_service = %other, "channel held by another service: ignored (others = ignore)");
                }
                OthersPolicy::Unbind => {
                    http.unbind(ch, other).await?;
                    tracing::info!(channel_id = %ch, other_service = %other, "other service unbound; channel not served (others = unbind)");
                }
                OthersPolicy::Include => {
                    if let Err(e) = http.unbind(ch, other).await {
                        tracing::warn!(channel_id = %ch, error = %e, "could not unbind the other service");
                    }
                    bind(http, ch, service_id).await?;
                    kept.push(ch.clone());
                }
            },
            None => {
                bind(http, ch, service_id).await?;
                kept.push(ch.clone());
            }
        }
    }
    if kept.is_empty() {
        tracing::warn!("no channel to serve: add channel ids to service_config.channels");
    }
    Ok(kept)
}

async fn bind(http: &HttpApi, channel_id: &str, service_id: &str) -> Result<(), PlatformError> {
    if http.bind(channel_id, service_id).await? {
        tracing::info!(%channel_id, "channel bound");
    } else {
        tracing::warn!(%channel_id, "bind refused; serving the channel anyway, as the SDK does");
    }
    Ok(())
}
