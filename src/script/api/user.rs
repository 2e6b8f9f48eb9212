//! User mode (`service_mode: false`): what a member can do, for bots that
//! join someone else's channel. `join_channel`, `leave_channel`,
//! `refresh_channel`, `send_message_up`, `click_button`, `click_menu_item`;
//! `fetch_member_ids(channel_id)` answers with the channel's character list
//! as last received. The frames follow docs/PROTOCOL.md 3.3.

use super::convert::{host_failed, ids_of, script_error, to_json, Fallible};
use super::HostApi;
use crate::protocol::IdList;
use crate::script::defs;
use rhai::{Dynamic, Engine, ImmutableString, Map};
use serde_json::{json, Map as JsonMap, Value};
use std::rc::Rc;

/// A frame a user-mode script sends.
#[derive(Debug, Clone, PartialEq)]
pub enum UserFrame {
    /// An `action`'s body (`subtype`, `channel_id`, ...).
    Action(JsonMap<String, Value>),
    /// A `message_up`'s body without `recipients`, which the host turns into
    /// a group id.
    MessageUp {
        body: JsonMap<String, Value>,
        recipients: IdList,
    },
}

fn action(subtype: &str, channel_id: &str, extra: Value) -> UserFrame {
    let mut body = JsonMap::new();
    body.insert("subtype".into(), json!(subtype));
    body.insert("channel_id".into(), json!(channel_id));
    if let Value::Object(extra) = extra {
        body.extend(extra);
    }
    body.insert("context".into(), json!({}));
    UserFrame::Action(body)
}

/// A dialog's values as the platform wants them: `[#{label, value}]`.
fn arguments(values: &Map) -> Value {
    Value::Array(
        values
            .iter()
            .map(|(k, v)| json!({"label": k.as_str(), "value": v.to_string()}))
            .collect(),
    )
}

/// `send_message_up(#{subtype, text | path, channel_id, recipients})`.
fn message_up(message: &Map) -> Fallible<UserFrame> {
    let func = "send_message_up";
    let mut m = match to_json(&Dynamic::from_map(message.clone()), func, "message")? {
        Value::Object(m) => m,
        _ => return Err(script_error(format!("{func}: message must be a map"))),
    };
    let recipients = match message.get("recipients") {
        Some(r) => ids_of(r, func, "recipients")?,
        None => return Err(script_error(format!("{func}: recipients is missing"))),
    };
    m.remove("recipients");
    let channel_id = match m.remove("channel_id") {
        Some(Value::String(c)) => c,
        _ => return Err(script_error(format!("{func}: channel_id is missing"))),
    };
    let subtype = match m.remove("subtype") {
        Some(Value::String(s)) => s,
        _ => "text".to_string(),
    };
    let context = m.remove("context").unwrap_or_else(|| json!({}));
    let mut body = JsonMap::new();
    body.insert("subtype".into(), json!(subtype));
    body.insert("channel_id".into(), json!(channel_id));
    body.insert("content".into(), Value::Object(m));
    body.insert("timestamp".into(), json!(crate::clock::now_ms()));
    body.insert("context".into(), context);
    Ok(UserFrame::MessageUp { body, recipients })
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let send = {
        let h = host.clone();
        move |frame: UserFrame| -> Fallible<()> { h.send_as_user(frame).map_err(host_failed) }
    };
    for (func, subtype, doc) in [
        (
            "join_channel",
            "join_channel",
            "User mode: joins the channel as this member.",
        ),
        (
            "leave_channel",
            "leave_channel",
            "User mode: leaves the channel.",
        ),
        (
            "refresh_channel",
            "refresh",
            "User mode: asks the service for the channel's view again.",
        ),
    ] {
        let s = send.clone();
        defs::register_fn(
            engine,
            func,
            ["channel_id"],
            doc,
            move |channel_id: ImmutableString| s(action(subtype, &channel_id, Value::Null)),
        );
    }
    let s = send.clone();
    defs::register_fn(
        engine,
        "send_message_up",
        ["text", "channel_id", "recipients"],
        "User mode: sends a text message to the service, for the recipients (an id, a \
         character, or an array mixing both).",
        move |text: ImmutableString, channel_id: ImmutableString, recipients: Dynamic| {
            let mut m = Map::new();
            m.insert("text".into(), Dynamic::from(text));
            m.insert("channel_id".into(), Dynamic::from(channel_id));
            m.insert("recipients".into(), recipients);
            s(message_up(&m)?)
        },
    );
    let s = send.clone();
    defs::register_fn(
        engine,
        "send_message_up",
        ["message"],
        "User mode: sends a message to the service: `#{subtype, text | path, channel_id, \
         recipients}`.",
        move |message: Map| s(message_up(&message)?),
    );
    register_clicks(engine, send);
}

fn register_clicks(
    engine: &mut Engine,
    send: impl Fn(UserFrame) -> Fallible<()> + Clone + 'static,
) {
    let click = {
        let s = send.clone();
        move |channel_id: &str, button_id: &str, values: &Map, bottom: &str| {
            let extra = json!({"button_id": button_id, "arguments": arguments(values), "bottom_button_id": bottom});
            s(action("button_click", channel_id, extra))
        }
    };
    let c = click.clone();
    defs::register_fn(
        engine,
        "click_button",
        ["channel_id", "button_id"],
        "User mode: clicks a button.",
        move |ch: &str, button_id: &str| c(ch, button_id, &Map::new(), "confirm"),
    );
    let c = click.clone();
    defs::register_fn(
        engine,
        "click_button",
        ["channel_id", "button_id", "values"],
        "User mode: clicks a button and submits its dialog with `values`: `#{label: value}`.",
        move |ch: &str, button_id: &str, values: Map| c(ch, button_id, &values, "confirm"),
    );
    defs::register_fn(
        engine,
        "click_button",
        ["channel_id", "button_id", "values", "bottom_button_id"],
        "User mode: clicks a button and submits its dialog with `values` (`#{label: value}`) \
         through the bottom button `bottom_button_id`.",
        move |ch: &str, button_id: &str, values: Map, bottom: &str| {
            click(ch, button_id, &values, bottom)
        },
    );
    let menu = move |ch: &str, item: &str, message_id: &str, values: &Map| {
        let extra = json!({
            "menu_item_id": item, "message_id": message_id, "message_subtype": "<unknown>",
            "message_content": {}, "arguments": arguments(values), "bottom_button_id": "confirm",
        });
        send(action("menu_item_click", ch, extra))
    };
    let m = menu.clone();
    defs::register_fn(
        engine,
        "click_menu_item",
        ["channel_id", "menu_item_id", "message_id"],
        "User mode: chooses a right-click menu item on the message `message_id`.",
        move |ch: &str, item: &str, message_id: &str| m(ch, item, message_id, &Map::new()),
    );
    defs::register_fn(
        engine,
        "click_menu_item",
        ["channel_id", "menu_item_id", "message_id", "values"],
        "User mode: chooses a right-click menu item on the message `message_id` and submits \
         its dialog with `values`: `#{label: value}`.",
        move |ch: &str, item: &str, message_id: &str, values: Map| {
            menu(ch, item, message_id, &values)
        },
    );
}
