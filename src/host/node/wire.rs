//! Host events to and from a cluster's streams (`cluster::wire::UpEntry`).
//!
//! The gateway turns the events its dispatcher would give its own script
//! threads into stream entries ([`append`], and [`append_first_events`] for
//! the channels it binds); the owner of the partition turns them back
//! ([`event_of`]). Kept apart from both ends so that the two directions are
//! read side by side.

use crate::cluster::up::UpWriter;
use crate::cluster::wire::UpEntry;
use crate::config::Secret;
use crate::host::events::HostEvent;
use crate::protocol::{inbound, reencode, Inbound};

/// Appends `event` to its channel's partition stream. What is not a
/// channel's event (the host's own steps) is not passed on.
pub fn append(up: &UpWriter, event: HostEvent) {
    let channel = event.channel_id().map(str::to_string);
    let entry = match event {
        HostEvent::Inbound(inbound) => match reencode::to_frame(&inbound) {
            Some(frame) => UpEntry::Frame { frame },
            None => return,
        },
        HostEvent::Message {
            message,
            recipients,
        } => match reencode::to_frame(&Inbound::MessageUp(message)) {
            Some(frame) => UpEntry::Message { frame, recipients },
            None => return,
        },
        HostEvent::ChannelInit(channel) => UpEntry::Init { channel },
        HostEvent::Checkin(channel) => UpEntry::Checkin { channel },
        other => {
            tracing::debug!(event = ?other, "not a channel's event: not passed on");
            return;
        }
    };
    up.append(channel.as_deref(), &entry);
}

/// Appends each bound channel's first event: `Init` for a channel the
/// cluster never served (it joins the set at `channels_key` now),
/// `Checkin` (a re-sync) for the rest.
pub async fn append_first_events(
    up: &UpWriter,
    url: &Secret,
    channels_key: &str,
    served: &[String],
) {
    let (url, key, channels) = (url.clone(), channels_key.to_string(), served.to_vec());
    let added = tokio::task::spawn_blocking(move || -> Vec<bool> {
        let Ok(conn) =
            crate::cluster::conn::RedisConn::open(url.expose(), crate::timeouts::REDIS_CALL)
        else {
            return Vec::new();
        };
        channels
            .iter()
            .map(|ch| {
                conn.query::<i64>(redis::cmd("SADD").arg(&key).arg(ch))
                    .unwrap_or(0)
                    == 1
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    for (i, ch) in served.iter().enumerate() {
        let channel = ch.clone();
        let entry = if added.get(i).copied().unwrap_or(false) {
            UpEntry::Init { channel }
        } else {
            UpEntry::Checkin { channel }
        };
        up.append(Some(ch), &entry);
    }
}

/// The host event an entry stands for; `None` (with a warning) for a frame
/// that no longer decodes.
pub fn event_of(entry: UpEntry) -> Option<HostEvent> {
    let decoded = |frame: &serde_json::Value| match inbound::decode(&frame.to_string()) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!(error = %e, "cluster: an upward entry's frame does not decode; dropped");
            None
        }
    };
    Some(match entry {
        UpEntry::Frame { frame } => HostEvent::Inbound(decoded(&frame)?),
        UpEntry::Message { frame, recipients } => match decoded(&frame)? {
            Inbound::MessageUp(message) => HostEvent::Message {
                message,
                recipients,
            },
            other => HostEvent::Inbound(other),
        },
        UpEntry::Init { channel } => HostEvent::ChannelInit(channel),
        UpEntry::Checkin { channel } => HostEvent::Checkin(channel),
    })
}
