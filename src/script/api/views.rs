//! What members see besides characters: `send_buttons`, `send_canvas`,
//! `send_menu`, `send_style`, `update_channel_info`.

use super::convert::{ids_of, script_error, Fallible};
use super::schema::{self, Field};
use super::HostApi;
use crate::protocol::outbound::UpdateKind;
use rhai::{Dynamic, Engine, ImmutableString};
use std::rc::Rc;

fn register_update(
    engine: &mut Engine,
    host: &Rc<dyn HostApi>,
    func: &'static str,
    arg: &'static str,
    kind: UpdateKind,
    fields: &'static [Field],
) {
    let h = host.clone();
    engine.register_fn(
        func,
        move |items: Dynamic, channel_id: ImmutableString, recipients: Dynamic| -> Fallible<()> {
            let content = schema::list(&items, fields, arg, func, true)?;
            if kind == UpdateKind::Canvas {
                for (i, item) in content.iter().enumerate() {
                    if let Some(path) = item["path"].as_str() {
                        h.check_file(path)
                            .map_err(|e| script_error(format!("{func}: {arg}[{i}].path: {e}")))?;
                    }
                }
            }
            let recipients = ids_of(&recipients, func, "recipients")?;
            let update = ViewUpdate {
                kind,
                channel_id: channel_id.to_string(),
                content,
                recipients,
            };
            h.send_update(update).map_err(script_error)
        },
    );
}

/// A buttons, canvas, menu or style update, as a script made it.
#[derive(Debug)]
pub struct ViewUpdate {
    pub kind: UpdateKind,
    pub channel_id: String,
    /// The records (JSON objects), checked against the kind's schema.
    pub content: Vec<serde_json::Value>,
    pub recipients: crate::protocol::IdList,
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    register_update(
        engine,
        host,
        "send_buttons",
        "buttons",
        UpdateKind::Buttons,
        schema::BUTTON,
    );
    register_update(
        engine,
        host,
        "send_canvas",
        "items",
        UpdateKind::Canvas,
        schema::CANVAS_ITEM,
    );
    register_update(
        engine,
        host,
        "send_menu",
        "items",
        UpdateKind::Menu,
        schema::MENU_ITEM,
    );
    register_update(
        engine,
        host,
        "send_style",
        "items",
        UpdateKind::Style,
        schema::STYLE_ITEM,
    );

    let h = host.clone();
    engine.register_fn(
        "update_channel_info",
        move |channel_id: ImmutableString, info: Dynamic| -> Fallible<()> {
            let record =
                schema::record(&info, schema::CHANNEL_INFO, "info", "update_channel_info")?;
            h.update_channel_info(&channel_id, record)
                .map_err(script_error)
        },
    );
}
