//! Turning script values into what the host needs: ids, id lists, JSON.

use super::error::HostCallError;
use crate::protocol::ids::{IdList, IdListBuilder};
use crate::script::Character;
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map, Position};

pub type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// An error in what the script asked (a missing or mistyped argument...),
/// as a Rhai runtime error at the call.
pub fn script_error(msg: impl std::fmt::Display) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.to_string()),
        Position::NONE,
    ))
}

/// The tag on the value of a runtime error that a host function raised
/// because the host failed to do what it was asked ([`host_failed`]): the
/// script sees only the message, the host classes a handler's failure by
/// the tag ([`crate::script::HandlerFailure`]) instead of by its words.
/// An `i16` fits Rhai's tag on every target.
pub const HOST_CALL_TAG: i16 = 0x4d48;

/// A host function's failure ([`HostCallError`]) as the script sees it: a
/// runtime error with its message, tagged [`HOST_CALL_TAG`].
pub fn host_failed(e: HostCallError) -> Box<EvalAltResult> {
    tagged(e.to_string())
}

/// As [`host_failed`], the message led by `context` (`"send_message: path"`).
pub fn host_failed_in(context: impl std::fmt::Display, e: HostCallError) -> Box<EvalAltResult> {
    tagged(format!("{context}: {e}"))
}

/// Whether `err` (under the call chain's wrappers) is a host function's
/// failure raised by [`host_failed`] (or that value re-thrown by the script).
pub fn raised_by_host(err: &EvalAltResult) -> bool {
    matches!(err.unwrap_inner(), EvalAltResult::ErrorRuntime(v, _) if i64::from(v.tag()) == i64::from(HOST_CALL_TAG))
}

fn tagged(message: String) -> Box<EvalAltResult> {
    let mut value = Dynamic::from(message);
    value.set_tag(HOST_CALL_TAG.into());
    Box::new(EvalAltResult::ErrorRuntime(value, Position::NONE))
}

/// Calls `f` with the id in a value: an id string, a `Character`, or a map
/// with `character_id` (without copying it).
pub fn with_id<R>(value: &Dynamic, f: impl FnOnce(&str) -> R) -> Option<R> {
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
    if let Some(list) = value.read_lock::<IdList>() {
        return Ok(list.clone());
    }
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
