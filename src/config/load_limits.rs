//! The config's bounds on what scripts may do: `script_limits` and the
//! requests' policy (`http_allow`, sizes, the byte budget), and the one rule
//! that ties them (a body never over a script's largest string).

use super::ranges;
use super::*;
use crate::script::ScriptLimits;

/// Lowers `request_max_bytes` to `max_string_size` (a longer body could not
/// become the callback's text), and says so.
pub(super) fn body_cap_within_strings(
    requests: &mut RequestPolicy,
    limits: &ScriptLimits,
) -> Option<String> {
    let strings = limits.max_string_size as u64;
    if strings == 0 || requests.max_body_bytes <= strings {
        return None;
    }
    let was = std::mem::replace(&mut requests.max_body_bytes, strings);
    Some(format!(
        "service_config.request_max_bytes ({was}) is above script_limits.max_string_size \
         ({strings}): response bodies are cut at {strings} bytes"
    ))
}

/// `http_allow` and the request limits.
pub(super) fn request_policy(s: &Section) -> Result<RequestPolicy, ConfigError> {
    let allow = match s.map.get("http_allow") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| match v.as_str().map(str::trim) {
                    Some(h) if !h.is_empty() && !h.contains('/') => Ok(h.to_string()),
                    _ => Err(s.err(
                        "http_allow",
                        format!("{v} is not a host (expected \"api.example.com\", \"host:port\" or \"*.example.com\")"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(s.err("http_allow", "expected a list of host names")),
    };
    let ms = |r: &ranges::Range, default: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(
            s.number(r)?.map_or(default, |n| n as u64),
        ))
    };
    let default_timeout = ms(
        &ranges::REQUEST_TIMEOUT_MS,
        ranges::DEFAULT_REQUEST_TIMEOUT_MS,
    )?;
    let max_timeout = ms(
        &ranges::REQUEST_TIMEOUT_MAX_MS,
        ranges::DEFAULT_REQUEST_TIMEOUT_MAX_MS,
    )?;
    if max_timeout < default_timeout {
        return Err(s.err(
            "request_timeout_max_ms",
            format!(
                "{} is below request_timeout_ms ({})",
                max_timeout.as_millis(),
                default_timeout.as_millis()
            ),
        ));
    }
    Ok(RequestPolicy {
        allow,
        default_timeout,
        max_timeout,
        max_body_bytes: s
            .number(&ranges::REQUEST_MAX_BYTES)?
            .map_or(ranges::DEFAULT_REQUEST_MAX_BYTES, |n| n as u64),
        budget_bytes: s
            .number(&ranges::REQUEST_BUDGET_BYTES)?
            .map_or(ranges::DEFAULT_REQUEST_BUDGET_BYTES, |n| n as u64),
        max_in_flight: s
            .number(&ranges::REQUESTS_IN_FLIGHT)?
            .map_or(ranges::DEFAULT_REQUESTS_IN_FLIGHT, |n| n as usize),
        admin: None,
    })
}

pub(super) fn script_limits(s: &Section) -> Result<ScriptLimits, ConfigError> {
    let keys = || ranges::LIMITS.iter().map(|r| r.key);
    if let Some(k) = s
        .map
        .keys()
        .find(|k| !keys().any(|known| known == k.as_str()))
    {
        let hint = crate::suggest::did_you_mean(k, keys());
        return Err(s.err(
            k,
            format!(
                "unknown limit{hint} (expected {})",
                keys().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut limits = ScriptLimits::default();
    // Every range fits a u64 and (64 bits or 32) a usize.
    let get = |r: &Range| s.number(r).map(|n| n.map(|n| n as u64));
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    if let Some(v) = get(&ranges::MAX_OPERATIONS)? {
        limits.max_operations = v;
    }
    if let Some(v) = get(&ranges::MAX_CALL_LEVELS)? {
        limits.max_call_levels = size(v);
    }
    if let Some(v) = get(&ranges::MAX_STRING_SIZE)? {
        limits.max_string_size = size(v);
    }
    if let Some(v) = get(&ranges::MAX_ARRAY_SIZE)? {
        limits.max_array_size = size(v);
    }
    if let Some(v) = get(&ranges::MAX_MAP_SIZE)? {
        limits.max_map_size = size(v);
    }
    if let Some(v) = get(&ranges::TIMEOUT_MS)? {
        limits.timeout = Duration::from_millis(v);
    }
    if let Some(v) = get(&ranges::MAX_OUTPUT_FRAMES)? {
        limits.max_output_frames = v;
    }
    if let Some(v) = get(&ranges::MAX_OUTPUT_BYTES)? {
        limits.max_output_bytes = v;
    }
    if let Some(v) = get(&ranges::COMPILE_TIMEOUT_MS)? {
        limits.compile_timeout = Duration::from_millis(v);
    }
    if let Some(v) = get(&ranges::TEST_TIMEOUT_MS)? {
        limits.test_timeout = Duration::from_millis(v);
    }
    Ok(limits)
}
