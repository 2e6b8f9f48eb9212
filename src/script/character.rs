//! `Character` as scripts see it: what `create_agent` and
//! `fetch_character_profile` return. Anywhere an id is expected a character
//! is accepted too, and a character equals its own id, so lists that mix
//! characters and ids (`[this.meow] + members`) work with `index_of`.
//!
//! `index_of`, `contains` and `in` with an id or a character are native here:
//! Rhai's generic versions call `==` through function resolution once per
//! element, which made a 1,000-member view cost more than everything else
//! the host does for it.

use super::defs;
use rhai::{Array, Dynamic, Engine, ImmutableString, INT};

#[derive(Debug, Clone, PartialEq)]
pub struct Character {
    pub character_id: String,
    pub name: String,
    pub avatar: Option<String>,
    pub description: Option<String>,
}

/// What a script says an agent should look like (`create_agent`,
/// `update_agent`); `avatar` is a URL or a file in the service directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub name: String,
    pub avatar: String,
    pub description: String,
    /// `create_agent` only: a new agent even when this service has one of
    /// that name (by default that one is reused, see docs/AUTHORING.md).
    pub fresh: bool,
}

impl std::fmt::Display for Character {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.character_id)
    }
}

fn opt(s: &Option<String>) -> Dynamic {
    match s {
        Some(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        None => Dynamic::UNIT,
    }
}

/// Whether a list element is `id` or the character with that id, exactly as
/// `==` decides (values of other types are never equal to an id).
pub(super) fn is_id(value: &Dynamic, id: &str) -> bool {
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return s.as_str() == id;
    }
    value
        .read_lock::<Character>()
        .is_some_and(|c| c.character_id == id)
}

fn position(list: &Array, id: &str) -> INT {
    list.iter()
        .position(|v| is_id(v, id))
        .and_then(|i| INT::try_from(i).ok())
        .unwrap_or(-1)
}

fn register_lookups(engine: &mut Engine) {
    const INDEX: &str = "The position of the first element that is this id or the character with \
                         this id, or -1.";
    const CONTAINS: &str = "True when an element is this id or the character with this id \
                            (also `x in list`).";
    defs::register_fn(
        engine,
        "index_of",
        ["list", "id"],
        INDEX,
        |list: &mut Array, id: ImmutableString| position(list, &id),
    );
    defs::register_fn(
        engine,
        "index_of",
        ["list", "character"],
        INDEX,
        |list: &mut Array, c: Character| position(list, &c.character_id),
    );
    defs::register_fn(
        engine,
        "contains",
        ["list", "id"],
        CONTAINS,
        |list: &mut Array, id: ImmutableString| position(list, &id) >= 0,
    );
    defs::register_fn(
        engine,
        "contains",
        ["list", "character"],
        CONTAINS,
        |list: &mut Array, c: Character| position(list, &c.character_id) >= 0,
    );
}

fn register_properties(engine: &mut Engine) {
    defs::register_get(
        engine,
        "character_id",
        "character",
        "The character's id.",
        |c: &mut Character| c.character_id.clone(),
    );
    defs::register_get(
        engine,
        "id",
        "character",
        "The character's id (as `character_id`).",
        |c: &mut Character| c.character_id.clone(),
    );
    defs::register_get(
        engine,
        "name",
        "character",
        "The character's name.",
        |c: &mut Character| c.name.clone(),
    );
    defs::register_get(
        engine,
        "avatar",
        "character",
        "The avatar's URL, or `()`.",
        |c: &mut Character| opt(&c.avatar),
    );
    defs::register_get(
        engine,
        "description",
        "character",
        "The description, or `()`.",
        |c: &mut Character| opt(&c.description),
    );
    defs::register_fn(
        engine,
        "to_string",
        ["character"],
        "`NAME (ID)`.",
        |c: &mut Character| c.to_string(),
    );
    defs::register_fn(
        engine,
        "to_debug",
        ["character"],
        "Every field, for debugging.",
        |c: &mut Character| format!("{c:?}"),
    );
}

/// A character equals another with the same id, and its own id.
fn register_equality(engine: &mut Engine) {
    const EQ: &str = "True when both are the same character: ids are compared.";
    const NE: &str = "True when they are not the same character: ids are compared.";
    defs::register_fn(
        engine,
        "==",
        ["a", "b"],
        EQ,
        |a: Character, b: Character| a.character_id == b.character_id,
    );
    defs::register_fn(
        engine,
        "!=",
        ["a", "b"],
        NE,
        |a: Character, b: Character| a.character_id != b.character_id,
    );
    defs::register_fn(
        engine,
        "==",
        ["character", "id"],
        EQ,
        |a: Character, b: ImmutableString| a.character_id == b.as_str(),
    );
    defs::register_fn(
        engine,
        "==",
        ["id", "character"],
        EQ,
        |a: ImmutableString, b: Character| a.as_str() == b.character_id,
    );
    defs::register_fn(
        engine,
        "!=",
        ["character", "id"],
        NE,
        |a: Character, b: ImmutableString| a.character_id != b.as_str(),
    );
    defs::register_fn(
        engine,
        "!=",
        ["id", "character"],
        NE,
        |a: ImmutableString, b: Character| a.as_str() != b.character_id,
    );
}

pub(super) fn register(engine: &mut Engine) {
    // First, so that the functions' metadata names the type `Character`.
    engine.register_type_with_name::<Character>("Character");
    register_lookups(engine);
    register_properties(engine);
    register_equality(engine);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An engine with `Character`, `meow()` (id "m") and `cat(id)`.
    pub(in crate::script) fn engine() -> Engine {
        let mut engine = Engine::new();
        register(&mut engine);
        engine
            .register_fn("meow", || Character {
                character_id: "m".into(),
                name: "Meow".into(),
                avatar: None,
                description: None,
            })
            .register_fn("cat", |id: ImmutableString| Character {
                character_id: id.to_string(),
                name: "Cat".into(),
                avatar: None,
                description: None,
            });
        engine
    }

    #[test]
    fn lookups_match_ids_and_characters_like_equality_does() {
        let engine = engine();
        let got: Array = engine
            .eval(
                r#"let l = [meow(), "a", 1, "b", "m"];
                [l.index_of("b"), l.index_of("m"), l.index_of(meow()), l.index_of(cat("a")),
                 l.index_of("z"), l.index_of(1), "a" in l, "z" in l, cat("b") in l,
                 l.contains("m"), [].index_of("a")]"#,
            )
            .expect("script runs");
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["3", "0", "0", "1", "-1", "2", "true", "false", "true", "true", "-1"]
        );
    }
}
