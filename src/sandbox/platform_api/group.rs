//! `/service/group*` and `/user/group*`: group ids, the platform's handle for
//! an ordered list of character ids (docs/PROTOCOL.md 4).
//!
//! Every group the sandbox knows resolves through both lookup endpoints,
//! because the SDK expands inbound group ids with `/user/group` only; the
//! literal `"service"` is the empty group. Creations are counted so tests can
//! prove a client-side group cache works.

use serde_json::{json, Value};

use super::{ApiError, Ctx};

/// `/service/group/create`: `data` is the new group id itself.
pub fn service_create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let characters = ctx.id_list("characters")?;
    let channel_id = ctx.opt_str("channel_id").map(str::to_string);
    Ok(Value::String(
        ctx.state.create_group(characters, channel_id),
    ))
}

/// `/user/group/create`: `data.group_id`.
pub fn user_create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let characters = ctx.id_list("characters")?;
    let channel_id = ctx.opt_str("channel_id").map(str::to_string);
    Ok(json!({"group_id": ctx.state.create_group(characters, channel_id)}))
}

/// `/user/group` and `/service/group`: `data.characters`.
pub fn fetch(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let group_id = ctx.str("group_id")?.to_string();
    let characters = ctx.state.expand_group(&group_id)?;
    Ok(json!({"group_id": group_id, "characters": characters}))
}

/// `/user/group/list`: the groups created for the channel.
pub fn list(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let Some(channel_id) = ctx.opt_str("channel_id") else {
        return Ok(json!([]));
    };
    Ok(ctx
        .state
        .groups_of_channel(channel_id)
        .into_iter()
        .map(|(group_id, characters)| json!({"group_id": group_id, "characters": characters}))
        .collect())
}

/// `/user/group/temp`: never called by the SDK; answers harmlessly.
pub fn temp(_ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    Ok(json!({}))
}
