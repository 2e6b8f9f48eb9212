//! The functions a service script may call, with the Python SDK's names and
//! argument order so that tutorial code ports line by line.
//!
//! Each function converts Rhai values to plain Rust values and hands them to
//! [`HostApi`]; argument mistakes become script errors that name the function
//! and the argument, at the script's line.

use super::Character;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use std::rc::Rc;

/// What the host provides to scripts. Errors are messages for the author.
pub trait HostApi {
    /// The channel's members, from the host's member table.
    fn member_ids(&self, channel_id: &str) -> Result<Vec<String>, String>;
    /// Queues a characters update (lists are converted to group ids later).
    fn send_characters(
        &self,
        channel_id: &str,
        characters: Vec<String>,
        recipients: Vec<String>,
    ) -> Result<(), String>;
    fn create_agent(
        &self,
        name: &str,
        avatar: &str,
        description: &str,
    ) -> Result<Character, String>;
    fn fetch_agents(&self) -> Result<Vec<Character>, String>;
    fn fetch_profiles(&self, ids: Vec<String>) -> Result<Vec<Character>, String>;
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn script_error(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        Position::NONE,
    ))
}

/// The id in a value: an id string, a `Character`, or a map with `character_id`.
pub fn id_of(value: &Dynamic) -> Option<String> {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Some(s.to_string());
    }
    if let Some(c) = value.read_lock::<Character>() {
        return Some(c.character_id.clone());
    }
    if let Some(m) = value.read_lock::<Map>() {
        return m
            .get("character_id")
            .and_then(|v| v.read_lock::<ImmutableString>().map(|s| s.to_string()));
    }
    None
}

/// A list of ids from one id/character or an array of them.
fn ids_of(value: &Dynamic, func: &str, arg: &str) -> Fallible<Vec<String>> {
    if let Some(arr) = value.read_lock::<Array>() {
        return arr
            .iter()
            .enumerate()
            .map(|(i, v)| {
                id_of(v).ok_or_else(|| {
                    script_error(format!(
                        "{func}: {arg}[{i}] is {}, expected a character id or a character",
                        v.type_name()
                    ))
                })
            })
            .collect();
    }
    id_of(value).map(|id| vec![id]).ok_or_else(|| {
        script_error(format!(
            "{func}: {arg} is {}, expected a character id, a character or an array of them",
            value.type_name()
        ))
    })
}

fn to_array(chars: Vec<Character>) -> Array {
    chars.into_iter().map(Dynamic::from).collect()
}

pub(super) fn register(engine: &mut Engine, host: Rc<dyn HostApi>) {
    let h = host.clone();
    engine.register_fn(
        "fetch_member_ids",
        move |channel_id: ImmutableString| -> Fallible<Array> {
            let ids = h.member_ids(&channel_id).map_err(script_error)?;
            Ok(ids
                .into_iter()
                .map(|s| Dynamic::from(ImmutableString::from(s)))
                .collect())
        },
    );

    let h = host.clone();
    engine.register_fn(
        "send_characters",
        move |characters: Dynamic,
              channel_id: ImmutableString,
              recipients: Dynamic|
              -> Fallible<()> {
            let characters = ids_of(&characters, "send_characters", "characters")?;
            if characters.is_empty() {
                return Err(script_error(
                    "send_characters: characters is empty (send at least one character)",
                ));
            }
            let recipients = ids_of(&recipients, "send_characters", "recipients")?;
            h.send_characters(&channel_id, characters, recipients)
                .map_err(script_error)
        },
    );

    for arity in 1..=3 {
        let h = host.clone();
        let create = move |name: &str, avatar: &str, description: &str| -> Fallible<Character> {
            h.create_agent(name, avatar, description)
                .map_err(script_error)
        };
        match arity {
            1 => {
                engine.register_fn("create_agent", move |name: &str| {
                    create(name, "", "No description")
                });
            }
            2 => {
                engine.register_fn("create_agent", move |name: &str, avatar: &str| {
                    create(name, avatar, "No description")
                });
            }
            _ => {
                engine.register_fn(
                    "create_agent",
                    move |name: &str, avatar: &str, description: &str| {
                        create(name, avatar, description)
                    },
                );
            }
        }
    }

    let h = host.clone();
    engine.register_fn("fetch_agents", move || -> Fallible<Array> {
        h.fetch_agents().map(to_array).map_err(script_error)
    });

    let h = host.clone();
    engine.register_fn(
        "fetch_character_profile",
        move |ids: Dynamic| -> Fallible<Dynamic> {
            let single = !ids.is_array();
            let list = ids_of(&ids, "fetch_character_profile", "ids")?;
            let mut found = h.fetch_profiles(list.clone()).map_err(script_error)?;
            if single {
                return match found.pop() {
                    Some(c) => Ok(Dynamic::from(c)),
                    None => Err(script_error(format!(
                        "fetch_character_profile: no character {:?}",
                        list[0]
                    ))),
                };
            }
            Ok(Dynamic::from_array(to_array(found)))
        },
    );

    engine.register_fn(
        "log",
        |msg: Dynamic| tracing::info!(target: "script", "{msg}"),
    );
    engine.register_fn("log", |level: &str, msg: Dynamic| {
        match level.to_ascii_lowercase().as_str() {
            "trace" => tracing::trace!(target: "script", "{msg}"),
            "debug" => tracing::debug!(target: "script", "{msg}"),
            "warn" | "warning" => tracing::warn!(target: "script", "{msg}"),
            "error" | "critical" => tracing::error!(target: "script", "{msg}"),
            _ => tracing::info!(target: "script", "{msg}"),
        }
    });
}
