//! `/service/*` (services, bindings, agents) and `/character/fetch_profile`.
//!
//! A service belongs to the account that created it; only that account may
//! bind it, unbind it or manage its agents. A channel has at most one bound
//! service, and binding replaces the previous one, as the SDK's `others:
//! include` policy expects.

use serde_json::{json, Value};

use super::{ApiError, Ctx};

pub fn create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let service_id = ctx.state.create_service(&ctx.caller);
    tracing::info!(service_id, "service created");
    Ok(json!({"service_id": service_id}))
}

pub fn list(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let services = ctx.state.services_of(&ctx.caller);
    Ok(services
        .into_iter()
        .map(|(service_id, channel_ids)| json!({"service_id": service_id, "channel_ids": channel_ids}))
        .collect())
}

pub fn bind(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let channel_id = ctx.str("channel_id")?.to_string();
    let service_id = ctx.str("service_id")?.to_string();
    ctx.state.owned_service(&ctx.caller, &service_id)?;
    ctx.state.bind(&channel_id, &service_id)?;
    tracing::info!(channel_id, service_id, "service bound");
    Ok(json!({}))
}

pub fn unbind(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let channel_id = ctx.str("channel_id")?.to_string();
    let service_id = ctx.str("service_id")?.to_string();
    ctx.state.owned_service(&ctx.caller, &service_id)?;
    ctx.state.unbind(&channel_id, &service_id)?;
    tracing::info!(channel_id, service_id, "service unbound");
    Ok(json!({}))
}

/// `(name, avatar, description)` from a `context` object; `None` leaves a
/// field unchanged.
type Profile = (
    Option<String>,
    Option<Option<String>>,
    Option<Option<String>>,
);

fn profile(ctx: &Ctx<'_>) -> Profile {
    let context = ctx.params.get("context").and_then(Value::as_object);
    let field = |key: &str| context.and_then(|c| c.get(key));
    let nullable = |key: &str| field(key).map(|v| v.as_str().map(str::to_string));
    (
        field("name").and_then(Value::as_str).map(str::to_string),
        nullable("avatar"),
        nullable("description"),
    )
}

pub fn agent_create(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let service_id = ctx.str("service_id")?.to_string();
    ctx.state.owned_service(&ctx.caller, &service_id)?;
    let (name, avatar, description) = profile(ctx);
    let name = name.ok_or_else(|| ApiError::BadRequest("missing context.name".into()))?;
    let agent = ctx
        .state
        .create_agent(&service_id, &name, avatar.flatten(), description.flatten());
    let character_id = agent.character_id.clone();
    tracing::info!(service_id, character_id, name, "agent created");
    character(ctx, &character_id)
}

pub fn agent_update(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let service_id = ctx.str("service_id")?.to_string();
    let character_id = ctx.str("character_id")?.to_string();
    ctx.state.owned_service(&ctx.caller, &service_id)?;
    let (name, avatar, description) = profile(ctx);
    let agent = ctx.state.agent_mut(&service_id, &character_id)?;
    if let Some(name) = name {
        agent.name = name;
    }
    if let Some(avatar) = avatar {
        agent.avatar = avatar;
    }
    if let Some(description) = description {
        agent.description = description;
    }
    character(ctx, &character_id)
}

pub fn agent_list(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let service_id = ctx.str("service_id")?.to_string();
    ctx.state.owned_service(&ctx.caller, &service_id)?;
    let ids: Vec<String> = ctx
        .state
        .agents_of(&service_id)
        .into_iter()
        .map(|a| a.character_id.clone())
        .collect();
    Ok(ids
        .iter()
        .filter_map(|id| ctx.state.character_object(id))
        .collect())
}

/// Character objects for users and agents; unknown ids are skipped.
pub fn fetch_profile(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let ids = ctx.id_list("character_list")?;
    Ok(ids
        .iter()
        .filter_map(|id| ctx.state.character_object(id))
        .collect())
}

fn character(ctx: &Ctx<'_>, character_id: &str) -> Result<Value, ApiError> {
    ctx.state
        .character_object(character_id)
        .ok_or_else(|| ApiError::NotFound(format!("unknown character {character_id:?}")))
}
