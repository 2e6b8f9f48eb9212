//! Channels, history, downloads and logging: `fetch_channel_list`,
//! `create_channel`, `fetch_message_history`, `download`, `log`.

use super::convert::{from_json, host_failed, script_error, Fallible};
use super::{Downloaded, HostApi};
use crate::script::defs;
use rhai::{Blob, Dynamic, Engine, ImmutableString, INT};
use std::rc::Rc;

/// The SDK's default history length.
const HISTORY_LIMIT: INT = 1024;

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    defs::register_fn(
        engine,
        "fetch_channel_list",
        [],
        "The channels this service's account can see, as the platform lists them.",
        move || -> Fallible<Dynamic> {
            h.fetch_channel_list()
                .map(|v| from_json(&v))
                .map_err(host_failed)
        },
    );

    let h = host.clone();
    defs::register_fn(
        engine,
        "create_channel",
        ["name", "description"],
        "Creates a channel and binds this service to it; its id.",
        move |name: &str, description: &str| -> Fallible<ImmutableString> {
            h.create_channel(name, description)
                .map(Into::into)
                .map_err(host_failed)
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
                .map_err(host_failed)
        }
    };
    let h2 = history.clone();
    defs::register_fn(
        engine,
        "fetch_message_history",
        ["channel_id"],
        &format!("The channel's latest {HISTORY_LIMIT} messages, as the platform's `data`."),
        move |channel_id: &str| h2(channel_id, HISTORY_LIMIT),
    );
    defs::register_fn(
        engine,
        "fetch_message_history",
        ["channel_id", "limit"],
        "The channel's latest `limit` messages, as the platform's `data`.",
        history,
    );

    register_downloads(engine, host);
    register_log(engine);
}

fn register_downloads(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    defs::register_fn(
        engine,
        "download",
        ["url"],
        "Downloads a file (of limited size): its bytes.",
        move |url: &str| -> Fallible<Blob> {
            match h.download(url, None).map_err(host_failed)? {
                Downloaded::Bytes(b) => Ok(b),
                Downloaded::Saved(_) => Err(script_error("download: unexpected saved file")),
            }
        },
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        "download",
        ["url", "file_name"],
        "Downloads a file (of limited size) into `downloads/FILE_NAME` in the service \
         directory; its path there.",
        move |url: &str, file_name: &str| -> Fallible<ImmutableString> {
            match h.download(url, Some(file_name)).map_err(host_failed)? {
                Downloaded::Saved(p) => Ok(p.into()),
                Downloaded::Bytes(_) => Err(script_error("download: the file was not saved")),
            }
        },
    );
}

fn register_log(engine: &mut Engine) {
    defs::register_fn(
        engine,
        "log",
        ["message"],
        "Writes `message` to the host's log, at level info.",
        |msg: Dynamic| tracing::info!(target: "script", "{msg}"),
    );
    defs::register_fn(
        engine,
        "log",
        ["level", "message"],
        "Writes `message` to the host's log at `level`: `\"trace\"`, `\"debug\"`, `\"info\"`, \
         `\"warn\"` (or `\"warning\"`), `\"error\"` (or `\"critical\"`).",
        |level: &str, msg: Dynamic| match level.to_ascii_lowercase().as_str() {
            "trace" => tracing::trace!(target: "script", "{msg}"),
            "debug" => tracing::debug!(target: "script", "{msg}"),
            "warn" | "warning" => tracing::warn!(target: "script", "{msg}"),
            "error" | "critical" => tracing::error!(target: "script", "{msg}"),
            _ => tracing::info!(target: "script", "{msg}"),
        },
    );
}
