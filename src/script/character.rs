//! `Character` as scripts see it: what `create_agent` and
//! `fetch_character_profile` return. Anywhere an id is expected a character
//! is accepted too, and a character equals its own id, so lists that mix
//! characters and ids (`[this.meow] + members`) work with `index_of`.

use rhai::{Dynamic, Engine, ImmutableString};

#[derive(Debug, Clone, PartialEq)]
pub struct Character {
    pub character_id: String,
    pub name: String,
    pub avatar: Option<String>,
    pub description: Option<String>,
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

pub(super) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Character>("Character")
        .register_get("character_id", |c: &mut Character| c.character_id.clone())
        .register_get("id", |c: &mut Character| c.character_id.clone())
        .register_get("name", |c: &mut Character| c.name.clone())
        .register_get("avatar", |c: &mut Character| opt(&c.avatar))
        .register_get("description", |c: &mut Character| opt(&c.description))
        .register_fn("to_string", |c: &mut Character| c.to_string())
        .register_fn("to_debug", |c: &mut Character| format!("{c:?}"))
        .register_fn("==", |a: Character, b: Character| {
            a.character_id == b.character_id
        })
        .register_fn("!=", |a: Character, b: Character| {
            a.character_id != b.character_id
        })
        .register_fn("==", |a: Character, b: ImmutableString| {
            a.character_id == b.as_str()
        })
        .register_fn("==", |a: ImmutableString, b: Character| {
            a.as_str() == b.character_id
        })
        .register_fn("!=", |a: Character, b: ImmutableString| {
            a.character_id != b.as_str()
        })
        .register_fn("!=", |a: ImmutableString, b: Character| {
            a.as_str() != b.character_id
        });
}
