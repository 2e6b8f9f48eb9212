//! What a simulated user can do through the control API, in the control
//! API's own convenient terms: recipients by name, click arguments as a
//! `{"label": "value"}` object, a menu click naming only the message id.
//!
//! Parsing (`ControlAction::parse`, with the field readers of
//! `control_fields`) is pure and answers a malformed field with an error
//! naming it. Resolution (`World::resolve_control_action`) then turns
//! names into ids, recipients into a group, and a message id into the message
//! the user received, producing the same `UserAction` a real user's client
//! would cause, so the service cannot tell the two apart.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::fields::{
    bottom_button, click_arguments, message_content, opt_str, recipients, required_str,
};
use super::ControlError;
use crate::sandbox::shared::World;
use crate::sandbox::upward::UserAction;

/// `bottom_button_id` when the caller gives none (the SDK's convention).
pub const DEFAULT_BOTTOM_BUTTON: &str = "confirm";

/// One dialog value of a click (the ClickArgument record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickArgument {
    pub label: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

impl ClickArgument {
    pub fn new(label: &str, value: &str) -> Self {
        Self {
            label: label.to_string(),
            value: value.to_string(),
            filename: None,
        }
    }
}

/// An action of a simulated user.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlAction {
    Join,
    Leave,
    Refresh,
    /// `message_up`. `recipients` are user/agent names or ids; `None` means
    /// every member of the channel.
    Message {
        subtype: String,
        content: Map<String, Value>,
        recipients: Option<Vec<String>>,
    },
    ButtonClick {
        button_id: String,
        arguments: Vec<ClickArgument>,
        bottom_button_id: String,
    },
    /// A click on a menu item of a message the user received.
    MenuItemClick {
        menu_item_id: String,
        message_id: String,
        arguments: Vec<ClickArgument>,
        bottom_button_id: String,
    },
}

impl ControlAction {
    /// A text message to every member of the channel.
    pub fn text(text: &str) -> Self {
        let mut content = Map::new();
        content.insert("text".into(), json!(text));
        ControlAction::Message {
            subtype: "text".into(),
            content,
            recipients: None,
        }
    }

    /// Parses an action name and its fields, as `POST /sandbox/act` takes
    /// them (the fields are the request's other top-level keys).
    pub fn parse(name: &str, fields: &Map<String, Value>) -> Result<Self, ControlError> {
        match name {
            "join" | "join_channel" => Ok(ControlAction::Join),
            "leave" | "leave_channel" => Ok(ControlAction::Leave),
            "refresh" => Ok(ControlAction::Refresh),
            "message" => Ok(ControlAction::Message {
                subtype: opt_str(fields, "subtype")?
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "text".into()),
                content: message_content(fields)?,
                recipients: recipients(fields)?,
            }),
            "button_click" => Ok(ControlAction::ButtonClick {
                button_id: required_str(fields, "button_id")?,
                arguments: click_arguments(fields)?,
                bottom_button_id: bottom_button(fields)?,
            }),
            "menu_item_click" => Ok(ControlAction::MenuItemClick {
                menu_item_id: required_str(fields, "menu_item_id")?,
                message_id: required_str(fields, "message_id")?,
                arguments: click_arguments(fields)?,
                bottom_button_id: bottom_button(fields)?,
            }),
            other => Err(ControlError::BadAction(other.to_string())),
        }
    }
}

fn arguments_json(arguments: &[ClickArgument]) -> Value {
    Value::Array(arguments.iter().map(|a| json!(a)).collect())
}

impl World {
    /// Turns a control action of `user_id` into the user action their client
    /// would cause. Creates the recipients' group for a message.
    pub fn resolve_control_action(
        &mut self,
        user_id: &str,
        channel_id: &str,
        action: ControlAction,
    ) -> Result<UserAction, ControlError> {
        let channel = self.state.channel(channel_id)?;
        let service_id = channel.service_id.clone();
        match action {
            ControlAction::Join => Ok(UserAction::Join),
            ControlAction::Leave => Ok(UserAction::Leave),
            ControlAction::Refresh => Ok(UserAction::Refresh),
            ControlAction::Message {
                subtype,
                content,
                recipients,
            } => {
                let ids = match recipients {
                    None => channel.members.clone(),
                    Some(names) => names
                        .iter()
                        .map(|who| {
                            self.state
                                .resolve_character(who, service_id.as_deref())
                                .ok_or_else(|| ControlError::UnknownRecipient(who.clone()))
                        })
                        .collect::<Result<_, _>>()?,
                };
                let group_id = self.state.create_group(ids, Some(channel_id.to_string()));
                let body = json!({"subtype": subtype, "content": content, "recipients": group_id});
                Ok(UserAction::Message(object(body)))
            }
            ControlAction::ButtonClick {
                button_id,
                arguments,
                bottom_button_id,
            } => Ok(UserAction::ButtonClick(object(json!({
                "button_id": button_id,
                "arguments": arguments_json(&arguments),
                "bottom_button_id": bottom_button_id,
            })))),
            ControlAction::MenuItemClick {
                menu_item_id,
                message_id,
                arguments,
                bottom_button_id,
            } => {
                let message = self
                    .state
                    .received_message(user_id, channel_id, &message_id)
                    .ok_or_else(|| ControlError::UnknownMessage(message_id.clone()))?;
                Ok(UserAction::MenuItemClick(object(json!({
                    "menu_item_id": menu_item_id,
                    "message_id": message_id,
                    "message_subtype": message.subtype,
                    "message_content": message.content,
                    "arguments": arguments_json(&arguments),
                    "bottom_button_id": bottom_button_id,
                }))))
            }
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        object(value)
    }

    #[test]
    fn messages_take_content_from_the_top_level_or_an_object() {
        let parsed = ControlAction::parse(
            "message",
            &fields(
                json!({"text": "hi", "content": {"title": "t", "size": 3}, "recipients": ["bob"]}),
            ),
        );
        assert_eq!(
            parsed.ok(),
            Some(ControlAction::Message {
                subtype: "text".into(),
                content: fields(json!({"text": "hi", "title": "t", "size": 3})),
                recipients: Some(vec!["bob".into()]),
            })
        );
        let errors = [
            (json!({"text": 5}), "\"text\""),
            (json!({"size": "big"}), "\"size\""),
            (json!({"content": {"bogus": 1}}), "content.bogus"),
            (json!({"content": "x"}), "\"content\""),
            (json!({"recipients": [1]}), "recipients[0]"),
            (json!({"subtype": 1}), "\"subtype\""),
        ];
        for (given, named) in errors {
            let err = ControlAction::parse("message", &fields(given.clone()))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(named), "{given}: {err}");
        }
    }

    #[test]
    fn click_arguments_accept_lists_objects_and_the_sdk_wrapping() {
        let expected = vec![ClickArgument::new("Fruit", "apple")];
        for given in [
            json!({"Fruit": "apple"}),
            json!([{"label": "Fruit", "value": "apple"}]),
            json!([[{"label": "Fruit", "value": "apple"}]]),
        ] {
            let parsed = ControlAction::parse(
                "button_click",
                &fields(json!({"button_id": "b", "arguments": given})),
            );
            assert_eq!(
                parsed.ok(),
                Some(ControlAction::ButtonClick {
                    button_id: "b".into(),
                    arguments: expected.clone(),
                    bottom_button_id: DEFAULT_BOTTOM_BUTTON.into(),
                })
            );
        }
        let missing = ControlAction::parse("button_click", &Map::new());
        assert!(missing
            .err()
            .is_some_and(|e| e.to_string().contains("button_id")));
        let bad_label = ControlAction::parse(
            "menu_item_click",
            &fields(json!({"menu_item_id": "m", "message_id": "x", "arguments": [{"value": "v"}]})),
        );
        assert!(bad_label
            .err()
            .is_some_and(|e| e.to_string().contains("arguments[0].label")));
        assert!(matches!(
            ControlAction::parse("dance", &Map::new()),
            Err(ControlError::BadAction(_))
        ));
    }
}
