//! `IdList` as scripts see it: what `list.view_for(member, leading)` returns,
//! a read-only list of character ids that the host holds and every host
//! function taking ids accepts as it is.
//!
//! Why a type of its own rather than an array: a view is rebuilt for every
//! refresh, and as an array of `Dynamic` values it cost a clone of every id
//! to build, a drop of every id afterwards, and a copy of every id into the
//! host's list when it was sent: a fifth of a refresh's instructions in the
//! tutorial's service (bench/RESULTS.md). Built straight into the host's
//! [`IdList`] (the ids back to back in one allocation), the view is one
//! allocation to make and sharing it with a send is a reference count.
//!
//! A script reads it like an array (`len`, `list[i]`, `for id in list`,
//! `contains`, `index_of`, `in`), joins it (`+` gives an array) and turns it
//! into an array to change it (`to_array()`); it holds ids, never
//! characters: a character put in is kept as its id.

use super::api::convert::{script_error, with_id, Fallible};
use super::character::{is_id, Character};
use super::defs;
use crate::protocol::ids::{IdList, IdListBuilder};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Position, INT};

/// `[member] + leading + list` without `member`'s first place in `list`, as
/// ids. An element that is neither an id nor a character is an error naming
/// it (an array would have carried it to the send that refused it).
pub(super) fn view_for(list: &Array, member_id: &str, leading: &Dynamic) -> Fallible<IdList> {
    let skip = list.iter().position(|v| is_id(v, member_id));
    let leading_items = leading.read_lock::<Array>();
    let leading_len = leading_items.as_ref().map_or(1, |items| items.len());
    let mut view = IdListBuilder::with_capacity(1 + leading_len + list.len());
    view.push(member_id);
    match leading_items {
        Some(items) => push_all(&mut view, items.iter(), "leading")?,
        None => push_all(&mut view, std::iter::once(leading), "leading")?,
    }
    let rest = list
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, v)| v);
    push_all(&mut view, rest, "list")?;
    Ok(view.build())
}

fn push_all<'a>(
    view: &mut IdListBuilder,
    items: impl Iterator<Item = &'a Dynamic>,
    what: &str,
) -> Fallible<()> {
    for item in items {
        with_id(item, |id| view.push(id)).ok_or_else(|| {
            script_error(format!(
                "view_for: {what} holds {}, expected character ids or characters",
                item.type_name()
            ))
        })?;
    }
    Ok(())
}

fn to_array(list: &IdList) -> Array {
    list.iter()
        .map(|id| Dynamic::from(ImmutableString::from(id)))
        .collect()
}

/// The id at `index` (from the end when negative), as arrays index.
fn get(list: &IdList, index: INT) -> Fallible<ImmutableString> {
    let len = list.len();
    let at = if index < 0 {
        usize::try_from(index.unsigned_abs())
            .ok()
            .and_then(|back| len.checked_sub(back))
    } else {
        usize::try_from(index).ok().filter(|i| *i < len)
    };
    at.and_then(|i| list.get(i))
        .map(ImmutableString::from)
        .ok_or_else(|| Box::new(EvalAltResult::ErrorArrayBounds(len, index, Position::NONE)))
}

fn position(list: &IdList, value: &Dynamic) -> INT {
    with_id(value, |id| list.iter().position(|x| x == id))
        .flatten()
        .map_or(-1, |i| i as INT)
}

fn text(list: &IdList) -> String {
    format!("{list:?}")
}

fn register_reading(engine: &mut Engine) {
    const LEN: &str = "How many ids the list holds.";
    defs::register_fn(engine, "len", ["list"], LEN, |l: &mut IdList| {
        l.len() as INT
    });
    defs::register_get(engine, "len", "list", LEN, |l: &mut IdList| l.len() as INT);
    const EMPTY: &str = "Whether the list holds no id.";
    defs::register_fn(engine, "is_empty", ["list"], EMPTY, |l: &mut IdList| {
        l.is_empty()
    });
    defs::register_get(engine, "is_empty", "list", EMPTY, |l: &mut IdList| {
        l.is_empty()
    });
    defs::register_indexer_get(
        engine,
        ["list", "index"],
        "The id at `index` (counted from the end when negative).",
        |l: &mut IdList, i: INT| get(l, i),
    );
    defs::register_fn(
        engine,
        "index_of",
        ["list", "id"],
        "Where `id` (an id or a character) first is in the list, or -1.",
        |l: &mut IdList, v: Dynamic| position(l, &v),
    );
    defs::register_fn(
        engine,
        "contains",
        ["list", "id"],
        "Whether `id` (an id or a character) is in the list (also `id in list`).",
        |l: &mut IdList, v: Dynamic| position(l, &v) >= 0,
    );
    defs::register_fn(
        engine,
        "to_array",
        ["list"],
        "The ids as a new array of strings, to change (`push`, `shift`, `extract`...).",
        |l: &mut IdList| to_array(l),
    );
    engine.register_iterator::<IdList>();
}

fn register_joining(engine: &mut Engine) {
    const PLUS: &str = "The two lists' items in order, as a new array.";
    defs::register_fn(
        engine,
        "+",
        ["list", "items"],
        PLUS,
        |l: IdList, a: Array| {
            let mut out = to_array(&l);
            out.extend(a);
            out
        },
    );
    defs::register_fn(
        engine,
        "+",
        ["items", "list"],
        PLUS,
        |mut a: Array, l: IdList| {
            a.extend(to_array(&l));
            a
        },
    );
    defs::register_fn(
        engine,
        "+",
        ["list", "other"],
        PLUS,
        |l: IdList, o: IdList| {
            let mut out = to_array(&l);
            out.extend(to_array(&o));
            out
        },
    );
    defs::register_fn(
        engine,
        "==",
        ["list", "other"],
        "Whether both hold the same ids in the same order.",
        |l: IdList, o: IdList| l == o,
    );
    defs::register_fn(
        engine,
        "!=",
        ["list", "other"],
        "Whether the two differ in an id or its place.",
        |l: IdList, o: IdList| l != o,
    );
    const TEXT: &str = "The ids as text: `[\"a\", \"b\"]`.";
    defs::register_fn(engine, "to_string", ["list"], TEXT, |l: &mut IdList| {
        text(l)
    });
    defs::register_fn(engine, "to_debug", ["list"], TEXT, |l: &mut IdList| text(l));
}

fn register_view_for(engine: &mut Engine) {
    const VIEW_FOR: &str = "The ids `member` sees, as an `IdList`: `member` first, then \
                            `leading` (an id, a character or an array of them, such as the \
                            service's agents), then this list without `member` (its first \
                            place, found as `index_of` finds it), in order.";
    defs::register_fn(
        engine,
        "view_for",
        ["list", "member", "leading"],
        VIEW_FOR,
        |list: &mut Array, member: ImmutableString, leading: Dynamic| {
            view_for(list, &member, &leading)
        },
    );
    defs::register_fn(
        engine,
        "view_for",
        ["list", "member", "leading"],
        VIEW_FOR,
        |list: &mut Array, member: Character, leading: Dynamic| {
            view_for(list, &member.character_id, &leading)
        },
    );
}

/// Registers the type, its functions and `view_for`; after
/// [`super::character::register`], whose type `view_for` takes.
pub(super) fn register(engine: &mut Engine) {
    // First, so that the functions' metadata names the type `IdList`.
    engine.register_type_with_name::<IdList>("IdList");
    register_reading(engine);
    register_joining(engine);
    register_view_for(engine);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut engine = super::super::character::tests::engine();
        register(&mut engine);
        engine
    }

    fn strings(value: Dynamic) -> Vec<String> {
        value
            .cast::<Array>()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// `view_for` gives the ids of what the tutorial's `index_of`, `extract`
    /// and `+` give, for a member in the list, absent, twice, or as a character.
    #[test]
    fn view_for_is_the_tutorials_list_building() {
        let got: Array = engine()
            .eval(
                r#"fn by_hand(list, member, leading) {
                       let characters = leading + list;
                       let ind = characters.index_of(member);
                       let view = [member] + characters.extract(0, ind) + characters.extract(ind + 1);
                       view.map(|c| if type_of(c) == "Character" { c.character_id } else { c })
                   }
                   let members = ["a", "b", cat("c"), "b", "d"];
                   let cases = [];
                   for member in ["a", "b", "c", "d", "z"] {
                       cases.push([members.view_for(member, [meow()]).to_array(), by_hand(members, member, [meow()])]);
                   }
                   cases.push([members.view_for(cat("b"), meow()).to_array(), by_hand(members, cat("b"), [meow()])]);
                   cases.push([[].view_for("a", []).to_array(), ["a"]]);
                   cases.push([members.view_for("d", ["x", "y"]).to_array(), ["d", "x", "y", "a", "b", "c", "b"]]);
                   cases"#,
            )
            .expect("script runs");
        assert_eq!(got.len(), 8);
        for case in got {
            let pair = case.cast::<Array>();
            assert_eq!(strings(pair[0].clone()), strings(pair[1].clone()));
        }
    }

    #[test]
    fn reads_like_an_array() {
        let got: Array = engine()
            .eval(
                r#"let v = ["a", "b", "c"].view_for("b", meow());
                   let seen = "";
                   for id in v { seen += id; }
                   [v.len(), v.len, v.is_empty(), v[0], v[1], v[-1], v[-4], seen,
                    v.index_of("c"), v.index_of(cat("a")), v.index_of("z"), "m" in v, "z" in v,
                    v.contains(meow()), `${v}`, v == ["a"].view_for("b", "m").to_array().view_for("b", "c"),
                    type_of(v)]"#,
            )
            .expect("script runs");
        assert_eq!(
            got.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "4",
                "4",
                "false",
                "b",
                "m",
                "c",
                "b",
                "bmac",
                "3",
                "2",
                "-1",
                "true",
                "false",
                "true",
                r#"["b", "m", "a", "c"]"#,
                "false",
                "IdList"
            ]
        );
    }

    #[test]
    fn joins_and_changes_as_an_array() {
        let got: Array = engine()
            .eval(
                r#"let v = ["a", "b"].view_for("b", []);
                   let w = v.to_array(); w.push("z"); let first = w.shift();
                   [v + ["x"], ["x"] + v, v + v, w, first, v.len()]"#,
            )
            .expect("script runs");
        let got: Vec<String> = got.into_iter().map(|v| v.to_string()).collect();
        assert_eq!(
            got,
            [
                r#"["b", "a", "x"]"#,
                r#"["x", "b", "a"]"#,
                r#"["b", "a", "b", "a"]"#,
                r#"["a", "z"]"#,
                "b",
                "2"
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_an_id() {
        let engine = engine();
        for (script, words) in [
            (r#"["a", 1].view_for("a", [])"#, "list holds i64"),
            (r#"["a"].view_for("a", [true])"#, "leading holds bool"),
            (r#"["a"].view_for("a", [])[1]"#, "out of bounds"),
            (r#"["a"].view_for("a", []).push("b")"#, "push (IdList"),
        ] {
            let err = engine
                .eval::<Dynamic>(script)
                .expect_err(script)
                .to_string();
            assert!(err.contains(words), "{script}: {err}");
        }
    }
}
