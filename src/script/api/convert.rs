//! Turning script values into what the host needs: ids, id lists, JSON.

use crate::protocol::ids::{IdList, IdListBuilder};
use crate::script::Character;
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map, Position};

pub type Fallible<T> = Result<T, Box<EvalAltResult>>;

pub fn script_error(msg: impl std::fmt::Display) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.to_string()),
        Position::NONE,
    ))
}

/// Calls `f` with the id in a value: an id string, a `Character`, or a map
/// with `character_id` (without copying it).
fn with_id<R>(value: &Dynamic, f: impl FnOnce(&str) -> R) -> Option<R> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Some(f(s.as_str()));
    }
    if let Some(c) = value.read_lock::<Character>() {
        return Some(f(&c.character_id));
    }
    if let Some(m) = value.read_lock::<Map>() {
        let id = m.get("character_id")?.read_lock::<ImmutableString>()?;
        return Some(f(id.as_str()));
    }
    None
}

/// The id in a value: an id string, a `Character`, or a map with `character_id`.
pub fn id_of(value: &Dynamic) -> Option<String> {
    with_id(value, str::to_owned)
}

/// A list of ids from one id/character or an array of them.
pub fn ids_of(value: &Dynamic, func: &str, arg: &str) -> Fallible<IdList> {
    if let Some(arr) = value.read_lock::<Array>() {
        let mut list = IdListBuilder::with_capacity(arr.len());
        for (i, v) in arr.iter().enumerate() {
            with_id(v, |id| list.push(id)).ok_or_else(|| {
                script_error(format!(
                    "{func}: {arg}[{i}] is {}, expected a character id or a character",
                    v.type_name()
                ))
            })?;
        }
        return Ok(list.build());
    }
    with_id(value, |id| IdList::from_iter([id])).ok_or_else(|| {
        script_error(format!(
            "{func}: {arg} is {}, expected a character id, a character or an array of them",
            value.type_name()
        ))
    })
}

/// One id (a string or a character).
pub fn one_id(value: &Dynamic, func: &str, arg: &str) -> Fallible<String> {
    id_of(value).ok_or_else(|| {
        script_error(format!(
            "{func}: {arg} is {}, expected a character id or a character",
            value.type_name()
        ))
    })
}

pub fn string_arg(value: &Dynamic, func: &str, arg: &str) -> Fallible<String> {
    value
        .read_lock::<ImmutableString>()
        .map(|s| s.to_string())
        .ok_or_else(|| {
            script_error(format!(
                "{func}: {arg} is {}, expected a string",
                value.type_name()
            ))
        })
}

/// Script data as JSON (maps, arrays, strings, numbers, bools, `()` as null).
pub fn to_json(value: &Dynamic, func: &str, arg: &str) -> Fallible<serde_json::Value> {
    rhai::serde::from_dynamic(value)
        .map_err(|e| script_error(format!("{func}: {arg}: cannot be sent ({e})")))
}

/// JSON as script data.
pub fn from_json(value: &serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

pub fn characters(chars: Vec<Character>) -> Array {
    chars.into_iter().map(Dynamic::from).collect()
}
