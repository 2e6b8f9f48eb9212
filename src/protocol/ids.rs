//! `IdList`: an ordered list of character ids in one allocation.
//!
//! Lists are the bulk of what a service sends: a per-member view of a
//! 1,000-member channel is 1,001 ids, made once per member per join. As a
//! `Vec<String>` that is 1,001 allocations to make and 1,001 to free for
//! every view, which cost more than the rest of the host's work on it. Here
//! the ids sit back to back in one string with their end offsets beside
//! them, and clones share both (lists are never changed once built).
//!
//! [`shard_of`] lives here too: the stable hash of a channel id that both a
//! host's script threads and a cluster's partitions divide channels by, so
//! the cluster does not reach into the host for it.

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct IdList(Arc<Inner>);

#[derive(Default, PartialEq, Eq, Hash)]
struct Inner {
    /// The ids, concatenated.
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<usize>,
}

/// Builds an `IdList` one id at a time.
#[derive(Default)]
pub struct IdListBuilder(Inner);

impl IdListBuilder {
    /// Room for `ids` ids; the text grows as needed.
    pub fn with_capacity(ids: usize) -> Self {
        IdListBuilder(Inner {
            text: String::with_capacity(ids * 36),
            ends: Vec::with_capacity(ids),
        })
    }

    pub fn push(&mut self, id: &str) {
        self.0.text.push_str(id);
        self.0.ends.push(self.0.text.len());
    }

    pub fn build(self) -> IdList {
        IdList(Arc::new(self.0))
    }
}

impl IdList {
    pub fn len(&self) -> usize {
        self.0.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.ends.is_empty()
    }

    /// The bytes of all ids together.
    pub fn byte_len(&self) -> usize {
        self.0.text.len()
    }

    /// The ids in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        let (text, ends) = (self.0.text.as_str(), self.0.ends.as_slice());
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &text[start..ends[i]]
        })
    }

    /// The id at `index`, if the list is that long.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.0.ends.get(index)?;
        let start = if index == 0 {
            0
        } else {
            self.0.ends[index - 1]
        };
        self.0.text.get(start..end)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    /// The ids back to back, and where each ends: together they identify the
    /// list exactly (for digests: no separator is needed).
    pub fn parts(&self) -> (&str, &[usize]) {
        (&self.0.text, &self.0.ends)
    }
}

impl<S: AsRef<str>> FromIterator<S> for IdList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut b = IdListBuilder::with_capacity(iter.size_hint().0);
        for id in iter {
            b.push(id.as_ref());
        }
        b.build()
    }
}

/// The ids in order, each as its own `String` (for callers that iterate
/// by value, such as a script's `for id in list`).
impl IntoIterator for IdList {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.to_vec().into_iter()
    }
}

impl From<Vec<String>> for IdList {
    fn from(ids: Vec<String>) -> Self {
        ids.iter().collect()
    }
}

impl From<&[String]> for IdList {
    fn from(ids: &[String]) -> Self {
        ids.iter().collect()
    }
}

impl fmt::Debug for IdList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A JSON array of strings, as the wire wants it.
impl Serialize for IdList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for id in self.iter() {
            seq.serialize_element(id)?;
        }
        seq.end()
    }
}

/// From a JSON array of strings, straight into the one allocation (no
/// string per id): the sandbox reads 1,001-id lists by the thousand.
impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(IdListVisitor)
    }
}

struct IdListVisitor;

impl<'de> Visitor<'de> for IdListVisitor {
    type Value = IdList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of id strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IdList, A::Error> {
        let mut list = IdListBuilder::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(id) = seq.next_element::<IdStr<'de>>()? {
            list.push(&id.0);
        }
        Ok(list.build())
    }
}

/// One id: borrowed from the input when it has no escapes.
struct IdStr<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for IdStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = IdStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<IdStr<'de>, E> {
                Ok(IdStr(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<IdStr<'de>, E> {
                Ok(IdStr(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<IdStr<'de>, E> {
                Ok(IdStr(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// The shard (0-based) owning `channel_id` among `threads` (a host's
/// script threads, or a cluster's partitions):
/// FNV-1a (64-bit) of the id's UTF-8 bytes, modulo `threads`. Stable across
/// runs, versions and machines, so a channel stays on its thread (and, in a
/// cluster, in its partition).
pub fn shard_of(channel_id: &str, threads: usize) -> usize {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = channel_id
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    (hash % threads.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_empty_ids() {
        let list: IdList = ["a", "", "bc", "a"].into_iter().collect();
        assert_eq!(list.len(), 4);
        assert_eq!(list.iter().collect::<Vec<_>>(), ["a", "", "bc", "a"]);
        assert_eq!(list.to_vec(), ["a", "", "bc", "a"]);
        assert_eq!(
            serde_json::to_string(&list).ok().as_deref(),
            Some(r#"["a","","bc","a"]"#)
        );
        assert_eq!(format!("{list:?}"), r#"["a", "", "bc", "a"]"#);
    }

    #[test]
    fn reads_a_json_list_of_strings() {
        let list: IdList = serde_json::from_str(r#"["a", "b\"c", "", "\u00e9"]"#).expect("a list");
        assert_eq!(list.to_vec(), ["a", "b\"c", "", "é"]);
        assert_eq!(list.get(1), Some("b\"c"));
        assert_eq!(list.get(4), None);
        for bad in [r#"["a", 1]"#, r#""a""#, r#"[null]"#, r#"{"a": 1}"#] {
            assert!(serde_json::from_str::<IdList>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_that_concatenate_alike_differ() {
        let a: IdList = ["a_b", "c"].into_iter().collect();
        let b: IdList = ["a", "b_c"].into_iter().collect();
        let c: IdList = ["a_bc"].into_iter().collect();
        assert_ne!(a, b);
        assert_ne!(a.parts(), b.parts());
        assert_ne!(a.parts(), c.parts());
        assert_eq!(a, IdList::from(vec!["a_b".to_string(), "c".to_string()]));
        assert!(IdList::default().is_empty());
    }
}
