//! The platform's wire formats as plain serde types, and nothing else.
//!
//! This module does no I/O on purpose: the same types serve the platform client,
//! the host's decoder and any tool that wants to read a captured frame. Field
//! names and key sets follow docs/PROTOCOL.md (the Python SDK 1.8.0), because the
//! real platform and the SDK are strict about them: an extra key in an inbound
//! body makes the SDK drop the frame.

pub mod http;
pub mod ids;
pub mod inbound;
pub mod outbound;
pub mod reencode;
pub mod user;

pub use http::{CharacterContext, CharacterObject, Envelope};
pub use ids::IdList;
pub use inbound::{Click, DecodeError, Inbound, MessageUp, SimpleAction};
