//! "Did you mean ...?" for names an author types by hand: handler names in
//! scripts (`check`'s lint) and keys in the config. Both fail silently when
//! mistyped (a handler is never called, a key is ignored), so the message
//! that reports them is only useful if it names the intended one.

/// Levenshtein distance, in characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// Lower case, without `_`, `-` and spaces: `heartBeat-Interval` and
/// `heartbeat_interval` are the same name written differently.
fn folded(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The name in `known` that `name` most likely meant: one written the same
/// but for case, `_`, `-` and spaces, else the nearest within edit distance
/// 2 (ties: the first in alphabetical order). `None` when nothing is close.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mine = folded(name);
    known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| {
            let d = if folded(k) == mine {
                0
            } else {
                distance(name, k)
            };
            (d, k)
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// `; did you mean `x`?` when a name in `known` is [`closest`] to `name`,
/// else nothing: the tail of a message about an unknown name.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("on_joined", "on_join"), 2);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("naïve", "naive"), 1);
    }

    #[test]
    fn suggestions() {
        let keys = ["heartbeat_interval", "checkin_interval", "timeout_ms"];
        let k = |name| closest(name, keys);
        assert_eq!(k("heartbeat_intervall"), Some("heartbeat_interval"));
        assert_eq!(k("HeartbeatInterval"), Some("heartbeat_interval"));
        assert_eq!(k("checkin-interval"), Some("checkin_interval"));
        assert_eq!(k("timeout"), None, "3 edits away");
        assert_eq!(k("colour"), None);
        assert_eq!(k("timeout_ms"), None, "a known name is not a typo");
        assert_eq!(
            did_you_mean("TimeoutMs", ["timeout_ms"]),
            "; did you mean `timeout_ms`?"
        );
        assert_eq!(did_you_mean("colour", keys), "");
    }
}
