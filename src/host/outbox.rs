//! The outbox: downward events from scripts, in the order scripts made them,
//! turned into wire frames.
//!
//! Scripts speak in lists of ids; the wire speaks in group ids. This task owns
//! the group cache, converts each list (one HTTP call on a miss, none on a
//! hit) and hands the finished frame to the link, which keeps the order.
//! An empty recipient list sends nothing, as in the SDK.

use crate::platform::{GroupCache, HttpApi, PlatformError, WsLink};
use crate::protocol::http::GroupEntry;
use crate::protocol::outbound;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Downward {
    Characters {
        channel_id: String,
        characters: Vec<String>,
        recipients: Vec<String>,
    },
    /// Groups the platform already has (start-up prefetch).
    KnownGroups(Vec<GroupEntry>),
}

pub type OutboxSender = mpsc::UnboundedSender<Downward>;

pub fn spawn(
    http: Arc<HttpApi>,
    link: WsLink,
    service_id: String,
    mut rx: mpsc::UnboundedReceiver<Downward>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut groups = GroupCache::new();
        while let Some(item) = rx.recv().await {
            match item {
                Downward::KnownGroups(entries) => groups.seed(entries),
                Downward::Characters {
                    channel_id,
                    characters,
                    recipients,
                } => {
                    if recipients.is_empty() {
                        tracing::debug!(%channel_id, "send_characters with no recipients: nothing sent");
                        continue;
                    }
                    match characters_frame(
                        &mut groups,
                        &http,
                        &service_id,
                        &channel_id,
                        &characters,
                        &recipients,
                    )
                    .await
                    {
                        Ok(frame) => link.send(frame),
                        Err(e) => {
                            tracing::error!(%channel_id, error = %e, "characters update dropped")
                        }
                    }
                }
            }
        }
        let (hits, misses) = groups.stats();
        tracing::debug!(hits, misses, "outbox closed");
    })
}

async fn characters_frame(
    groups: &mut GroupCache,
    http: &HttpApi,
    service_id: &str,
    channel_id: &str,
    characters: &[String],
    recipients: &[String],
) -> Result<String, PlatformError> {
    let recipients_group = groups.group_id(http, recipients).await?;
    let characters_group = groups.group_id(http, characters).await?;
    let request_id = uuid::Uuid::new_v4().to_string();
    Ok(outbound::update_characters(
        &request_id,
        service_id,
        channel_id,
        &recipients_group,
        &characters_group,
    ))
}
