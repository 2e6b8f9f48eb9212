//! Persisting a service id created at start-up, where the SDK would put it,
//! so that the next start reuses the service instead of creating another.

use super::{ConfigError, ServiceIdTarget};
use serde_json::Value;

/// Writes `service_id` into the target file (2-space indented JSON, replaced
/// atomically so a crash never leaves a truncated config, keeping the file's
/// mode and owner since it may hold a password). `Ok(false)` when the target
/// is nowhere.
pub fn write_service_id(target: &ServiceIdTarget, service_id: &str) -> Result<bool, ConfigError> {
    let (path, nested) = match target {
        ServiceIdTarget::TopLevel(p) => (p.as_path(), false),
        ServiceIdTarget::Nested(p) => (p.as_path(), true),
        ServiceIdTarget::Nowhere => return Ok(false),
    };
    let key = if nested {
        "service_config.service_id"
    } else {
        "service_id"
    };
    let err = |reason: String| ConfigError::new(path, key, reason);
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(format!("cannot read to save the new service id: {e}")))?;
    let mut root: Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let obj = if nested {
        root.get_mut("service_config")
            .and_then(Value::as_object_mut)
    } else {
        root.as_object_mut()
    }
    .ok_or_else(|| err("expected a JSON object".into()))?;
    obj.insert("service_id".into(), Value::String(service_id.to_string()));
    let mut out = serde_json::to_string_pretty(&root).map_err(|e| err(e.to_string()))?;
    out.push('\n');
    // The file was just read, so it exists; were it gone, keep the new one private.
    crate::fsutil::replace_file(path, out.as_bytes(), 0o600)
        .map_err(|e| err(format!("cannot save the new service id: {e}")))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_top_level_and_nested() {
        let d = tempfile::tempdir().unwrap();
        let svc = d.path().join("service.json");
        std::fs::write(&svc, r#"{"service_id":"","channels":["c"]}"#).unwrap();
        assert!(write_service_id(&ServiceIdTarget::TopLevel(svc.clone()), "s-1").unwrap());
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&svc).unwrap()).unwrap();
        assert_eq!(v["service_id"], "s-1");
        assert_eq!(v["channels"][0], "c");

        let cfg = d.path().join("config.json");
        std::fs::write(&cfg, r#"{"service_config":{"service_id":""}}"#).unwrap();
        write_service_id(&ServiceIdTarget::Nested(cfg.clone()), "s-2").unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains("\n    \"service_id\": \"s-2\""), "{text}");
        assert!(!write_service_id(&ServiceIdTarget::Nowhere, "x").unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_private_config_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o640] {
            let cfg = d.path().join(format!("config-{mode:o}.json"));
            std::fs::write(
                &cfg,
                r#"{"account_config":{"email":"a@b.c","password":"pw"},"service_config":{"service_id":""}}"#,
            )
            .unwrap();
            std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(mode)).unwrap();
            write_service_id(&ServiceIdTarget::Nested(cfg.clone()), "s-3").unwrap();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
            assert_eq!(v["service_config"]["service_id"], "s-3");
            assert_eq!(v["account_config"]["password"], "pw");
            let now = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
            assert_eq!(now, mode, "mode {now:o} after writing the service id");
        }
    }
}
