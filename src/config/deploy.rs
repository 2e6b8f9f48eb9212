//! The `deploy` section: how a deploy's canary is judged (docs/DEPLOY.md).
//!
//! `{"canary_window_ms": 60000, "max_error_ratio": 0.01, "max_p99_ratio":
//! 2, "p99_slack_ms": 5, "min_events": 20}`, every key optional; the
//! defaults and their reasons are [`crate::deploy::DeployConfig`]'s.
//! Unknown keys are errors, as in the host's other own sections.

use super::{ranges, ConfigError};
use crate::deploy::DeployConfig;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// Reads `deploy` from the top level of `file` (the defaults when absent).
pub fn parse(file: &Path, value: Option<&Value>) -> Result<DeployConfig, ConfigError> {
    let mut config = DeployConfig::default();
    let map: &Map<String, Value> = match value {
        None | Some(Value::Null) => return Ok(config),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ConfigError::new(
                file,
                "deploy",
                "expected an object ({\"canary_window_ms\": 60000})",
            ))
        }
    };
    let err = |key: &str, why: String| ConfigError::new(file, format!("deploy.{key}"), why);
    let keys = ranges::DEPLOY.iter().map(|r| r.key);
    if let Some(k) = map
        .keys()
        .find(|k| !keys.clone().any(|known| known == k.as_str()))
    {
        let hint = crate::suggest::did_you_mean(k, keys);
        return Err(err(k, format!("unknown key{hint}")));
    }
    let number = |range: &ranges::Range| {
        range
            .check(map.get(range.key))
            .map_err(|why| err(range.key, why))
    };
    let t = &mut config.thresholds;
    if let Some(ms) = number(&ranges::CANARY_WINDOW_MS)? {
        config.canary_window = Duration::from_millis(ms as u64);
    }
    if let Some(r) = number(&ranges::MAX_ERROR_RATIO)? {
        t.max_error_ratio = r;
    }
    if let Some(r) = number(&ranges::MAX_P99_RATIO)? {
        t.max_p99_ratio = r;
    }
    if let Some(ms) = number(&ranges::P99_SLACK_MS)? {
        t.p99_slack_ms = ms as u64;
    }
    if let Some(n) = number(&ranges::MIN_EVENTS)? {
        t.min_events = n as u64;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_is_the_defaults_and_keys_are_checked() {
        let f = Path::new("config.json");
        assert_eq!(parse(f, None).unwrap(), DeployConfig::default());
        let c = parse(f, Some(&json!({"canary_window_ms": 2000, "min_events": 3}))).unwrap();
        assert_eq!(c.canary_window, Duration::from_secs(2));
        assert_eq!(c.thresholds.min_events, 3);
        let e = parse(f, Some(&json!({"min_event": 3})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("deploy.min_event: unknown key") && e.contains("min_events"),
            "{e}"
        );
        let e = parse(f, Some(&json!({"max_error_ratio": 2})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("out of range"), "{e}");
    }
}
