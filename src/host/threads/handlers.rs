//! Where an event becomes its handler: a join becomes `on_join`, a message
//! `on_message_up`, a click `on_button_click`... with the event's Rhai
//! value (`action`, `message`, `click`) and the member-table update that
//! must precede the handler. The call itself (measured, logged) is
//! `call.rs`.
//!
//! Runs on a script thread (see `script_thread.rs`), one event at a time.

use crate::host::bridge::HostBridge;
use crate::host::callbacks::Callback;
use crate::host::events::{HostEvent, Inspection, SpellAnswer};
use crate::host::threads::call::{call_measured, log_outcome, run};
use crate::host::threads::user_events;
use crate::protocol::{Click, Inbound, MessageUp, SimpleAction};
use crate::script::ServiceScript;
use rhai::{Dynamic, Map};

/// `on_spell(value)`: its return value as JSON, or why there is none.
pub(in crate::host) fn spell(script: &mut ServiceScript, value: serde_json::Value) -> SpellAnswer {
    let arg = crate::script::from_json(&value);
    match script.call_returning("on_spell", vec![arg]) {
        Ok(Some(v)) => rhai::serde::from_dynamic(&v)
            .map_err(|e| format!("on_spell returned a value that is not JSON: {e}")),
        Ok(None) => Err("the script defines no on_spell(value)".into()),
        Err(d) => {
            tracing::error!(handler = "on_spell", "{d}");
            Err(d.to_string())
        }
    }
}

/// Calls what a timer or a request asked for; a missing function is
/// reported once (and a timer dropped). A request's callback may take the
/// response alone. A timer's error is logged by the timers (at most once a
/// minute for a periodic one), a request's here.
fn call_back(
    script: &mut ServiceScript,
    bridge: &HostBridge,
    mut cb: Callback,
    timer: Option<u64>,
) {
    let has = |n| script.has_function(&cb.function, n);
    if timer.is_none() && !has(2) && has(1) {
        cb.args.truncate(1);
    }
    if !script.has_function(&cb.function, cb.args.len()) {
        bridge.callbacks.missing(&cb, timer);
        return;
    }
    let args = std::mem::take(&mut cb.args);
    let outcome = call_measured(script, &cb.function, args);
    match timer {
        Some(id) => {
            let error = outcome.as_ref().err().map(|d| d as &dyn std::fmt::Display);
            bridge.callbacks.timer_done(id, &cb, error);
        }
        None => log_outcome(&cb.function, &outcome),
    }
}

fn action_map(a: &SimpleAction) -> Dynamic {
    let mut m = Map::new();
    m.insert("subtype".into(), a.subtype.clone().into());
    m.insert("channel_id".into(), a.channel_id.clone().into());
    m.insert("sender".into(), a.sender.clone().into());
    let context = a
        .context
        .as_ref()
        .and_then(|c| rhai::serde::to_dynamic(c).ok())
        .unwrap_or_else(|| Dynamic::from_map(Map::new()));
    m.insert("context".into(), context);
    Dynamic::from_map(m)
}

fn message_map(m: MessageUp, recipients: Vec<String>) -> Dynamic {
    let value = serde_json::json!({
        "subtype": m.subtype,
        "channel_id": m.channel_id,
        "content": m.content,
        "timestamp": m.timestamp,
        "recipients": recipients,
        "sender": m.sender,
        "message_id": m.message_id,
        "context": m.context.unwrap_or_else(|| serde_json::json!({})),
    });
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

fn click_map(c: Click) -> Dynamic {
    rhai::serde::to_dynamic(serde_json::Value::Object(c.body)).unwrap_or(Dynamic::UNIT)
}

fn resync(bridge: &HostBridge, channel_id: &str) {
    if let Err(e) = bridge.resync(channel_id) {
        tracing::warn!(%channel_id, error = %e, "member resync failed; keeping the previous member list");
    }
}

pub(in crate::host) fn handle(script: &mut ServiceScript, bridge: &HostBridge, event: HostEvent) {
    match event {
        HostEvent::BeforeChannelInit { service_id } => {
            bridge.set_service_id(service_id);
            run(script, "before_channel_init", vec![]);
        }
        HostEvent::ChannelInit(ch) => {
            resync(bridge, &ch);
            if script.has("on_channel_init", 1) {
                run(script, "on_channel_init", vec![ch.into()]);
            } else {
                run(script, "on_channel_checkin", vec![ch.into()]);
            }
        }
        HostEvent::Checkin(ch) => {
            resync(bridge, &ch);
            run(script, "on_channel_checkin", vec![ch.into()]);
        }
        HostEvent::Start => run(script, "on_start", vec![]),
        HostEvent::Inbound(Inbound::Join(a)) => {
            bridge.members.borrow_mut().join(&a.channel_id, &a.sender);
            run(script, "on_join", vec![action_map(&a)]);
        }
        HostEvent::Inbound(Inbound::Leave(a)) => {
            bridge.members.borrow_mut().leave(&a.channel_id, &a.sender);
            run(script, "on_leave", vec![action_map(&a)]);
        }
        HostEvent::Inbound(Inbound::Refresh(a)) => run(script, "on_refresh", vec![action_map(&a)]),
        HostEvent::Message {
            message,
            recipients,
        } => run(
            script,
            "on_message_up",
            vec![message_map(message, recipients)],
        ),
        HostEvent::Inbound(Inbound::MessageUp(m)) => {
            run(script, "on_message_up", vec![message_map(m, Vec::new())])
        }
        HostEvent::Inbound(Inbound::ButtonClick(c)) => {
            run(script, "on_button_click", vec![click_map(c)])
        }
        HostEvent::Inbound(Inbound::MenuItemClick(c)) => {
            run(script, "on_menu_item_click", vec![click_map(c)])
        }
        HostEvent::Inbound(Inbound::Other(payload)) => {
            let value = rhai::serde::to_dynamic(&payload).unwrap_or(Dynamic::UNIT);
            run(script, "on_unknown_payload", vec![value]);
        }
        HostEvent::Spell { value, reply } => {
            // Its caller gave up waiting (and was answered 503): the spell
            // is dropped, never run after the fact.
            if reply.is_closed() {
                tracing::info!("a spell was dropped: its caller stopped waiting before its turn");
                return;
            }
            let _ = reply.send(spell(script, value));
        }
        HostEvent::Inspect(reply) => {
            let _ = reply.send(Inspection {
                members: bridge.members.borrow().counts(),
                timers_pending: bridge.callbacks.timers_pending(),
            });
        }
        HostEvent::Timer(id) => {
            if let Some(cb) = bridge.callbacks.timer_fired(id) {
                call_back(script, bridge, cb, Some(id));
            }
        }
        HostEvent::Response { id, response, hold } => {
            if let Some(cb) = bridge.callbacks.response(id, response) {
                call_back(script, bridge, cb, None);
            }
            drop(hold);
        }
        HostEvent::Inbound(Inbound::MessageDown(body)) => user_events::message_down(script, body),
        HostEvent::Inbound(Inbound::Update {
            subtype,
            channel_id,
            body,
        }) => user_events::update(script, bridge, &subtype, &channel_id, body),
        HostEvent::Inbound(Inbound::Copy(_) | Inbound::GatewayError | Inbound::Error { .. })
        | HostEvent::Reload(_)
        | HostEvent::Deploy(_)
        | HostEvent::Shared { .. }
        | HostEvent::Clustered { .. }
        | HostEvent::Shutdown => {}
    }
}
