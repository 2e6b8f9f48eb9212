//! `/channel/*`: channels, their ground-truth members and message history.
//!
//! Membership changes only through users' join/leave actions (and channel
//! creation, which makes the creator a member); these endpoints read it.

use serde_json::{json, Value};

use super::{ApiError, Ctx};
use crate::sandbox::state::{Channel, State as Truth};

/// Messages returned when the caller gives no usable `limit`.
const DEFAULT_HISTORY_LIMIT: usize = 64;

fn channel_object(channel: &Channel) -> Value {
    json!({
        "channel_id": channel.channel_id,
        "channel_name": channel.name,
        "channel_description": channel.description,
        "channel_type": channel.channel_type,
        "service_id": channel.service_id,
        "context": {"channel_description": channel.description, "channel_type": channel.channel_type},
    })
}

fn description(ctx: &Ctx<'_>) -> Option<String> {
    ctx.params
        .get("context")
        .and_then(|c| c.get("channel_description"))
        .or_else(|| ctx.params.get("channel_description"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let name = ctx.opt_str("channel_name").unwrap_or("Channel").to_string();
    let description = description(ctx).unwrap_or_default();
    let channel_id = ctx.state.create_channel(&name, &description);
    ctx.state.add_member(&channel_id, &ctx.caller)?;
    tracing::info!(channel_id, name, "channel created");
    Ok(json!({"channel_id": channel_id}))
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let channel_id = ctx.str("channel_id")?.to_string();
    let name = ctx.opt_str("channel_name").map(str::to_string);
    let description = description(ctx);
    let channel = ctx.state.channel_mut(&channel_id)?;
    if let Some(name) = name {
        channel.name = name;
    }
    if let Some(description) = description {
        channel.description = description;
    }
    Ok(json!({}))
}

/// `/channel/list`: the channels the caller is a member of.
pub fn list_mine(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    Ok(ctx
        .state
        .channels()
        .filter(|c| c.members.contains(&ctx.caller))
        .map(channel_object)
        .collect())
}

/// `/channel/popular`: every channel.
pub fn list_all(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    Ok(ctx.state.channels().map(channel_object).collect())
}

pub fn members(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let channel = ctx.state.channel(ctx.str("channel_id")?)?;
    Ok(json!({"character_list": channel.members}))
}

/// The last `limit` messages of the channel, newest last. The owner of the
/// bound service sees everything; a user sees only what they sent or
/// received (one user must not read another's messages through the API).
pub fn history(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let limit = match ctx.params.get("limit") {
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
    .unwrap_or(DEFAULT_HISTORY_LIMIT);
    let channel = ctx.state.channel(ctx.str("channel_id")?)?;
    let owner = channel
        .service_id
        .as_deref()
        .is_some_and(|sid| ctx.state.owned_service(&ctx.caller, sid).is_ok());
    let visible: Vec<&Value> = channel
        .history
        .iter()
        .filter(|m| owner || concerns(ctx.state, m, &ctx.caller))
        .collect();
    let skip = visible.len().saturating_sub(limit);
    Ok(Value::Array(
        visible[skip..].iter().map(|m| (*m).clone()).collect(),
    ))
}

/// Whether `user` sent the message or is among its recipients.
fn concerns(state: &Truth, message: &Value, user: &str) -> bool {
    if message.get("sender").and_then(Value::as_str) == Some(user) {
        return true;
    }
    match message.get("recipients") {
        Some(Value::String(group)) => state
            .peek_group(group)
            .is_ok_and(|ids| ids.iter().any(|id| id == user)),
        Some(Value::Array(ids)) => ids.iter().any(|id| id.as_str() == Some(user)),
        _ => false,
    }
}
