//! The one redaction of credentials in what the host prints, logs,
//! reports or packs: every URL shown anywhere (logs at any level, errors,
//! `/status`, `cluster status`, the config template of a bundle) goes
//! through [`redact_urls`] (or [`shown_url`]), and every config key that
//! names a credential is recognised by [`is_secret_key`]. One list each, so
//! that a new spelling is added once and holds everywhere.
//!
//! A URL carries credentials in two places: its user-info
//! (`redis://user:PW@host`) and its query (`redis+unix:///s?pass=PW` or
//! `unix:/s?pass=PW`, read by the Redis client, or `?password=`,
//! `?token=`), in any scheme, with or without `//`. Both
//! are taken out; the rest of the URL is kept, since the host and the path
//! are what a reader needs.

/// Query keys that are credentials in a URL but not as config keys: the
/// user name that goes with a password (redis-rs reads `user` and `pass`).
/// Every key [`is_secret_key`] names (`pass`, `password`, `token`, ...) is
/// one too.
const SECRET_QUERY_KEYS: [&str; 2] = ["user", "username"];

/// Credential names matched anywhere in the lowercased key, also with its
/// separators left out, so that `db_password`, `dbPassword`, `accessToken`
/// and `apiKey` are caught too.
const SECRET_PARTS: [&str; 13] = [
    "password",
    "passphrase",
    "passcode",
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

/// Names too short to match inside other words (`author`, `signal`,
/// `bypass`, `compass`): a credential only as a whole word of a snake,
/// kebab or camel-case key (`auth`, `basic_auth`, `proxyAuth`, `url_sig`,
/// `SIG`, `redis_pass`, `redisPass`, `pass`, `db_pw`).
const SECRET_WORDS: [&str; 4] = ["auth", "sig", "pass", "pw"];

/// Whether a key's value is a credential.
pub fn is_secret_key(key: &str) -> bool {
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

/// `text` with the credentials of every URL in it taken out (user-info,
/// and query parameters whose key is a credential, in any case), or `None`
/// when there were none.
pub fn redact_urls(text: &str) -> Option<String> {
    let step = without_userinfo(text);
    let after = step.as_deref().unwrap_or(text);
    without_secret_query(after).or(step)
}

/// `text` as logs, errors and reports may show it: [`redact_urls`], or
/// `text` itself when it holds no credentials.
pub fn shown_url(text: &str) -> String {
    redact_urls(text).unwrap_or_else(|| text.to_string())
}

/// Where a URL inside free text ends: at white space or a quote or bracket
/// that delimits it.
fn url_ends(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')
}

/// `text` with each part of a URL that follows `scheme:` and `lead` and
/// ends at the first character `ends` accepts rewritten by `rewrite`
/// (`None`: kept as it is), or `None` when nothing was rewritten. Keyed on
/// `scheme:`, not `scheme://`: `unix:/s?pass=PW` and
/// `redis+unix:/run/r.sock?pass=PW` are URLs to the Redis client too.
fn rewrite_urls(
    text: &str,
    lead: &str,
    ends: impl Fn(char) -> bool,
    rewrite: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = after_scheme(rest) {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let Some(body) = after.strip_prefix(lead) else {
            rest = after;
            continue;
        };
        out.push_str(lead);
        let end = body.find(&ends).unwrap_or(body.len());
        let part = &body[..end];
        match rewrite(part) {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(part),
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Where the first `scheme:` in `text` ends (just after its colon): a
/// letter, then letters, digits, `+`, `-` or `.`, as RFC 3986 spells one.
fn after_scheme(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let in_scheme = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    text.match_indices(':').find_map(|(colon, _)| {
        let start = bytes[..colon]
            .iter()
            .rposition(|&b| !in_scheme(b))
            .map_or(0, |p| p + 1);
        let starts_with_letter = bytes.get(start).is_some_and(u8::is_ascii_alphabetic);
        (start < colon && starts_with_letter).then_some(colon + 1)
    })
}

/// `text` with the user-info of every URL in it removed (`user:pass@` after
/// `scheme://`, up to the authority's end), or `None` if there was none.
fn without_userinfo(text: &str) -> Option<String> {
    let authority_ends = |c: char| matches!(c, '/' | '?' | '#') || url_ends(c);
    rewrite_urls(text, "//", authority_ends, |authority| {
        let at = authority.rfind('@')?;
        Some(authority[at + 1..].to_string())
    })
}

/// `text` with every query parameter of its URLs whose key is a credential
/// removed, or `None` if there was none.
fn without_secret_query(text: &str) -> Option<String> {
    rewrite_urls(text, "", url_ends, |url| {
        let (path, query) = url.split_at(url.find('?')?);
        let query = &query[1..];
        let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
        let pairs: Vec<&str> = query.split('&').collect();
        let kept: Vec<&str> = pairs
            .iter()
            .copied()
            .filter(|pair| !is_secret_query_key(pair.split('=').next().unwrap_or("")))
            .collect();
        if kept.len() == pairs.len() {
            return None;
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        Some(format!("{path}{query}{fragment}"))
    })
}

/// Whether a URL query key (percent-encoded as it stands) is a credential.
fn is_secret_query_key(raw: &str) -> bool {
    let key = percent_decoded(raw);
    SECRET_QUERY_KEYS.contains(&key.to_ascii_lowercase().as_str()) || is_secret_key(&key)
}

/// `raw` with its `%XX` escapes decoded (anything not a valid escape is
/// kept as it is), so that `pa%73s` is seen as `pass`.
fn percent_decoded(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "passphrase",
            "gpgPassphrase",
            "passcode",
            "pass",
            "redis_pass",
            "redisPass",
            "REDIS_PASS",
            "db_pw",
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
            "passage",
            "bypass",
            "compass_heading",
            "user",
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
    fn query_credentials_go_in_any_case_and_scheme() {
        let cases = [
            (
                "redis+unix:///run/r.sock?pass=PW",
                "redis+unix:///run/r.sock",
            ),
            (
                "redis+unix:///s?db=1&pass=PW&user=u",
                "redis+unix:///s?db=1",
            ),
            ("redis://h:1/0?PassWord=PW#frag", "redis://h:1/0#frag"),
            ("unix:///s?pa%73s=PW&db=0", "unix:///s?db=0"),
            ("redis+unix:/run/r.sock?pass=PW", "redis+unix:/run/r.sock"),
            ("unix:/s?db=1&pass=PW", "unix:/s?db=1"),
            ("at unix:/s?pass=PW.", "at unix:/s"),
            ("rediss://:a@h/?password=b&x=1", "rediss://h/?x=1"),
            (
                "https://x.example/hook?token=t&id=3",
                "https://x.example/hook?id=3",
            ),
            ("url \"redis://h/?pass=PW\" here", "url \"redis://h/\" here"),
            ("a redis://h/?redis_pass=PW b", "a redis://h/ b"),
        ];
        for (dirty, clean) in cases {
            assert_eq!(shown_url(dirty), clean, "{dirty}");
        }
        for plain in [
            "redis://h/0?db=2",
            "https://e.example/?passage=1&bypass=2",
            "no url",
        ] {
            assert_eq!(redact_urls(plain), None, "{plain}");
        }
    }
}
