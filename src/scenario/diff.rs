//! What a failed `assert_eq` says: both values, readably, and where they
//! differ (`[2]: left has nothing, right has "bob"`), so a failing scenario
//! explains itself without a debugger.

use rhai::Dynamic;
use serde_json::Value;

/// Values longer than this are shown pretty-printed over several lines.
const ONE_LINE: usize = 72;
/// At most this many differences are listed.
const MAX_DIFFERENCES: usize = 10;

/// `None` when `left` equals `right`, else the explanation.
pub fn explain_difference(left: &Dynamic, right: &Dynamic) -> Option<String> {
    let (l, r) = (to_json(left), to_json(right));
    if l == r {
        return None;
    }
    let mut out = String::from("assert_eq failed: the values differ\n");
    out.push_str(&format!("   left: {}\n", show(&l, 9)));
    out.push_str(&format!("  right: {}", show(&r, 9)));
    let mut diffs = Vec::new();
    differences("", &l, &r, &mut diffs);
    let listed = diffs.len().min(MAX_DIFFERENCES);
    if !(diffs.len() == 1 && diffs[0].starts_with(": ")) {
        out.push_str("\n  differences:");
        for d in &diffs[..listed] {
            out.push_str(&format!("\n    {d}"));
        }
        if diffs.len() > listed {
            out.push_str(&format!("\n    ... and {} more", diffs.len() - listed));
        }
    }
    Some(out)
}

fn to_json(v: &Dynamic) -> Value {
    rhai::serde::from_dynamic::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// Compact on one line when short, else pretty with continuation lines
/// indented by `indent`.
fn show(v: &Value, indent: usize) -> String {
    let compact = compact(v);
    if compact.chars().count() <= ONE_LINE {
        return compact;
    }
    let pretty = serde_json::to_string_pretty(v).unwrap_or(compact);
    pretty.replace('\n', &format!("\n{}", " ".repeat(indent)))
}

/// JSON with a space after commas and colons, which reads like Rhai.
fn compact(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(compact).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), compact(v)))
                .collect();
            format!("#{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

fn differences(at: &str, l: &Value, r: &Value, out: &mut Vec<String>) {
    if l == r {
        return;
    }
    match (l, r) {
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let here = format!("{at}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => differences(&here, x, y, out),
                    (Some(x), None) => out.push(format!(
                        "{here}: left has {}, right has nothing",
                        compact(x)
                    )),
                    (None, Some(y)) => out.push(format!(
                        "{here}: left has nothing, right has {}",
                        compact(y)
                    )),
                    (None, None) => {}
                }
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let here = format!("{at}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => differences(&here, x, y, out),
                    (Some(x), None) => out.push(format!(
                        "{here}: left has {}, right has no such key",
                        compact(x)
                    )),
                    (None, Some(y)) => out.push(format!(
                        "{here}: left has no such key, right has {}",
                        compact(y)
                    )),
                    (None, None) => {}
                }
            }
        }
        _ => out.push(format!("{at}: {} != {}", compact(l), compact(r))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Dynamic {
        rhai::Engine::new().eval::<Dynamic>(src).unwrap()
    }

    #[test]
    fn equal_values_pass() {
        assert_eq!(
            explain_difference(&eval("[1, \"a\"]"), &eval("[1, \"a\"]")),
            None
        );
    }

    #[test]
    fn a_missing_element_is_named() {
        let got = explain_difference(
            &eval(r#"["alice", "Meow"]"#),
            &eval(r#"["alice", "Meow", "bob"]"#),
        );
        assert_eq!(
            got.unwrap(),
            "assert_eq failed: the values differ\n   left: [\"alice\", \"Meow\"]\n  right: [\"alice\", \"Meow\", \"bob\"]\n  differences:\n    [2]: left has nothing, right has \"bob\""
        );
    }

    #[test]
    fn scalars_show_no_difference_list() {
        let got = explain_difference(&eval("1"), &eval("2")).unwrap();
        assert_eq!(
            got,
            "assert_eq failed: the values differ\n   left: 1\n  right: 2"
        );
    }

    #[test]
    fn nested_maps_give_paths() {
        let got = explain_difference(
            &eval(r#"[#{from: "a", text: "hi"}]"#),
            &eval(r#"[#{from: "a", text: "ho"}]"#),
        )
        .unwrap();
        assert!(got.ends_with("[0].text: \"hi\" != \"ho\""), "{got}");
    }
}
