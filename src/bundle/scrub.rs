//! Taking credentials out of the config template that goes into a bundle.
//!
//! A bundle is copied to servers and shared, so its config is a template
//! only, and nothing that unlocks anything may stay in it: a key that names
//! a credential goes whole (its value, whatever it is), and every URL loses
//! its user-info (`redis://:PW@host/0` becomes `redis://host/0`), wherever
//! the URL sits. What was taken is recorded as key paths, never values, so
//! that `bundle pack` can say what the template lacks.

use crate::config::without_userinfo;
use serde_json::Value;
use std::fmt;

/// What was taken out of one config file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The file's path in the bundle, e.g. `config/config.json`.
    pub file: String,
    /// Key paths such as `log_config.api_token` or
    /// `db_config[0].redis_url (user-info)`; never a value.
    pub keys: Vec<String>,
}

impl fmt::Display for Stripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.keys.join(", "))
    }
}

/// Credential names matched anywhere in the lowercased key, also with its
/// separators left out, so that `db_password`, `dbPassword`, `accessToken`
/// and `apiKey` are caught too.
const SECRET_PARTS: [&str; 11] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "credential",
    "private_key",
    "authorization",
    "bearer",
    "session_cookie",
];

/// Names too short to match inside other words (`author`, `signal`): a
/// credential only as a whole word of a snake, kebab or camel-case key
/// (`auth`, `basic_auth`, `proxyAuth`, `url_sig`, `SIG`).
const SECRET_WORDS: [&str; 2] = ["auth", "sig"];

/// Whether a key's value is a credential.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    if lower == "account_config" || lower == "email" {
        return true;
    }
    let folded: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    SECRET_PARTS
        .iter()
        .any(|s| lower.contains(s) || folded.contains(&s.replace('_', "")))
        || words(key)
            .iter()
            .any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// The lowercase words of a key: split at anything not a letter or digit,
/// between letters and digits, and at camel-case humps (`HTTPAuthSig2` is
/// `http`, `auth`, `sig`, `2`).
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let hump = c.is_uppercase()
                && (prev.is_lowercase()
                    || prev.is_numeric()
                    || (prev.is_uppercase() && next_lower));
            let digit_edge = prev.is_alphanumeric() && (c.is_numeric() != prev.is_numeric());
            if (hump || digit_edge) && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
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
            if let Some(clean) = without_userinfo(text) {
                *text = clean;
                found.push(format!("{path} (user-info)"));
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
    fn credential_keys_in_any_case_and_style() {
        for key in [
            "password",
            "db_password",
            "dbPassword",
            "passwd",
            "PWD",
            "dbPwd",
            "private_key",
            "PRIVATE_KEY",
            "sshPrivateKey",
            "auth",
            "basic_auth",
            "proxyAuth",
            "HTTPAuthHeader",
            "auth-header",
            "Authorization",
            "bearer",
            "bearerValue",
            "session_cookie",
            "sessionCookie",
            "sig",
            "SIG",
            "url_sig",
            "urlSig",
            "sig2",
            "api_key",
            "apiKey",
            "accessToken",
            "client_secret",
            "email",
            "account_config",
        ] {
            assert!(is_secret_key(key), "{key} is a credential");
        }
        for key in [
            "author",
            "authority",
            "signal",
            "signature_style",
            "design",
            "assign",
            "redis_url",
            "channels",
            "log_level",
            "oauthority",
        ] {
            assert!(!is_secret_key(key), "{key} is not a credential");
        }
    }

    #[test]
    fn words_split_at_humps_separators_and_digits() {
        assert_eq!(words("HTTPAuthSig2"), ["http", "auth", "sig", "2"]);
        assert_eq!(words("url_sig"), ["url", "sig"]);
        assert_eq!(words("x-Auth.token"), ["x", "auth", "token"]);
        assert!(words("__").is_empty());
    }

    #[test]
    fn urls_lose_their_user_info_only() {
        let cases = [
            ("redis://:pw@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://user:pw@host", "redis://host"),
            (
                "https://tok@github.com/a@b?x=@#@",
                "https://github.com/a@b?x=@#@",
            ),
            ("rediss://u:p:w@h:1", "rediss://h:1"),
            (
                "primary redis://:a@x, spare redis://:b@y/1",
                "primary redis://x, spare redis://y/1",
            ),
        ];
        for (dirty, clean) in cases {
            assert_eq!(without_userinfo(dirty).as_deref(), Some(clean), "{dirty}");
        }
        for plain in [
            "https://example.com/@me",
            "a@b.example",
            "mailto:a@b",
            "",
            "://",
        ] {
            assert_eq!(without_userinfo(plain), None, "{plain}");
        }
    }

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
                "db_config[0].redis_url (user-info)",
                "hooks[0] (user-info)",
                "log.api_token"
            ]
        );
        assert!(found.iter().all(|f| !f.contains("pw-")));
    }
}
