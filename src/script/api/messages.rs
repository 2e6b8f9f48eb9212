//! `send_message` in its three forms, normalised into one outgoing message:
//!
//! - `send_message(message)` re-sends a received message (or a map, below);
//! - `send_message(text, channel_id, sender, recipients)`;
//! - `send_message(#{subtype, text | path | link/title/button, channel_id,
//!   sender, recipients, file_display_name, context})`.
//!
//! As in the SDK, a path's subtype is inferred from its extension, a local
//! file's size and name are filled in for `file` messages, and `sender` is the
//! character shown as the author (a member, an agent or a character).

use super::convert::{
    host_failed, host_failed_in, ids_of, one_id, script_error, string_arg, to_json, Fallible,
};
use super::HostApi;
use crate::protocol::IdList;
use crate::script::defs;
use rhai::{Dynamic, Engine, Map};
use serde_json::Value;
use std::rc::Rc;

const FUNC: &str = "send_message";
const CONTENT_KEYS: &[&str] = &[
    "text", "path", "size", "filename", "link", "title", "button",
];
const OTHER_KEYS: &[&str] = &[
    "subtype",
    "channel_id",
    "sender",
    "recipients",
    "context",
    "content",
    "message_id",
    "timestamp",
    "file_display_name",
    "image",
    "audio",
];
pub const SUBTYPES: &[&str] = &["text", "image", "audio", "file", "card"];
const IMAGE_EXT: &[&str] = &[
    "jpe", "jpg", "jpeg", "gif", "png", "bmp", "ico", "svg", "svgz", "tif", "tiff", "ai", "drw",
    "pct", "psp", "xcf", "raw", "webp", "heic",
];
const AUDIO_EXT: &[&str] = &["wav", "mp3", "mp4", "mp5"];

/// A message ready for the outbox. `content` holds only non-null fields;
/// `content.path` may still be a local path (uploaded by the outbox).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub channel_id: String,
    pub subtype: String,
    pub content: serde_json::Map<String, Value>,
    pub sender: String,
    pub recipients: IdList,
    pub context: Value,
}

#[derive(Default)]
struct Draft {
    subtype: Option<String>,
    content: serde_json::Map<String, Value>,
    display_name: Option<String>,
    channel_id: Option<String>,
    sender: Option<String>,
    recipients: Option<IdList>,
    context: Option<Value>,
}

fn infer_subtype(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    if path.contains('.') && IMAGE_EXT.contains(&ext.as_str()) {
        "image"
    } else if path.contains('.') && AUDIO_EXT.contains(&ext.as_str()) {
        "audio"
    } else {
        "file"
    }
}

fn set_content(draft: &mut Draft, key: &str, v: &Dynamic) -> Fallible<()> {
    if v.is_unit() {
        return Ok(());
    }
    let value = match key {
        "size" => v.as_int().map(Value::from).map_err(|_| {
            script_error(format!("{FUNC}: message.size: expected a number of bytes"))
        })?,
        _ => Value::String(string_arg(v, FUNC, &format!("message.{key}"))?),
    };
    draft.content.insert(key.to_string(), value);
    Ok(())
}

fn from_map(map: &Map) -> Fallible<Draft> {
    let mut d = Draft::default();
    if let Some(k) = map
        .keys()
        .find(|k| !CONTENT_KEYS.contains(&k.as_str()) && !OTHER_KEYS.contains(&k.as_str()))
    {
        return Err(script_error(format!("{FUNC}: message.{k}: unknown field")));
    }
    if let Some(content) = map.get("content").filter(|v| !v.is_unit()) {
        let content = content
            .read_lock::<Map>()
            .ok_or_else(|| script_error(format!("{FUNC}: message.content: expected a map")))?;
        for (k, v) in content.iter() {
            if !CONTENT_KEYS.contains(&k.as_str()) {
                return Err(script_error(format!(
                    "{FUNC}: message.content.{k}: unknown field"
                )));
            }
            set_content(&mut d, k, v)?;
        }
    }
    for key in CONTENT_KEYS {
        if let Some(v) = map.get(*key) {
            set_content(&mut d, key, v)?;
        }
    }
    for (key, subtype) in [("image", "image"), ("audio", "audio")] {
        if let Some(v) = map.get(key).filter(|v| !v.is_unit()) {
            d.content.insert(
                "path".into(),
                Value::String(string_arg(v, FUNC, &format!("message.{key}"))?),
            );
            d.subtype = Some(subtype.into());
        }
    }
    let text = |key: &str| -> Fallible<Option<String>> {
        match map.get(key).filter(|v| !v.is_unit()) {
            Some(v) => string_arg(v, FUNC, &format!("message.{key}")).map(Some),
            None => Ok(None),
        }
    };
    if d.subtype.is_none() {
        d.subtype = text("subtype")?;
    }
    d.display_name = text("file_display_name")?;
    d.channel_id = text("channel_id")?;
    if let Some(s) = map.get("sender").filter(|v| !v.is_unit()) {
        d.sender = Some(one_id(s, FUNC, "message.sender")?);
    }
    if let Some(r) = map.get("recipients").filter(|v| !v.is_unit()) {
        d.recipients = Some(ids_of(r, FUNC, "message.recipients")?);
    }
    if let Some(c) = map.get("context").filter(|v| !v.is_unit()) {
        d.context = Some(to_json(c, FUNC, "message.context")?);
    }
    Ok(d)
}

fn finish(mut d: Draft, host: &dyn HostApi) -> Fallible<OutgoingMessage> {
    let path = d
        .content
        .get("path")
        .and_then(Value::as_str)
        .map(str::to_string);
    let subtype = match d.subtype.take() {
        Some(s) => s,
        None if d.display_name.is_some() => "file".into(),
        None if d.content.contains_key("link") => "card".into(),
        None => match &path {
            Some(p) => infer_subtype(p).into(),
            None => "text".into(),
        },
    };
    if !SUBTYPES.contains(&subtype.as_str()) {
        return Err(script_error(format!(
            "{FUNC}: subtype {subtype:?} is not one of {}",
            SUBTYPES.join(", ")
        )));
    }
    if subtype == "text" && !d.content.contains_key("text") {
        return Err(script_error(format!("{FUNC}: a text message needs text")));
    }
    if matches!(subtype.as_str(), "image" | "audio" | "file") && path.is_none() {
        return Err(script_error(format!(
            "{FUNC}: a {subtype} message needs a path (a URL or a file in the service directory)"
        )));
    }
    if let Some(p) = &path {
        let local_size = host
            .check_file(p)
            .map_err(|e| host_failed_in(format!("{FUNC}: path"), e))?;
        if subtype == "file" {
            if let (Some(size), false) = (local_size, d.content.contains_key("size")) {
                d.content.insert("size".into(), Value::from(size));
            }
            if !d.content.contains_key("filename") {
                let name = d
                    .display_name
                    .clone()
                    .unwrap_or_else(|| p.rsplit('/').next().unwrap_or(p).to_string());
                d.content.insert("filename".into(), Value::String(name));
            }
        }
    }
    let missing =
        |what: &str, hint: &str| script_error(format!("{FUNC}: {what} is missing ({hint})"));
    let recipients = d
        .recipients
        .ok_or_else(|| missing("recipients", "a member id, a character or an array of them"))?;
    Ok(OutgoingMessage {
        channel_id: d
            .channel_id
            .ok_or_else(|| missing("channel_id", "the channel to send to"))?,
        subtype,
        content: d.content,
        sender: d.sender.ok_or_else(|| {
            missing(
                "sender",
                "the character shown as the author: a member id or an agent",
            )
        })?,
        recipients,
        context: d
            .context
            .unwrap_or_else(|| Value::Object(Default::default())),
    })
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    defs::register_fn(
        engine,
        FUNC,
        ["message"],
        "Sends a message: `#{subtype, text | path | link, title, button, channel_id, sender, \
         recipients, file_display_name, context}`, or re-sends a received message as it is.\n\
         `path`: a URL or a file in the service directory (uploaded once per content); the \
         subtype follows the extension when not given (image, audio, else file). `sender` (a \
         member id, an agent or a character) is the author shown.",
        move |message: Map| -> Fallible<()> {
            let msg = finish(from_map(&message)?, h.as_ref())?;
            h.send_message(msg).map_err(host_failed)
        },
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        FUNC,
        ["message", "channel_id", "sender", "recipients"],
        "Sends a text message from `sender` to the recipients (an id, a character, or an array \
         mixing both). `message` may also be a message map, whose fields the other arguments \
         override (`()` leaves a field as it is).",
        move |message: Dynamic,
              channel_id: Dynamic,
              sender: Dynamic,
              recipients: Dynamic|
              -> Fallible<()> {
            let mut d = if let Some(map) = message.read_lock::<Map>() {
                from_map(&map)?
            } else {
                let mut d = Draft::default();
                d.content.insert(
                    "text".into(),
                    Value::String(string_arg(&message, FUNC, "message")?),
                );
                d
            };
            if !channel_id.is_unit() {
                d.channel_id = Some(string_arg(&channel_id, FUNC, "channel_id")?);
            }
            if !sender.is_unit() {
                d.sender = Some(one_id(&sender, FUNC, "sender")?);
            }
            if !recipients.is_unit() {
                d.recipients = Some(ids_of(&recipients, FUNC, "recipients")?);
            }
            let msg = finish(d, h.as_ref())?;
            h.send_message(msg).map_err(host_failed)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtypes_follow_the_extension() {
        assert_eq!(infer_subtype("resources/cat.PNG"), "image");
        assert_eq!(infer_subtype("https://x/y/song.mp3"), "audio");
        assert_eq!(infer_subtype("notes.txt"), "file");
        assert_eq!(infer_subtype("README"), "file");
    }
}
