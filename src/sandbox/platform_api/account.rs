//! `/auth/*` and `/user/info`: accounts and tokens.
//!
//! Signing in with an unknown email creates the account, so any SDK config
//! works against a fresh sandbox without a sign-up step; a known email must
//! use its password. Tokens never appear in logs.

use axum::http::Method;
use serde_json::{json, Value};

use super::{ApiError, Ctx};

/// Seconds an access token claims to live (the sandbox never expires them).
const EXPIRES_IN: u64 = 86_400;

pub fn sign_in(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let email = ctx.str("username")?.to_string();
    let password = ctx.str("password")?.to_string();
    if email.is_empty() {
        return Err(ApiError::BadRequest("empty username".into()));
    }
    let (access, refresh) = ctx.state.sign_in(&email, &password)?;
    tracing::info!(email, "signed in");
    Ok(json!({"AuthenticationResult": {
        "AccessToken": access, "RefreshToken": refresh,
        "ExpiresIn": EXPIRES_IN, "TokenType": "Bearer",
    }}))
}

pub fn refresh(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let refresh_token = ctx.str("refresh_token")?.to_string();
    let email = ctx.opt_str("username").map(str::to_string);
    let access = ctx.state.refresh(email.as_deref(), &refresh_token)?;
    Ok(json!({"AuthenticationResult": {
        "AccessToken": access, "ExpiresIn": EXPIRES_IN, "TokenType": "Bearer",
    }}))
}

pub fn sign_out(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    if let Some(token) = ctx.token.clone() {
        ctx.state.sign_out(&token);
    }
    if let Some(token) = ctx.opt_str("access_token").map(str::to_string) {
        ctx.state.sign_out(&token);
    }
    Ok(json!({}))
}

pub fn sign_up(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let email = ctx.str("username")?.to_string();
    let password = ctx.str("password")?.to_string();
    ctx.state.ensure_account(&email, &password);
    Ok(json!({}))
}

/// Confirmation and password-reset steps: nothing to do in a sandbox.
pub fn accept(_ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    Ok(json!({}))
}

/// `GET /user/info` reads, `POST /user/info` updates name/avatar/description.
pub fn user_info(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    if ctx.method == Method::POST {
        let name = ctx.opt_str("name").map(str::to_string);
        let avatar = ctx.opt_str("avatar").map(str::to_string);
        let description = ctx.opt_str("description").map(str::to_string);
        let account = ctx.state.account_mut(&ctx.caller)?;
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            account.name = name;
        }
        if avatar.is_some() {
            account.avatar = avatar;
        }
        if description.is_some() {
            account.description = description;
        }
    }
    let account = ctx.state.account(&ctx.caller)?;
    Ok(json!({
        "user_id": account.user_id,
        "email": account.email,
        "email_verified": true,
        "context": {"name": account.name, "avatar": account.avatar, "description": account.description},
        "system_context": {},
    }))
}
