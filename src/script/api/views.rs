//! What members see besides characters: `send_buttons`, `send_canvas`,
//! `send_menu`, `send_style`, `update_channel_info`.

use super::convert::{host_failed, host_failed_in, ids_of, Fallible};
use super::schema::{self, Field};
use super::HostApi;
use crate::protocol::outbound::UpdateKind;
use crate::script::defs;
use rhai::{Dynamic, Engine, ImmutableString};
use std::rc::Rc;

fn register_update(
    engine: &mut Engine,
    host: &Rc<dyn HostApi>,
    func: &'static str,
    arg: &'static str,
    kind: UpdateKind,
    fields: &'static [Field],
    doc: &str,
) {
    let h = host.clone();
    let doc = format!(
        "{doc}\nA single map is taken as a list of one; each is checked before sending. \
         `recipients`: an id, a character, or an array mixing both."
    );
    defs::register_fn(
        engine,
        func,
        [arg, "channel_id", "recipients"],
        &doc,
        move |items: Dynamic, channel_id: ImmutableString, recipients: Dynamic| -> Fallible<()> {
            let content = schema::list(&items, fields, arg, func, true)?;
            if kind == UpdateKind::Canvas {
                for (i, item) in content.iter().enumerate() {
                    if let Some(path) = item["path"].as_str() {
                        h.check_file(path)
                            .map_err(|e| host_failed_in(format!("{func}: {arg}[{i}].path"), e))?;
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
            h.send_update(update).map_err(host_failed)
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
        "Sets the buttons the recipients see: `#{button_id, button_text, dialog: #{title, \
         components: [#{label, type, required, placeholder, choices}], bottom_buttons: [#{id, \
         text, submit}]}}`.",
    );
    register_update(
        engine,
        host,
        "send_canvas",
        "items",
        UpdateKind::Canvas,
        schema::CANVAS_ITEM,
        "Sets the canvas the recipients see: `#{text, path}`; a local image path is uploaded.",
    );
    register_update(
        engine,
        host,
        "send_menu",
        "items",
        UpdateKind::Menu,
        schema::MENU_ITEM,
        "Sets the right-click menu of the recipients' messages: `#{menu_item_id, \
         menu_item_text, message_subtypes, dialog}`.",
    );
    register_update(
        engine,
        host,
        "send_style",
        "items",
        UpdateKind::Style,
        schema::STYLE_ITEM,
        "Styles the recipients' view: `#{widget, display: \"visible\" | \"invisible\" | \
         \"highlight\", expand, button_id, text}`.",
    );

    let h = host.clone();
    defs::register_fn(
        engine,
        "update_channel_info",
        ["channel_id", "info"],
        "Changes the channel's name, description or type: `info` is `#{channel_name, \
         channel_description, channel_type}`.",
        move |channel_id: ImmutableString, info: Dynamic| -> Fallible<()> {
            let record =
                schema::record(&info, schema::CHANNEL_INFO, "info", "update_channel_info")?;
            h.update_channel_info(&channel_id, record)
                .map_err(host_failed)
        },
    );
}
