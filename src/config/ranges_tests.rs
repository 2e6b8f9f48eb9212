//! Every number in the config against its range, through the real loader:
//! boundaries accepted, anything outside (too small, too large, negative,
//! fractional where whole, not a number) refused in one line naming the
//! file, the key, the value and the range.

use super::*;
use crate::config::load::{load, Overrides};
use crate::config::{Config, ConfigError};
use serde_json::{json, Map};
use std::time::Duration;

/// Loads a config whose `section` is `fields` (inline).
fn load_with(section: &str, fields: Map<String, Value>) -> Result<Config, ConfigError> {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("config.json");
    let root = json!({
        "account_config": {"email": "a@b.c", "password": "pw"},
        section: fields,
    });
    std::fs::write(&file, root.to_string()).unwrap();
    load(&file, d.path(), &Overrides::default())
}

/// `section.key = value`, with the reconnect bounds wide open so that
/// each of them is tested alone.
fn load_one(section: &str, key: &str, value: Value) -> Result<Config, String> {
    let mut fields = Map::new();
    if section == "service_config" {
        fields.insert("reconnect_min_ms".into(), json!(10));
        fields.insert("reconnect_max_ms".into(), json!(600_000));
    }
    fields.insert(key.into(), value);
    load_with(section, fields).map_err(|e| e.to_string())
}

fn all() -> impl Iterator<Item = (&'static str, &'static Range)> {
    let service = SERVICE.iter().map(|r| ("service_config", r));
    service.chain(LIMITS.iter().map(|r| ("script_limits", r)))
}

#[test]
fn boundaries_are_accepted() {
    for (section, r) in all() {
        let mut good = vec![json!(r.min), json!(r.max)];
        if r.whole {
            good.push(json!(r.min as u64));
            good.push(json!(r.max as u64));
        }
        if r.zero.is_some() {
            good.push(json!(0));
        }
        for v in good {
            if let Err(e) = load_one(section, r.key, v.clone()) {
                panic!("{section}.{}: {v} refused: {e}", r.key);
            }
        }
    }
}

#[test]
fn out_of_range_and_non_numbers_are_refused_in_one_line() {
    for (section, r) in all() {
        let below = match (r.zero, r.whole) {
            (Some(_), true) => -1.0,
            (Some(_), false) => r.min / 2.0,
            (None, true) => r.min - 1.0,
            (None, false) => r.min / 2.0,
        };
        let mut bad = vec![
            json!(below),
            json!(-1),
            json!(r.max + 1.0),
            json!(1e300),
            json!(-1e300),
            json!("30"),
            json!("NaN"),
            json!(true),
            json!([1]),
            json!({"v": 1}),
        ];
        if r.whole {
            bad.push(json!(r.min + 0.5));
        }
        for v in bad {
            let msg = match load_one(section, r.key, v.clone()) {
                Ok(_) => panic!("{section}.{}: {v} accepted", r.key),
                Err(e) => e,
            };
            let head = format!("config.json: {section}.{}: ", r.key);
            let shown = super::shown(&v);
            assert!(
                msg.contains(&head) && msg.contains(&shown) && !msg.contains('\n'),
                "{msg}"
            );
            let names_the_range = msg.contains(&r.expected())
                || (r.why_max.is_some() && msg.contains(&format!("(at most {})", r.max)));
            assert!(names_the_range, "{msg}");
        }
    }
}

#[test]
fn values_are_shown_as_written() {
    let cases = [
        (json!(1e300), "1e300"),
        (json!(-1e300), "-1e300"),
        (json!(1e-12), "1e-12"),
        (json!(0.5), "0.5"),
        (json!(3601.0), "3601"),
        (json!(30000), "30000"),
        (json!(-1), "-1"),
        (json!("30"), "\"30\""),
        (json!("a\nb"), "\"a\\nb\""),
        (json!(true), "true"),
        (json!([1]), "a list"),
    ];
    for (v, want) in cases {
        assert_eq!(super::shown(&v), want);
    }
}

#[test]
fn a_huge_heartbeat_is_one_clear_line() {
    let e = load_one("service_config", "heartbeat_interval", json!(1e300)).unwrap_err();
    assert!(
        e.ends_with(
            "config.json: service_config.heartbeat_interval: 1e300 is out of range (expected 0.1 to 3600 seconds)"
        ),
        "{e}"
    );
    let e = load_one("script_limits", "timeout_ms", json!(1.5)).unwrap_err();
    assert!(
        e.ends_with(
            "script_limits.timeout_ms: 1.5 is not a whole number (expected 1 to 300000 ms)"
        ),
        "{e}"
    );
    let e = load_one("service_config", "checkin_interval", json!("often")).unwrap_err();
    assert!(
        e.ends_with("checkin_interval: \"often\" is not a number (expected 0 (disables) or 1 to 86400 seconds)"),
        "{e}"
    );
}

#[test]
fn call_levels_are_capped_by_the_script_thread_stack() {
    let e = load_one("script_limits", "max_call_levels", json!(30_000)).unwrap_err();
    assert!(
        e.ends_with("script_limits.max_call_levels: 30000 is more than the script thread's stack holds (at most 100)"),
        "{e}"
    );
    let cap = crate::script::MAX_CALL_LEVELS_CAP;
    let c = load_one("script_limits", "max_call_levels", json!(cap)).unwrap();
    assert_eq!(c.script_limits.max_call_levels, cap);
    assert!(load_one("script_limits", "max_call_levels", json!(cap + 1)).is_err());
}

#[test]
fn accepted_values_reach_the_config() {
    let c = load_one("service_config", "heartbeat_interval", json!(0.1)).unwrap();
    assert_eq!(c.service.heartbeat_interval, Duration::from_millis(100));
    assert_eq!(c.service.reconnect_min, Duration::from_millis(10));
    assert_eq!(c.service.reconnect_max, Duration::from_secs(600));
    let c = load_one("service_config", "checkin_interval", json!(0)).unwrap();
    assert_eq!(c.service.checkin_interval, None);
    let c = load_one("service_config", "outgoing_queue_limit", json!(1e6)).unwrap();
    assert_eq!(c.service.outgoing_queue_limit, 1_000_000);
    let mut fields = Map::new();
    for r in LIMITS {
        fields.insert(r.key.into(), json!(r.max as u64));
    }
    let l = load_with("script_limits", fields).unwrap().script_limits;
    assert_eq!(l.timeout, Duration::from_secs(300));
    assert_eq!(l.max_operations, 1_000_000_000_000);
    assert_eq!(l.max_call_levels, MAX_CALL_LEVELS.max as usize);
    assert_eq!(l.max_string_size, 1 << 30);
    assert_eq!(
        (l.max_array_size, l.max_map_size),
        (100_000_000, 100_000_000)
    );
    assert_eq!(
        (l.max_output_frames, l.max_output_bytes),
        (1_000_000, 1 << 30)
    );
}

#[test]
fn reconnect_max_may_not_be_below_min() {
    let mut fields = Map::new();
    fields.insert("reconnect_min_ms".into(), json!(500));
    fields.insert("reconnect_max_ms".into(), json!(400));
    let e = load_with("service_config", fields).unwrap_err().to_string();
    assert!(
        e.ends_with("service_config.reconnect_max_ms: 400 is below reconnect_min_ms (500)"),
        "{e}"
    );
    let mut fields = Map::new();
    fields.insert("reconnect_min_ms".into(), json!(60_000));
    let e = load_with("service_config", fields).unwrap_err().to_string();
    assert!(
        e.contains("30000 (the default) is below reconnect_min_ms (60000)"),
        "{e}"
    );
}

#[test]
fn defaults_are_in_range() {
    let l = crate::script::ScriptLimits::default();
    let defaults = [
        (HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL_SECS),
        (CHECKIN_INTERVAL, DEFAULT_CHECKIN_INTERVAL_SECS),
        (RECONNECT_MIN_MS, DEFAULT_RECONNECT_MIN_MS as f64),
        (RECONNECT_MAX_MS, DEFAULT_RECONNECT_MAX_MS as f64),
        (OUTGOING_QUEUE_LIMIT, DEFAULT_OUTGOING_QUEUE_LIMIT as f64),
        (SCRIPT_THREADS, DEFAULT_SCRIPT_THREADS as f64),
        (
            RUNTIME_THREADS,
            default_runtime_threads(DEFAULT_SCRIPT_THREADS) as f64,
        ),
        (REQUEST_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS as f64),
        (
            REQUEST_TIMEOUT_MAX_MS,
            DEFAULT_REQUEST_TIMEOUT_MAX_MS as f64,
        ),
        (REQUEST_MAX_BYTES, DEFAULT_REQUEST_MAX_BYTES as f64),
        (REQUEST_BUDGET_BYTES, DEFAULT_REQUEST_BUDGET_BYTES as f64),
        (REQUESTS_IN_FLIGHT, DEFAULT_REQUESTS_IN_FLIGHT as f64),
        (TIMEOUT_MS, l.timeout.as_millis() as f64),
        (MAX_OPERATIONS, l.max_operations as f64),
        (MAX_CALL_LEVELS, l.max_call_levels as f64),
        (MAX_STRING_SIZE, l.max_string_size as f64),
        (MAX_ARRAY_SIZE, l.max_array_size as f64),
        (MAX_MAP_SIZE, l.max_map_size as f64),
        (MAX_OUTPUT_FRAMES, l.max_output_frames as f64),
        (MAX_OUTPUT_BYTES, l.max_output_bytes as f64),
        (COMPILE_TIMEOUT_MS, l.compile_timeout.as_millis() as f64),
        (TEST_TIMEOUT_MS, l.test_timeout.as_millis() as f64),
    ];
    assert_eq!(defaults.len(), SERVICE.len() + LIMITS.len());
    for (r, d) in defaults {
        assert!(r.check(Some(&json!(d))).is_ok(), "{}: default {d}", r.key);
    }
}

/// The table of ranges in docs/CONFIG.md says what the code enforces.
#[test]
fn the_config_doc_lists_every_range() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md")).unwrap();
    let cluster = CLUSTER.iter().map(|r| ("cluster", r));
    let deploy = DEPLOY.iter().map(|r| ("deploy", r));
    for (section, r) in all().chain(cluster).chain(deploy) {
        let row = format!("| {section} | `{}` |", r.key);
        let line = doc.lines().find(|l| l.starts_with(&row));
        let Some(line) = line else {
            panic!("docs/CONFIG.md has no row starting with {row:?}");
        };
        assert!(
            line.contains(&format!("| {} |", r.expected())),
            "docs/CONFIG.md's row for {} should say {:?}: {line}",
            r.key,
            r.expected()
        );
    }
}

#[test]
fn script_threads_may_be_auto_and_user_mode_has_one() {
    let c = load_one("service_config", "script_threads", json!("auto")).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(c.service.script_threads, cores.min(256));
    let c = load_one("service_config", "script_threads", json!(4)).unwrap();
    assert_eq!(c.service.script_threads, 4);
    let mut fields = Map::new();
    fields.insert("service_mode".into(), json!(false));
    fields.insert("script_threads".into(), json!(2));
    let err = load_with("service_config", fields).unwrap_err().to_string();
    assert!(err.contains("script_threads: user mode"), "{err}");
}

#[test]
fn runtime_threads_follow_the_script_threads_at_most_one_per_core() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let c = load_one("service_config", "script_threads", json!(1)).unwrap();
    assert_eq!(c.service.runtime_threads, 1);
    let c = load_one("service_config", "script_threads", json!(256)).unwrap();
    assert_eq!(c.service.runtime_threads, cores);
    let c = load_one("service_config", "runtime_threads", json!("auto")).unwrap();
    assert_eq!(c.service.runtime_threads, cores.min(256));
    let c = load_one("service_config", "runtime_threads", json!(3)).unwrap();
    assert_eq!(c.service.runtime_threads, 3);
    let err = load_one("service_config", "runtime_threads", json!("many"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("runtime_threads"), "{err}");
    let err = load_one("service_config", "runtime_threads", json!(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 to 256 threads"), "{err}");
}

#[test]
fn trusted_keys_are_public_key_lines() {
    let line = crate::bundle::SecretKey::generate()
        .unwrap()
        .public()
        .to_line();
    let c = load_one("service_config", "trusted_keys", json!([line, line])).unwrap();
    assert_eq!(c.service.trusted_keys.keys().len(), 1, "duplicates merged");
    assert!(!c.warnings.iter().any(|w| w.contains("trusted_keys")));
    let c = load_one("service_config", "trusted_keys", json!([])).unwrap();
    assert!(c.service.trusted_keys.is_empty());
    let err = load_one("service_config", "trusted_keys", json!([line, "nope"])).unwrap_err();
    assert!(
        err.contains("service_config.trusted_keys[1]: not a public key"),
        "{err}"
    );
    let err = load_one("service_config", "trusted_keys", json!(line)).unwrap_err();
    assert!(err.contains("trusted_keys: expected a list"), "{err}");
}
