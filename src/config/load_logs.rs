//! `log_config`: levels, files, format and rotation, read as the Python
//! SDK reads them (`log_retention` included).

use super::Section;
use crate::config::{ConfigError, LogConfig, LogFormat, LogRotation};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(super) fn log_config(s: &Section, base_dir: &Path) -> Result<LogConfig, ConfigError> {
    let defaults = LogConfig::default();
    let level = |key: &str, default: &str| -> Result<String, ConfigError> {
        let v = s.string(key)?.unwrap_or_else(|| default.to_string());
        if crate::logging::parse_level(&v).is_none() {
            return Err(s.err(
                key,
                format!("unknown level {v:?} (TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL)"),
            ));
        }
        Ok(v.trim().to_uppercase())
    };
    let path = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
        Ok(s.string(key)?
            .filter(|p| !p.trim().is_empty())
            .map(|p| base_dir.join(p.trim())))
    };
    let log_file = path("log_file")?;
    let error_log_file = match path("error_log_file")? {
        Some(p) => Some(p),
        None => log_file.clone(),
    };
    let format = match s.string("log_format")? {
        None => LogFormat::Human,
        Some(f) => f.parse().map_err(|e: String| s.err("log_format", e))?,
    };
    Ok(LogConfig {
        log_level: level("log_level", &defaults.log_level)?,
        terminal_log_level: level("terminal_log_level", &defaults.terminal_log_level)?,
        error_log_level: level("error_log_level", &defaults.error_log_level)?,
        log_file,
        error_log_file,
        format,
        rotation: log_rotation(s)?,
    })
}

/// `log_retention`, read as the SDK reads it.
fn log_rotation(s: &Section) -> Result<LogRotation, ConfigError> {
    let wrong = |why: String| s.err("log_retention", why);
    match s.map.get("log_retention") {
        None | Some(Value::Null) => Ok(LogRotation::default()),
        // A string is the retention alone: the SDK then never rotates.
        Some(Value::String(_)) => Ok(LogRotation {
            every_secs: None,
            keep: 1,
        }),
        Some(Value::Object(o)) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::trim);
            let every = match text("rotation") {
                None => None,
                Some(r) => Some(
                    period_secs(r)
                        .filter(|p| [3600, 86_400, 604_800].contains(p))
                        .ok_or_else(|| {
                            wrong(format!(
                                "rotation {r:?}: expected \"1 day\", \"1 hour\" or \"1 week\""
                            ))
                        })?,
                ),
            };
            let keep = match (text("retention"), every) {
                (Some(r), Some(every)) => {
                    let secs = period_secs(r).ok_or_else(|| {
                        wrong(format!(
                            "retention {r:?}: expected a duration such as \"7 days\""
                        ))
                    })?;
                    usize::try_from(secs.div_ceil(every))
                        .unwrap_or(usize::MAX)
                        .max(1)
                }
                _ => LogRotation::default().keep,
            };
            Ok(LogRotation {
                every_secs: every,
                keep,
            })
        }
        Some(_) => Err(wrong("expected a string or an object".into())),
    }
}

/// `"7 days"`, `"1 hour"`, `"30 minutes"`, `"daily"`... in seconds.
fn period_secs(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "daily" => return Some(86_400),
        "hourly" => return Some(3600),
        _ => {}
    }
    let mut parts = t.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("days");
    let per = match unit.trim_end_matches('s') {
        "minute" | "min" => 60,
        "hour" | "h" => 3600,
        "day" | "d" => 86_400,
        "week" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(per)
}
