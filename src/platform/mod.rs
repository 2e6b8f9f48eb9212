//! The client side of the Moobius platform: HTTP calls, the WebSocket link,
//! group ids and uploads. Nothing here knows about Rhai or about the host's
//! state; it turns requests into wire traffic and answers into Rust values.

pub mod groups;
pub mod http;
pub mod link_state;
pub mod queue;
pub mod relay;
pub mod upload;
pub mod ws;

pub use groups::{
    GroupCache, MAX_ENTRIES as GROUP_CACHE_MAX_LISTS, MAX_IDS as GROUP_CACHE_MAX_IDS,
};
pub use http::HttpApi;
pub use link_state::LinkState;
pub use queue::OutFrame;
pub use upload::Uploader;
pub use ws::{LinkEvent, LinkOptions, WsLink};

/// Installs rustls's ring crypto provider for the process, unless one is
/// already installed (TLS clients panic without one).
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a platform call failed. Never carries a token or a password: request
/// bodies are not part of any variant.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{what}: cannot reach the platform: {source}")]
    Transport {
        what: String,
        /// Without its URL (`reqwest::Error::without_url`).
        #[source]
        source: reqwest::Error,
    },
    /// The platform refused the access token (or the password).
    #[error("{what}: the platform refused the credentials: {detail}")]
    Unauthorized { what: String, detail: String },
    #[error("{what}: the platform refused: {detail}")]
    Rejected { what: String, detail: String },
    #[error("{what}: unexpected answer: {reason}")]
    BadResponse { what: String, reason: String },
    #[error("{0}")]
    File(String),
    /// A call relayed through the cluster's gateway that did not come back
    /// (no gateway, Redis unreachable, the gateway's own transport failed).
    #[error("{what}: {detail}")]
    Relay { what: String, detail: String },
    /// One call's failure, shared by every caller that waited on it (the
    /// group cache's creations).
    #[error(transparent)]
    Shared(std::sync::Arc<PlatformError>),
}
