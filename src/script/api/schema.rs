//! Checking the plain Rhai maps scripts pass for buttons, dialogs, canvas,
//! menus, styles and channel info, and turning them into the SDK's records.
//!
//! A mistake is reported where it is made, as a script error naming the
//! function and the exact field (`send_buttons: buttons[1].dialog.title: ...`),
//! instead of a frame the platform silently drops.

use super::convert::{script_error, Fallible};
use rhai::{Array, Dynamic, ImmutableString, Map};
use serde_json::{json, Value};

pub enum Kind {
    Str,
    Bool,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A string or a list of strings.
    StrOrStrs,
    Strs,
    Obj(&'static [Field]),
    List(&'static [Field]),
}

pub enum Need {
    Required,
    /// Missing or `()` becomes `null` (the SDK's records keep their nulls).
    Optional,
    /// Missing or `()` becomes this value.
    Default(fn() -> Value),
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub need: Need,
}

const fn f(name: &'static str, kind: Kind, need: Need) -> Field {
    Field { name, kind, need }
}

pub const COMPONENT_TYPES: &[&str] = &[
    "text", "dropdown", "textbox", "number", "password", "invalid",
];

pub const INPUT: &[Field] = &[
    f("label", Kind::Str, Need::Required),
    f("type", Kind::OneOf(COMPONENT_TYPES), Need::Required),
    f("required", Kind::Bool, Need::Default(|| json!(false))),
    f("placeholder", Kind::Str, Need::Optional),
    f("choices", Kind::Strs, Need::Optional),
];
pub const BOTTOM_BUTTON: &[Field] = &[
    f("id", Kind::Str, Need::Required),
    f("text", Kind::Str, Need::Required),
    f("submit", Kind::Bool, Need::Required),
];
pub const DIALOG: &[Field] = &[
    f("title", Kind::Str, Need::Default(|| json!("Dialog"))),
    f("components", Kind::List(INPUT), Need::Optional),
    f("bottom_buttons", Kind::List(BOTTOM_BUTTON), Need::Optional),
];
pub const BUTTON: &[Field] = &[
    f("button_id", Kind::Str, Need::Required),
    f("button_text", Kind::Str, Need::Required),
    f("dialog", Kind::Obj(DIALOG), Need::Optional),
];
pub const CANVAS_ITEM: &[Field] = &[
    f("text", Kind::Str, Need::Optional),
    f("path", Kind::Str, Need::Optional),
];
pub const MENU_ITEM: &[Field] = &[
    f("menu_item_id", Kind::Str, Need::Required),
    f("menu_item_text", Kind::Str, Need::Required),
    f(
        "message_subtypes",
        Kind::StrOrStrs,
        Need::Default(|| json!(["text", "image", "audio", "file", "card"])),
    ),
    f("dialog", Kind::Obj(DIALOG), Need::Optional),
];
pub const STYLE_ITEM: &[Field] = &[
    f("widget", Kind::Str, Need::Required),
    f(
        "display",
        Kind::OneOf(&["invisible", "visible", "highlight"]),
        Need::Required,
    ),
    f("expand", Kind::Bool, Need::Optional),
    f("button_id", Kind::Str, Need::Optional),
    f("text", Kind::Str, Need::Optional),
];
pub const CHANNEL_INFO: &[Field] = &[
    f("channel_id", Kind::Str, Need::Optional),
    f("channel_name", Kind::Str, Need::Required),
    f(
        "channel_description",
        Kind::Str,
        Need::Default(|| json!("")),
    ),
    f("channel_type", Kind::Str, Need::Default(|| json!("ccs"))),
];

fn type_of(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "()"
    } else if v.is_string() {
        "a string"
    } else if v.is_map() {
        "a map"
    } else if v.is_array() {
        "an array"
    } else if v.is_bool() {
        "a bool"
    } else if v.is_int() || v.is_float() {
        "a number"
    } else {
        "another type"
    }
}

fn string(v: &Dynamic) -> Option<String> {
    v.read_lock::<ImmutableString>().map(|s| s.to_string())
}

fn check_kind(v: &Dynamic, kind: &Kind, at: &str, func: &str) -> Fallible<Value> {
    let wrong =
        |want: &str| script_error(format!("{func}: {at}: expected {want}, got {}", type_of(v)));
    match kind {
        Kind::Str => string(v)
            .map(Value::String)
            .ok_or_else(|| wrong("a string")),
        Kind::Bool => v
            .as_bool()
            .map(Value::Bool)
            .map_err(|_| wrong("true or false")),
        Kind::OneOf(options) => {
            let s = string(v).ok_or_else(|| wrong(&format!("one of {}", options.join(", "))))?;
            if options.contains(&s.as_str()) {
                Ok(Value::String(s))
            } else {
                Err(script_error(format!(
                    "{func}: {at}: {s:?} is not one of {}",
                    options.join(", ")
                )))
            }
        }
        Kind::StrOrStrs => match string(v) {
            Some(s) => Ok(Value::String(s)),
            None => check_kind(v, &Kind::Strs, at, func)
                .map_err(|_| wrong("a string or an array of strings")),
        },
        Kind::Strs => {
            let arr = v
                .read_lock::<Array>()
                .ok_or_else(|| wrong("an array of strings"))?;
            arr.iter()
                .enumerate()
                .map(|(i, item)| check_kind(item, &Kind::Str, &format!("{at}[{i}]"), func))
                .collect::<Fallible<Vec<_>>>()
                .map(Value::Array)
        }
        Kind::Obj(fields) => record(v, fields, at, func),
        Kind::List(fields) => list(v, fields, at, func, false).map(Value::Array),
    }
}

/// Checks one map against `fields` and returns the record (all fields present).
pub fn record(v: &Dynamic, fields: &[Field], at: &str, func: &str) -> Fallible<Value> {
    let map = v
        .read_lock::<Map>()
        .ok_or_else(|| script_error(format!("{func}: {at}: expected a map, got {}", type_of(v))))?;
    if let Some(unknown) = map
        .keys()
        .find(|k| !fields.iter().any(|f| f.name == k.as_str()))
    {
        let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
        return Err(script_error(format!(
            "{func}: {at}.{unknown}: unknown field (expected {})",
            known.join(", ")
        )));
    }
    let mut out = serde_json::Map::new();
    for field in fields {
        let here = format!("{at}.{}", field.name);
        let value = match map.get(field.name).filter(|v| !v.is_unit()) {
            Some(v) => check_kind(v, &field.kind, &here, func)?,
            None => match &field.need {
                Need::Required => return Err(script_error(format!("{func}: {here}: missing"))),
                Need::Optional => Value::Null,
                Need::Default(make) => make(),
            },
        };
        out.insert(field.name.to_string(), value);
    }
    Ok(Value::Object(out))
}

/// An array of records; with `single_ok`, one map counts as a list of one.
pub fn list(
    v: &Dynamic,
    fields: &[Field],
    at: &str,
    func: &str,
    single_ok: bool,
) -> Fallible<Vec<Value>> {
    if single_ok && v.is_map() {
        return Ok(vec![record(v, fields, &format!("{at}[0]"), func)?]);
    }
    let arr = v.read_lock::<Array>().ok_or_else(|| {
        let want = if single_ok {
            "a map or an array of maps"
        } else {
            "an array of maps"
        };
        script_error(format!("{func}: {at}: expected {want}, got {}", type_of(v)))
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, item)| record(item, fields, &format!("{at}[{i}]"), func))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::Engine;

    fn eval(src: &str) -> Dynamic {
        Engine::new().eval::<Dynamic>(src).unwrap()
    }

    #[test]
    fn buttons_with_dialogs_become_records() {
        let v = eval(
            r#"[#{button_id: "ask", button_text: "Ask", dialog: #{components: [#{label: "Fruit", type: "dropdown", choices: ["apple"]}]}}]"#,
        );
        let out = list(&v, BUTTON, "buttons", "send_buttons", true).unwrap();
        assert_eq!(
            out[0],
            json!({"button_id":"ask","button_text":"Ask","dialog":{"title":"Dialog","components":[
                {"label":"Fruit","type":"dropdown","required":false,"placeholder":null,"choices":["apple"]}],"bottom_buttons":null}})
        );
        let single = list(
            &eval(r#"#{button_id: "a", button_text: "A"}"#),
            BUTTON,
            "buttons",
            "send_buttons",
            true,
        )
        .unwrap();
        assert_eq!(single[0]["dialog"], Value::Null);
    }

    #[test]
    fn mistakes_name_the_field() {
        let cases = [
            (
                r#"[#{button_id: "a"}]"#,
                "send_buttons: buttons[0].button_text: missing",
            ),
            (
                r#"[#{button_id: "a", button_text: "A", colour: 1}]"#,
                "buttons[0].colour: unknown field",
            ),
            (
                r#"[#{button_id: 5, button_text: "A"}]"#,
                "buttons[0].button_id: expected a string, got a number",
            ),
            (
                r#"[#{button_id: "a", button_text: "A", dialog: #{components: [#{label: "x", type: "slider"}]}}]"#,
                "buttons[0].dialog.components[0].type: \"slider\" is not one of",
            ),
            ("42", "buttons: expected a map or an array of maps"),
        ];
        for (src, want) in cases {
            let err = list(&eval(src), BUTTON, "buttons", "send_buttons", true)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}
