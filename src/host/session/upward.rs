//! Where a platform session's upward events go: the one thing in which the
//! lone host's session and a cluster gateway's differ. The dispatcher, the
//! channels' first events, the check-in timer and the re-sync after a
//! reconnect all go through [`Upward`], so each is written once.

use crate::cluster::up::UpWriter;
use crate::config::Secret;
use crate::host::events::HostEvent;
use crate::host::node::wire;
use crate::host::outbox::{self, OutboxSender};
use crate::host::threads::shards::EventSender;
use crate::platform::HttpApi;

/// Where the session's events go.
#[derive(Clone)]
pub(in crate::host) enum Upward {
    /// This process's script threads, and its outbox (which learns the
    /// channels' groups, and sends a user's joins).
    Local {
        events: EventSender,
        outbox: OutboxSender,
    },
    /// A cluster's partition streams (this process is the gateway).
    Cluster(ToStreams),
}

/// Where a gateway's upward events go: the partition streams, and the
/// platform's acknowledgements to the `down` reader.
#[derive(Clone)]
pub(in crate::host) struct ToStreams {
    pub up: UpWriter,
    pub acks: tokio::sync::mpsc::UnboundedSender<String>,
    /// The cluster's Redis, and its set of the channels the cluster has
    /// served (a channel's first event is `Init` only once).
    pub url: Secret,
    pub channels_key: String,
}

impl Upward {
    /// Passes an event on; false once its receiver is gone (the script
    /// threads stopped).
    pub fn send(&self, event: HostEvent) -> bool {
        match self {
            Upward::Local { events, .. } => events.send(event).is_ok(),
            Upward::Cluster(streams) => {
                wire::append(&streams.up, event);
                true
            }
        }
    }

    /// The platform acknowledged the frame with this request id (a
    /// gateway's `down` reader then stops resending it).
    pub fn acknowledged(&self, request_id: String) {
        if let Upward::Cluster(streams) = self {
            let _ = streams.acks.send(request_id);
        }
    }

    /// Queues each bound channel's first event: a lone host initialises
    /// every channel (once its known groups were fetched for the outbox); a
    /// cluster initialises only the channels it never served, and re-syncs
    /// the others.
    pub async fn channels_bound(&self, http: &HttpApi, service_id: &str, served: &[String]) {
        match self {
            Upward::Local { events, outbox } => {
                for ch in served {
                    match http.user_group_list(ch, service_id).await {
                        Ok(groups) => {
                            let _ = outbox.send(outbox::Downward::KnownGroups(groups)).await;
                        }
                        Err(e) => {
                            tracing::warn!(channel_id = %ch, error = %e, "group prefetch failed")
                        }
                    }
                    let _ = events.send(HostEvent::ChannelInit(ch.clone()));
                }
            }
            Upward::Cluster(s) => {
                wire::append_first_events(&s.up, &s.url, &s.channels_key, served).await
            }
        }
    }

    /// Queues a check-in (a re-sync) of each channel; false once the script
    /// threads stopped.
    pub fn checkin(&self, channels: &[String]) -> bool {
        channels
            .iter()
            .all(|ch| self.send(HostEvent::Checkin(ch.clone())))
    }
}
