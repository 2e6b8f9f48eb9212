//! File uploads and downloads (docs/PROTOCOL.md 2.4, 2.5).
//!
//! The platform hands out an S3-style presigned POST: a URL ending in `/`
//! plus form fields with a `key`, and the file's public URL is `url + key`.
//! The sandbox plays both roles: `/file/upload` issues the ticket, `POST
//! /files/` stores the bytes in the sandbox's private directory, and `GET` /
//! `HEAD /files/<key>` serve them back. Only issued keys are accepted, so a
//! key can never name a path outside that directory.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::platform_api::{ApiError, Ctx};
use super::shared::Shared;

/// Largest accepted upload.
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

/// Longest accepted extension.
const MAX_EXTENSION: usize = 16;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/files",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD + 64 * 1024)),
        )
        .route("/files/{key}", get(download).head(download_size))
}

/// `GET /file/upload?extension=png`: a presigned-POST style ticket.
pub fn upload_ticket(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let extension: String = ctx
        .opt_str("extension")
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(MAX_EXTENSION)
        .collect::<String>()
        .to_ascii_lowercase();
    let extension = if extension.is_empty() {
        "bin".to_string()
    } else {
        extension
    };
    let key = ctx.state.issue_upload_key(&extension);
    Ok(json!({"url": format!("{}files/", ctx.base), "fields": {"key": key}}))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// A key the sandbox could have issued: `<hex>.<alnum>`, nothing else.
fn valid_key(key: &str) -> bool {
    match key.split_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && stem.chars().all(|c| c.is_ascii_hexdigit())
                && !ext.is_empty()
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// `POST /files/`: multipart form, the ticket's fields then part `file`.
async fn upload(State(shared): State<Arc<Shared>>, mut form: Multipart) -> Response {
    let mut key: Option<String> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return error(err.status(), &err.body_text()),
        };
        match field.name() {
            Some("key") => match field.text().await {
                Ok(text) => key = Some(text),
                Err(err) => return error(err.status(), &err.body_text()),
            },
            Some("file") => {
                let Some(key) = key.take() else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "the key field must come before the file",
                    );
                };
                if !valid_key(&key) || !shared.world().state.take_upload_key(&key) {
                    return error(StatusCode::FORBIDDEN, "unknown upload key");
                }
                let data = match field.bytes().await {
                    Ok(data) => data,
                    Err(err) => return error(err.status(), &err.body_text()),
                };
                if let Err(err) = tokio::fs::write(shared.files_dir.join(&key), &data).await {
                    tracing::warn!(%err, key, "could not store an upload");
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "could not store the file",
                    );
                }
                tracing::debug!(key, size = data.len(), "file uploaded");
                return StatusCode::NO_CONTENT.into_response();
            }
            _ => {
                // Other presigned-POST fields carry nothing the sandbox needs.
                if let Err(err) = field.bytes().await {
                    return error(err.status(), &err.body_text());
                }
            }
        }
    }
    error(StatusCode::BAD_REQUEST, "no file part")
}

fn content_type(key: &str) -> &'static str {
    let ext = key.rsplit('.').next().unwrap_or_default();
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn headers_for(key: &str, len: u64) -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(key)),
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(len)),
    ]
}

async fn download(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    if !valid_key(&key) {
        return error(StatusCode::NOT_FOUND, "no such file");
    }
    match tokio::fs::read(shared.files_dir.join(&key)).await {
        Ok(data) => (headers_for(&key, data.len() as u64), data).into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, "no such file"),
    }
}

async fn download_size(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Response {
    if !valid_key(&key) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::metadata(shared.files_dir.join(&key)).await {
        Ok(meta) => (headers_for(&key, meta.len()), ()).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
