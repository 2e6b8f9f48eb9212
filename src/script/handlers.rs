//! The handlers the host calls: each one's name, parameters and purpose, in
//! one table. The host calls a script function only when its name and
//! parameter count are here; `check` warns about a function that looks like
//! a handler but is not one (`lint`); `moobius-host defs` writes the table
//! out for editors (`handlers.d.rhai`).

/// A function the script defines and the host calls.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub name: &'static str,
    /// The parameters' names, in order.
    pub params: &'static [&'static str],
    /// What it is called for and what it gets (Markdown, lines joined by
    /// `\n`).
    pub doc: &'static str,
}

impl Handler {
    /// How many parameters the host calls it with.
    pub const fn arity(&self) -> usize {
        self.params.len()
    }
}

const fn handler(
    name: &'static str,
    params: &'static [&'static str],
    doc: &'static str,
) -> Handler {
    Handler { name, params, doc }
}

/// Handlers the host calls. Anything else a script defines is an ordinary
/// function.
pub const HANDLERS: &[Handler] = &[
    handler(
        "before_channel_init",
        &[],
        "Called once when the service starts, before any channel is bound: set up `this` here \
         (agents, maps). Not called again on a hot reload.",
    ),
    handler(
        "on_channel_init",
        &["channel_id"],
        "Called once per channel when the service binds it. When the script does not define it, \
         the host calls `on_channel_checkin(channel_id)` instead.",
    ),
    handler(
        "on_channel_checkin",
        &["channel_id"],
        "Called for each channel after its members were read again: at start (unless \
         `on_channel_init` is defined), after a reconnect and every `checkin_interval` seconds.",
    ),
    handler(
        "on_start",
        &[],
        "Called once after every channel is bound, before the first member event.",
    ),
    handler(
        "on_join",
        &["action"],
        "A member joined a channel (the member table already has them).\n\
         `action`: `#{subtype, channel_id, sender, context}`.",
    ),
    handler(
        "on_leave",
        &["action"],
        "A member left a channel (the member table no longer has them).\n\
         `action`: `#{subtype, channel_id, sender, context}`.",
    ),
    handler(
        "on_refresh",
        &["action"],
        "A member's client asks for the channel's view again (after a join, a reload of the \
         page...).\n\
         `action`: `#{subtype, channel_id, sender, context}`.",
    ),
    handler(
        "on_message_up",
        &["message"],
        "A member sent a message.\n\
         `message`: `#{subtype, channel_id, content: #{text, path, size, filename, link, title, \
         button}, timestamp, recipients, sender, message_id, context}`, with `recipients` the \
         list of ids (expanded from the wire's group id).",
    ),
    handler(
        "on_button_click",
        &["click"],
        "A member clicked a button (or submitted its dialog).\n\
         `click`: `#{button_id, channel_id, sender, arguments: [#{label, value}], \
         bottom_button_id, ...}`.",
    ),
    handler(
        "on_menu_item_click",
        &["click"],
        "A member chose a right-click menu item on a message.\n\
         `click`: `#{menu_item_id, message_id, message_subtype, message_content, channel_id, \
         sender, arguments, bottom_button_id, ...}`.",
    ),
    handler(
        "on_reload",
        &[],
        "Called after a hot reload swapped in the new scripts (`this` is kept, \
         `before_channel_init` is not run again).",
    ),
    handler(
        "on_unknown_payload",
        &["payload"],
        "A frame from the platform the host does not handle itself, as a map.",
    ),
    // User mode (`service_mode: false`): what a member receives.
    handler(
        "on_message_down",
        &["message"],
        "User mode: a message reached this member.\n\
         `message`: `#{subtype, channel_id, content: #{text, ...}, sender, message_id, \
         timestamp, context}`.",
    ),
    handler(
        "on_update_characters",
        &["update"],
        "User mode: the channel's character list changed.\n\
         `update`: `#{subtype, channel_id, content: #{characters: [ids]}}` (the group id \
         already expanded).",
    ),
    handler(
        "on_update_buttons",
        &["update"],
        "User mode: the buttons changed. `update`: `#{subtype, channel_id, content}` as \
         received.",
    ),
    handler(
        "on_update_canvas",
        &["update"],
        "User mode: the canvas changed. `update`: `#{subtype, channel_id, content}` as \
         received.",
    ),
    handler(
        "on_update_menu",
        &["update"],
        "User mode: the right-click menu changed. `update`: `#{subtype, channel_id, content}` \
         as received.",
    ),
    handler(
        "on_update_style",
        &["update"],
        "User mode: the style changed. `update`: `#{subtype, channel_id, content}` as received.",
    ),
    handler(
        "on_update_channel_info",
        &["update"],
        "User mode: the channel's name or description changed. `update`: `#{subtype, \
         channel_id, content}` as received.",
    ),
    // The operator's command (`moobius-host spell`).
    handler(
        "on_spell",
        &["value"],
        "The operator sent a value (`moobius-host spell`, the admin endpoint's `POST /spell`, \
         the dev page's spell box). What it returns is answered to the caller, as JSON.",
    ),
];

/// The handler of that name, if there is one.
pub fn handler_named(name: &str) -> Option<&'static Handler> {
    HANDLERS.iter().find(|h| h.name == name)
}
