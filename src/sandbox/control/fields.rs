//! Readers for the fields of `POST /sandbox/act`: each checks one field's
//! type and answers a malformed one with a `BadRequest` naming the field, so
//! a test author sees at once which key was wrong.

use serde_json::{Map, Value};

use super::action::{ClickArgument, DEFAULT_BOTTOM_BUTTON};
use super::ControlError;
use crate::sandbox::upward::CONTENT_KEYS;

fn bad(message: String) -> ControlError {
    ControlError::BadRequest(message)
}

pub fn opt_str(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, ControlError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{key:?} must be a string"))),
    }
}

pub fn required_str(fields: &Map<String, Value>, key: &str) -> Result<String, ControlError> {
    opt_str(fields, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("missing {key:?}")))
}

/// Checks one MessageContent field: `size` a non-negative integer, the rest
/// strings. `where_` names the field in errors.
fn content_value(key: &str, value: &Value, where_: &str) -> Result<Value, ControlError> {
    let ok = if key == "size" {
        value.is_u64()
    } else {
        value.is_string()
    };
    if ok {
        Ok(value.clone())
    } else if key == "size" {
        Err(bad(format!("{where_:?} must be a non-negative integer")))
    } else {
        Err(bad(format!("{where_:?} must be a string")))
    }
}

/// Message content from a `content` object and/or top-level fields (the
/// top level wins). Null values are dropped, as the SDK drops them.
pub fn message_content(fields: &Map<String, Value>) -> Result<Map<String, Value>, ControlError> {
    let mut content = Map::new();
    match fields.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (key, value) in given {
                if !CONTENT_KEYS.contains(&key.as_str()) {
                    return Err(bad(format!(
                        "\"content.{key}\" is not a message content field"
                    )));
                }
                if !value.is_null() {
                    let checked = content_value(key, value, &format!("content.{key}"))?;
                    content.insert(key.clone(), checked);
                }
            }
        }
        Some(_) => return Err(bad("\"content\" must be an object".into())),
    }
    for key in CONTENT_KEYS {
        match fields.get(key) {
            None | Some(Value::Null) => {}
            Some(value) => {
                content.insert(key.to_string(), content_value(key, value, key)?);
            }
        }
    }
    Ok(content)
}

pub fn recipients(fields: &Map<String, Value>) -> Result<Option<Vec<String>>, ControlError> {
    match fields.get("recipients") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(one)) => Ok(Some(vec![one.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("\"recipients[{i}]\" must be a string")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(
            "\"recipients\" must be a list of user or agent names or ids".into(),
        )),
    }
}

/// A click argument's value: a string, or a number/boolean written out.
fn argument_value(value: &Value, where_: &str) -> Result<String, ControlError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad(format!("{where_:?} must be a string"))),
    }
}

/// `[{"label","value"[,"filename"]}]`, the SDK's `[[...]]`, or `{"label": "value"}`.
pub fn click_arguments(fields: &Map<String, Value>) -> Result<Vec<ClickArgument>, ControlError> {
    match fields.get("arguments") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(pairs)) => pairs
            .iter()
            .map(|(label, value)| {
                Ok(ClickArgument {
                    label: label.clone(),
                    value: argument_value(value, &format!("arguments.{label}"))?,
                    filename: None,
                })
            })
            .collect(),
        Some(Value::Array(items)) => {
            let items = match items.as_slice() {
                [Value::Array(inner)] => inner,
                _ => items,
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let Value::Object(map) = item else {
                        return Err(bad(format!(
                            "\"arguments[{i}]\" must be an object with label and value"
                        )));
                    };
                    let label = match map.get("label") {
                        Some(Value::String(label)) => label.clone(),
                        _ => return Err(bad(format!("\"arguments[{i}].label\" must be a string"))),
                    };
                    let value = match map.get("value") {
                        Some(value) => argument_value(value, &format!("arguments[{i}].value"))?,
                        None => return Err(bad(format!("missing \"arguments[{i}].value\""))),
                    };
                    let filename = opt_str(map, "filename").map_err(|_| {
                        bad(format!("\"arguments[{i}].filename\" must be a string"))
                    })?;
                    Ok(ClickArgument {
                        label,
                        value,
                        filename,
                    })
                })
                .collect()
        }
        Some(_) => Err(bad(
            "\"arguments\" must be a list of {label, value} or an object".into(),
        )),
    }
}

pub fn bottom_button(fields: &Map<String, Value>) -> Result<String, ControlError> {
    Ok(opt_str(fields, "bottom_button_id")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_BOTTOM_BUTTON.to_string()))
}
