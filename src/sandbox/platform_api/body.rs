//! A request's JSON body as parameters, with its id lists read straight
//! into [`IdList`]s.
//!
//! Why not one `serde_json::Value` tree: a group creation carries a list of
//! 1,001 ids, and a 1,000-member channel's join makes 1,001 of them. As a
//! tree that is a `String` per id, moved again into the group's list; that
//! parse was the largest part of the sandbox's work in the benchmark's W3.
//! Here the keys in [`LIST_KEYS`] go into one allocation each (the ids
//! borrowed from the body while they are read), every other key into a
//! `Value` as before. A body this reading refuses (a list holding a number,
//! say) is read again as a tree, so the endpoint refuses it with its usual
//! message.

use std::fmt;

use serde::de::value::SeqAccessDeserializer;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::protocol::IdList;

/// The parameters that are lists of character ids.
pub const LIST_KEYS: [&str; 2] = ["characters", "character_list"];

/// A body's parameters: the id lists apart, the rest as JSON values.
#[derive(Debug, Default)]
pub struct Params {
    pub values: Map<String, Value>,
    pub lists: Vec<(String, IdList)>,
}

/// Reads a JSON object body; `None` when it is not one this reading takes
/// (then read it as a `Value`, which says what is wrong).
pub fn read(body: &[u8]) -> Option<Params> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let params = de.deserialize_map(ParamsVisitor).ok()?;
    de.end().ok()?;
    Some(params)
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
        let mut params = Params::default();
        while let Some(key) = map.next_key::<String>()? {
            if LIST_KEYS.contains(&key.as_str()) {
                let list = map.next_value_seed(IdsSeed)?;
                params.lists.retain(|(k, _)| *k != key);
                params.lists.push((key, list));
            } else {
                let value = map.next_value::<Value>()?;
                params.values.insert(key, value);
            }
        }
        Ok(params)
    }
}

/// An id list parameter: a list of strings, or one string.
struct IdsSeed;

impl<'de> DeserializeSeed<'de> for IdsSeed {
    type Value = IdList;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<IdList, D::Error> {
        deserializer.deserialize_any(IdsVisitor)
    }
}

struct IdsVisitor;

impl<'de> Visitor<'de> for IdsVisitor {
    type Value = IdList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of id strings or one id")
    }

    fn visit_str<E>(self, one: &str) -> Result<IdList, E> {
        Ok(IdList::from_iter([one]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IdList, A::Error> {
        IdList::deserialize(SeqAccessDeserializer::new(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_apart_and_the_rest_as_values() {
        let p = read(br#"{"characters": ["a", "b\"c"], "channel_id": "ch", "n": [1, {"x": 2}], "character_list": "one"}"#)
            .expect("an object");
        assert_eq!(p.values.get("channel_id"), Some(&Value::from("ch")));
        assert_eq!(p.values.get("n"), Some(&serde_json::json!([1, {"x": 2}])));
        assert_eq!(p.lists.len(), 2);
        assert_eq!(p.lists[0].0, "characters");
        assert_eq!(p.lists[0].1.to_vec(), ["a", "b\"c"]);
        assert_eq!(p.lists[1].1.to_vec(), ["one"]);
    }

    #[test]
    fn what_it_refuses_is_read_again_as_a_tree() {
        for body in [
            &br#"{"characters": ["a", 1]}"#[..],
            br#"{"characters": null}"#,
            br#"[1]"#,
            br#"{"a": 1} trailing"#,
            br#"{"a": "#,
        ] {
            assert!(read(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
        assert!(read(b"{}").is_some_and(|p| p.values.is_empty() && p.lists.is_empty()));
    }
}
