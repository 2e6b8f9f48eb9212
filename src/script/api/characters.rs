//! Members and agents: `fetch_member_ids`, `send_characters`, `create_agent`,
//! `update_agent`, `fetch_agents`, `fetch_character_profile`.

use super::convert::{characters, host_failed, ids_of, one_id, script_error, Fallible};
use super::HostApi;
use crate::script::{defs, AgentProfile, Character};
use rhai::{Array, Dynamic, Engine, ImmutableString, Map};
use std::rc::Rc;

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    register_members(engine, host);
    register_agents(engine, host);
}

/// The channel's members and the character list members see.
fn register_members(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    defs::register_fn(
        engine,
        "fetch_member_ids",
        ["channel_id"],
        "The ids of the channel's members, in join order, from the host's member table (no \
         network).\nIn user mode: the channel's character list as last received.",
        move |channel_id: ImmutableString| -> Fallible<Array> {
            let ids = h.member_ids(&channel_id).map_err(host_failed)?;
            Ok(ids
                .into_iter()
                .map(|s| Dynamic::from(ImmutableString::from(s)))
                .collect())
        },
    );

    let h = host.clone();
    defs::register_fn(
        engine,
        "send_characters",
        ["characters", "channel_id", "recipients"],
        "Sets the character list the recipients see in the channel, in this order.\n\
         `characters` and `recipients`: an id, a character, or an array mixing both.",
        move |chars: Dynamic, channel_id: ImmutableString, recipients: Dynamic| -> Fallible<()> {
            let chars = ids_of(&chars, "send_characters", "characters")?;
            if chars.is_empty() {
                return Err(script_error(
                    "send_characters: characters is empty (send at least one character)",
                ));
            }
            let recipients = ids_of(&recipients, "send_characters", "recipients")?;
            h.send_characters(&channel_id, chars, recipients)
                .map_err(host_failed)
        },
    );
}

/// Agents (characters the service creates and speaks as) and profiles.
fn register_agents(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let create = {
        let h = host.clone();
        move |name: &str, avatar: &str, description: &str| -> Fallible<Character> {
            let profile = AgentProfile {
                name: name.to_string(),
                avatar: avatar.to_string(),
                description: description.to_string(),
                fresh: false,
            };
            h.create_agent(&profile).map_err(host_failed)
        }
    };
    const REUSED: &str = "This service's agent of that name is reused (and updated) if it has \
                          one.";
    let c = create.clone();
    defs::register_fn(
        engine,
        "create_agent",
        ["name"],
        &format!("Creates an agent (a character the service speaks as), with no avatar.\n{REUSED}"),
        move |name: &str| c(name, "", "No description"),
    );
    let c = create.clone();
    defs::register_fn(
        engine,
        "create_agent",
        ["name", "avatar"],
        &format!(
            "Creates an agent with an avatar: a URL or a file in the service directory \
             (`resources/avatar.png`), uploaded once.\n{REUSED}"
        ),
        move |name: &str, avatar: &str| c(name, avatar, "No description"),
    );
    let c = create.clone();
    defs::register_fn(
        engine,
        "create_agent",
        ["name", "avatar", "description"],
        &format!("Creates an agent with an avatar and a description.\n{REUSED}"),
        move |name: &str, avatar: &str, description: &str| c(name, avatar, description),
    );
    let h = host.clone();
    defs::register_fn(
        engine,
        "create_agent",
        ["spec"],
        &format!(
            "Creates an agent from `#{{name, avatar, description, fresh}}`; `fresh: true` \
             makes a new one even if the service has one of that name.\n{REUSED}"
        ),
        move |spec: Map| -> Fallible<Character> {
            let profile = agent_spec(&spec)?;
            h.create_agent(&profile).map_err(host_failed)
        },
    );

    register_profiles(engine, host);
}

/// Changing agents, listing them, reading profiles.
fn register_profiles(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    let h = host.clone();
    defs::register_fn(
        engine,
        "update_agent",
        ["character", "changes"],
        "Changes an agent's profile: `changes` is `#{name, avatar, description}`, a missing \
         field keeps its value. Returns the updated character.",
        move |character: Dynamic, changes: Map| -> Fallible<Character> {
            update_agent(h.as_ref(), &character, &changes)
        },
    );

    let h = host.clone();
    defs::register_fn(
        engine,
        "fetch_agents",
        [],
        "This service's agents, as characters.",
        move || -> Fallible<Array> { h.fetch_agents().map(characters).map_err(host_failed) },
    );

    let h = host.clone();
    defs::register_fn(
        engine,
        "fetch_character_profile",
        ["ids"],
        "The profile of a character (one id gives one character) or of several (an array \
         gives an array).",
        move |ids: Dynamic| -> Fallible<Dynamic> {
            let single = !ids.is_array();
            let list = ids_of(&ids, "fetch_character_profile", "ids")?.to_vec();
            let mut found = h.fetch_profiles(list.clone()).map_err(host_failed)?;
            if single {
                return match found.pop() {
                    Some(c) => Ok(Dynamic::from(c)),
                    None => Err(script_error(format!(
                        "fetch_character_profile: no character {:?}",
                        list[0]
                    ))),
                };
            }
            Ok(Dynamic::from_array(characters(found)))
        },
    );
}

/// `update_agent(character, changes)`: the fields not in `changes` keep
/// their current values (read from the platform when `character` is an id).
fn update_agent(h: &dyn HostApi, character: &Dynamic, changes: &Map) -> Fallible<Character> {
    let func = "update_agent";
    let id = one_id(character, func, "character")?;
    if let Some(k) = changes
        .keys()
        .find(|k| !["name", "avatar", "description"].contains(&k.as_str()))
    {
        return Err(script_error(format!(
            "{func}: changes.{k}: unknown field (expected name, avatar, description)"
        )));
    }
    let current = match character.read_lock::<Character>() {
        Some(c) => c.clone(),
        None => h
            .fetch_profiles(vec![id.clone()])
            .map_err(host_failed)?
            .pop()
            .ok_or_else(|| script_error(format!("{func}: no character {id:?}")))?,
    };
    let field = |key: &str, now: Option<&str>| -> Fallible<String> {
        match changes.get(key) {
            None => Ok(now.unwrap_or_default().to_string()),
            Some(v) => v
                .read_lock::<ImmutableString>()
                .map(|s| s.to_string())
                .ok_or_else(|| {
                    script_error(format!(
                        "{func}: changes.{key}: expected a string, got {}",
                        v.type_name()
                    ))
                }),
        }
    };
    let profile = AgentProfile {
        name: field("name", Some(&current.name))?,
        avatar: field("avatar", current.avatar.as_deref())?,
        description: field("description", current.description.as_deref())?,
        fresh: false,
    };
    h.update_agent(&id, &profile).map_err(host_failed)
}

/// `create_agent(#{name, avatar, description, fresh})`.
fn agent_spec(spec: &Map) -> Fallible<AgentProfile> {
    const FIELDS: &[&str] = &["name", "avatar", "description", "fresh"];
    if let Some(k) = spec.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(script_error(format!(
            "create_agent: {k}: unknown field (expected {})",
            FIELDS.join(", ")
        )));
    }
    let text = |key: &str, default: &str| -> Fallible<String> {
        match spec.get(key) {
            None => Ok(default.to_string()),
            Some(v) => v
                .read_lock::<ImmutableString>()
                .map(|s| s.to_string())
                .ok_or_else(|| {
                    script_error(format!(
                        "create_agent: {key}: expected a string, got {}",
                        v.type_name()
                    ))
                }),
        }
    };
    let name = text("name", "")?;
    if name.is_empty() {
        return Err(script_error("create_agent: name: missing"));
    }
    let fresh = match spec.get("fresh") {
        None => false,
        Some(v) => v.as_bool().map_err(|t| {
            script_error(format!(
                "create_agent: fresh: expected true or false, got {t}"
            ))
        })?,
    };
    Ok(AgentProfile {
        name,
        avatar: text("avatar", "")?,
        description: text("description", "No description")?,
        fresh,
    })
}
