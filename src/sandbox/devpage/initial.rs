//! The dev page as served: `index.html` with the sandbox's current state
//! embedded as JSON, so the very first paint (a one-shot headless screenshot,
//! a slow connection) already shows every member's column.
//!
//! The state is the same data the page would fetch from the control API for
//! the first channel: the channel list, the simulated users, the members,
//! each user's view and the script status. The page renders it at once, then
//! re-reads everything when its event stream opens, so a change between the
//! two is not missed. The JSON sits in a `<script type="application/json">`
//! element, which is data, never executed; `<`, `>` and `&` are escaped so
//! no text a service sent can close the element.

use serde_json::{json, Map, Value};

use crate::sandbox::control::SandboxControl;

/// The element in `index.html` that the state replaces.
const PLACEHOLDER: &str = r#"<script id="initial-state" type="application/json">null</script>"#;

/// `index.html` with the current state in place of its placeholder.
pub fn page(template: &str, control: &SandboxControl) -> String {
    let state = script_safe(&initial_state(control));
    let element = format!(r#"<script id="initial-state" type="application/json">{state}</script>"#);
    template.replacen(PLACEHOLDER, &element, 1)
}

/// What the page would load first: lists and views for the first channel
/// (`channel_id` null when there is none yet).
fn initial_state(control: &SandboxControl) -> Value {
    let channels = control.channels();
    let status = control.script_status();
    let Some(channel_id) = channels.first().map(|c| c.channel_id.clone()) else {
        return json!({"channels": channels, "channel_id": null, "status": status});
    };
    let users = control.users();
    let members = control.members(&channel_id).unwrap_or_default();
    let views: Map<String, Value> = users
        .iter()
        .filter_map(|user| {
            let view = control.view(&user.character_id, &channel_id).ok()?;
            let view = serde_json::to_value(view).ok()?;
            Some((user.character_id.clone(), view))
        })
        .collect();
    json!({
        "channels": channels,
        "channel_id": channel_id,
        "users": users,
        "members": members,
        "views": views,
        "status": status,
    })
}

/// JSON text that can sit inside a `<script>` element: outside strings JSON
/// has no `<`, `>` or `&`, and inside them the `\u` escapes mean the same.
fn script_safe(value: &Value) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".to_string())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_safe_json_cannot_close_the_element_and_reads_back_the_same() {
        let value = json!({"text": "</script><script>alert(1)</script> & <!--"});
        let text = script_safe(&value);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let back: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, value);
    }

    #[test]
    fn the_placeholder_is_in_the_page() {
        assert!(super::super::INDEX_HTML.contains(PLACEHOLDER));
    }
}
