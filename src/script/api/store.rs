//! `store(channel_id, name)`: a named, persistent map a script uses like an
//! ordinary one (`roles[id] = "vip"`), backed by whatever `db_config` says.
//!
//! The script gets a `Store` value (a handle: copying it does not copy the
//! data). Values are stored as JSON, so maps, arrays, strings, numbers,
//! bools and `()` go in and come out; a value read is a copy. Chained
//! updates (`roles[id].x = 1`, `roles[id].list.push(2)`) are written back
//! by Rhai through the index setter; a copy held in a variable is not
//! (`let r = roles[id]; r.x = 1; roles[id] = r;`). `save()` makes every
//! write so far durable at once instead of at the end of the handler.

use super::convert::{from_json, host_failed, id_of, script_error, to_json, Fallible};
use super::{HostApi, HostResult};
use crate::script::defs;
use rhai::{Array, Dynamic, Engine, ImmutableString, INT};
use serde_json::Value;
use std::rc::Rc;

/// One store's part for one channel, as the host provides it.
pub trait KeyValue {
    /// `store "roles" of <channel>`, for messages.
    fn describe(&self) -> String;
    fn get(&self, key: &str) -> HostResult<Option<Value>>;
    fn set(&self, key: &str, value: Value) -> HostResult<()>;
    /// The removed value, if there was one.
    fn remove(&self, key: &str) -> HostResult<Option<Value>>;
    fn keys(&self) -> HostResult<Vec<String>>;
    fn len(&self) -> HostResult<usize>;
    fn is_empty(&self) -> HostResult<bool> {
        self.len().map(|n| n == 0)
    }
    fn contains(&self, key: &str) -> HostResult<bool>;
    /// Makes every write so far durable now.
    fn save(&self) -> HostResult<()>;
}

/// The script's `Store` value.
#[derive(Clone)]
pub struct ScriptStore(Rc<dyn KeyValue>);

/// Keys are strings; a number or a character (its id) is accepted too.
fn key_of(key: &Dynamic, func: &str) -> Fallible<String> {
    if let Ok(n) = key.as_int() {
        return Ok(n.to_string());
    }
    id_of(key).ok_or_else(|| {
        script_error(format!(
            "{func}: the key is {}, expected a string",
            key.type_name()
        ))
    })
}

fn value_of(value: Option<Value>) -> Dynamic {
    value.map(|v| from_json(&v)).unwrap_or(Dynamic::UNIT)
}

impl ScriptStore {
    fn get(&mut self, key: Dynamic) -> Fallible<Dynamic> {
        let key = key_of(&key, "store get")?;
        self.0.get(&key).map(value_of).map_err(host_failed)
    }

    fn set(&mut self, key: Dynamic, value: Dynamic) -> Fallible<()> {
        let key = key_of(&key, "store set")?;
        let json = to_json(&value.flatten(), "store set", &format!("value of {key:?}"))?;
        self.0.set(&key, json).map_err(host_failed)
    }
}

pub(super) fn register(engine: &mut Engine, host: &Rc<dyn HostApi>) {
    engine.register_type_with_name::<ScriptStore>("Store");
    let h = host.clone();
    defs::register_fn(
        engine,
        "store",
        ["channel_id", "name"],
        "The named store's part for the channel (`\"global\"`: service-wide), as `db_config` \
         configures it: a persistent map of string keys to values JSON can hold. Bind it to a \
         variable before assigning: `let s = store(ch, \"scores\"); s[k] = v;`.",
        move |channel_id: Dynamic, name: &str| -> Fallible<ScriptStore> {
            let channel = id_of(&channel_id).ok_or_else(|| {
                script_error(format!(
                    "store: channel_id is {}, expected a channel id (or \"global\")",
                    channel_id.type_name()
                ))
            })?;
            h.store(&channel, name)
                .map(ScriptStore)
                .map_err(host_failed)
        },
    );
    const GET: &str = "The value of `key` (a copy), or `()` when there is none.";
    const SET: &str = "Sets `key` to `value` (anything JSON can hold).";
    defs::register_fn(engine, "get", ["store", "key"], GET, ScriptStore::get);
    defs::register_indexer_get(engine, ["store", "key"], GET, ScriptStore::get);
    defs::register_fn(
        engine,
        "set",
        ["store", "key", "value"],
        SET,
        ScriptStore::set,
    );
    defs::register_indexer_set(engine, ["store", "key", "value"], SET, ScriptStore::set);
    register_methods(engine);
}

fn register_methods(engine: &mut Engine) {
    defs::register_fn(
        engine,
        "remove",
        ["store", "key"],
        "Removes `key`; its old value, or `()`.",
        |s: &mut ScriptStore, key: Dynamic| -> Fallible<Dynamic> {
            let key = key_of(&key, "store remove")?;
            s.0.remove(&key).map(value_of).map_err(host_failed)
        },
    );
    defs::register_fn(
        engine,
        "contains",
        ["store", "key"],
        "True when the store has `key`.",
        |s: &mut ScriptStore, key: Dynamic| -> Fallible<bool> {
            let key = key_of(&key, "store contains")?;
            s.0.contains(&key).map_err(host_failed)
        },
    );
    defs::register_fn(
        engine,
        "keys",
        ["store"],
        "The keys, sorted.",
        |s: &mut ScriptStore| -> Fallible<Array> {
            s.0.keys()
                .map(|keys| {
                    keys.into_iter()
                        .map(|k| ImmutableString::from(k).into())
                        .collect()
                })
                .map_err(host_failed)
        },
    );
    defs::register_fn(
        engine,
        "len",
        ["store"],
        "How many keys it has.",
        |s: &mut ScriptStore| -> Fallible<INT> {
            s.0.len()
                .map(|n| INT::try_from(n).unwrap_or(INT::MAX))
                .map_err(host_failed)
        },
    );
    defs::register_fn(
        engine,
        "save",
        ["store"],
        "Makes every write so far durable now, instead of when the handler sends or returns.",
        |s: &mut ScriptStore| -> Fallible<()> { s.0.save().map_err(host_failed) },
    );
    defs::register_fn(
        engine,
        "to_string",
        ["store"],
        "`store \"NAME\" of CHANNEL`.",
        |s: &mut ScriptStore| s.0.describe(),
    );
    defs::register_fn(
        engine,
        "to_debug",
        ["store"],
        "`Store(store \"NAME\" of CHANNEL)`.",
        |s: &mut ScriptStore| format!("Store({})", s.0.describe()),
    );
}
