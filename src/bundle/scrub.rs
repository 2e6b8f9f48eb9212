//! Taking credentials out of the config template that goes into a bundle.
//!
//! A bundle is copied to servers and shared, so its config is a template
//! only, and nothing that unlocks anything may stay in it: a key that names
//! a credential goes whole (its value, whatever it is), and every URL loses
//! its credentials (`redis://:PW@host/0` becomes `redis://host/0`,
//! `redis+unix:///s?pass=PW` becomes `redis+unix:///s`), wherever the URL
//! sits. Which keys and URL parts are credentials is `config::redact`'s
//! one list. What was taken is recorded as key paths, never values, so
//! that `bundle pack` can say what the template lacks.

use crate::config::redact::{is_secret_key, redact_urls};
use serde_json::Value;
use std::fmt;

/// What was taken out of one config file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The file's path in the bundle, e.g. `config/config.json`.
    pub file: String,
    /// Key paths such as `log_config.api_token` or
    /// `db_config[0].redis_url (credentials in URL)`; never a value.
    pub keys: Vec<String>,
}

impl fmt::Display for Stripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.keys.join(", "))
    }
}

/// Removes credentials from `value` at any depth and appends what was
/// removed to `found`, as paths under `path` (empty at the top).
pub(crate) fn scrub(value: &mut Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| {
                let secret = is_secret_key(key);
                if secret {
                    found.push(child(path, key));
                }
                !secret
            });
            for (key, item) in map.iter_mut() {
                scrub(item, &child(path, key), found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                scrub(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::String(text) => {
            if let Some(clean) = redact_urls(text) {
                *text = clean;
                found.push(format!("{path} (credentials in URL)"));
            }
        }
        _ => {}
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrub_reports_paths_never_values() {
        let mut v = json!({
            "db_config": [{"redis_url": "redis://:pw-1@h/0", "name": "a"}],
            "log": {"api_token": "pw-2", "level": "INFO"},
            "hooks": ["https://u:pw-3@hooks.example/x", "https://ok.example/"],
        });
        let mut found = Vec::new();
        scrub(&mut v, "", &mut found);
        assert_eq!(
            v,
            json!({
                "db_config": [{"redis_url": "redis://h/0", "name": "a"}],
                "log": {"level": "INFO"},
                "hooks": ["https://hooks.example/x", "https://ok.example/"],
            })
        );
        assert_eq!(
            found,
            [
                "db_config[0].redis_url (credentials in URL)",
                "hooks[0] (credentials in URL)",
                "log.api_token"
            ]
        );
        assert!(found.iter().all(|f| !f.contains("pw-")));
    }
}
