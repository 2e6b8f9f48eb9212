//! Channels, history, downloads and logging: `fetch_channel_list`,
//! `create_channel`, `fetch_message_history`, `download`, `log`.

use super::convert::{from_json, script_error, Fallible};
use super::{Downloaded, HostApi};
use rhai::{Blob, Dynamic, Engine, ImmutableString, INT};
use std::rc::Rc;

/// The SDK's default history length.
const HISTORY_LIMIT: INT = 1024;

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    engine.register_fn("fetch_channel_list", move || -> Fallible<Dynamic> {
        h.fetch_channel_list()
            .map(|v| from_json(&v))
            .map_err(script_error)
    });

    let h = host.clone();
    engine.register_fn(
        "create_channel",
        move |name: &str, description: &str| -> Fallible<ImmutableString> {
            h.create_channel(name, description)
                .map(Into::into)
                .map_err(script_error)
        },
    );

    let history = {
        let h = host.clone();
        move |channel_id: &str, limit: INT| -> Fallible<Dynamic> {
            if limit <= 0 {
                return Err(script_error(
                    "fetch_message_history: limit must be positive",
                ));
            }
            h.fetch_message_history(channel_id, limit)
                .map(|v| from_json(&v))
                .map_err(script_error)
        }
    };
    let h2 = history.clone();
    engine.register_fn("fetch_message_history", move |channel_id: &str| {
        h2(channel_id, HISTORY_LIMIT)
    });
    engine.register_fn("fetch_message_history", history);

    let h = host.clone();
    engine.register_fn("download", move |url: &str| -> Fallible<Blob> {
        match h.download(url, None).map_err(script_error)? {
            Downloaded::Bytes(b) => Ok(b),
            Downloaded::Saved(_) => Err(script_error("download: unexpected saved file")),
        }
    });
    let h = host.clone();
    engine.register_fn(
        "download",
        move |url: &str, file_name: &str| -> Fallible<ImmutableString> {
            match h.download(url, Some(file_name)).map_err(script_error)? {
                Downloaded::Saved(p) => Ok(p.into()),
                Downloaded::Bytes(_) => Err(script_error("download: the file was not saved")),
            }
        },
    );

    engine.register_fn(
        "log",
        |msg: Dynamic| tracing::info!(target: "script", "{msg}"),
    );
    engine.register_fn("log", |level: &str, msg: Dynamic| {
        match level.to_ascii_lowercase().as_str() {
            "trace" => tracing::trace!(target: "script", "{msg}"),
            "debug" => tracing::debug!(target: "script", "{msg}"),
            "warn" | "warning" => tracing::warn!(target: "script", "{msg}"),
            "error" | "critical" => tracing::error!(target: "script", "{msg}"),
            _ => tracing::info!(target: "script", "{msg}"),
        }
    });
}
