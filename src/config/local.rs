//! The part of a service's config that decides what its scripts may do,
//! applied by `test` and `dev` exactly as `run` applies it: `http_allow`
//! and the request limits, `script_limits`, `script_threads`,
//! `checkin_interval` and the stores `db_config` names. A test that passes
//! must not pass because the config it ran under was laxer than `run`'s.
//!
//! The rest is `run`'s alone: the account, the platform's URLs, the
//! channels and the service id come from the local sandbox, and logging
//! from the command's own flags. The config is read without credentials
//! (none are needed against a sandbox).

use super::load::Overrides;
use super::{Config, ConfigError, Secret};
use crate::store::{Implementation, StoreConfig};
use std::path::Path;

/// A service's `config/config.json`, as `test` and `dev` apply it (nothing
/// when the service has none).
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    loaded: Option<Config>,
}

impl ServiceSettings {
    /// Reads `dir/config/config.json` when there is one; a config that
    /// does not load is the same error as under `run`.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let file = dir.join("config").join("config.json");
        if !file.exists() {
            return Ok(ServiceSettings::default());
        }
        // Credentials are `run`'s: stand-ins, so a config without them loads.
        let stand_ins = Overrides {
            email: Some("local@sandbox.local".into()),
            password: Some(Secret::new(String::new())),
        };
        Ok(ServiceSettings {
            loaded: Some(super::load(&file, dir, &stand_ins)?),
        })
    }

    /// The per-handler limits (the defaults without a config).
    pub fn script_limits(&self) -> crate::script::ScriptLimits {
        self.loaded
            .as_ref()
            .map(|c| c.script_limits.clone())
            .unwrap_or_default()
    }

    /// What the config warns about (unknown keys...).
    pub fn warnings(&self) -> &[String] {
        self.loaded.as_ref().map_or(&[], |c| &c.warnings)
    }

    /// Applies the settings to `config` (a [`Config::local`]). With
    /// `data_dir`, the stores are `run`'s, durable in that directory (a
    /// Redis store too: a test never writes to a shared server); without,
    /// every store stays in this process's memory (`dev`).
    pub fn apply(&self, config: &mut Config, data_dir: Option<&Path>) {
        let Some(loaded) = &self.loaded else {
            if let Some(dir) = data_dir {
                config.db_config = durable_in(dir, Vec::new());
            }
            return;
        };
        let service = &mut config.service;
        service.requests = loaded.service.requests.clone();
        service.script_threads = loaded.service.script_threads;
        service.checkin_interval = loaded.service.checkin_interval;
        config.script_limits = loaded.script_limits.clone();
        if let Some(dir) = data_dir {
            let mut stores = loaded.db_config.stores.clone();
            for store in &mut stores {
                if matches!(store.implementation, Implementation::Redis { .. }) {
                    store.implementation = Implementation::Embedded;
                }
            }
            config.db_config = durable_in(dir, stores);
        }
    }
}

/// `run`'s stores, embedded ones in `dir`: a name `db_config` does not list
/// is an embedded store.
fn durable_in(dir: &Path, stores: Vec<crate::store::StoreSpec>) -> StoreConfig {
    StoreConfig {
        stores,
        data_dir: dir.to_path_buf(),
        implicit_memory: false,
        implicit_embedded: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_without_credentials_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/config.json"),
            r#"{"service_config": {"http_allow": ["127.0.0.1:8765"], "script_threads": 2},
                "script_limits": {"timeout_ms": 77},
                "db_config": [{"name": "votes", "implementation": "memory"},
                              {"name": "shared", "implementation": "redis"}]}"#,
        )
        .unwrap();
        let settings = ServiceSettings::load(dir.path()).unwrap();
        let mut config = Config::local("http://h/", "ws://h/", vec![], "e@x");
        settings.apply(&mut config, Some(&dir.path().join("data")));
        assert_eq!(
            config.service.requests.allow,
            Some(vec!["127.0.0.1:8765".to_string()])
        );
        assert_eq!(config.service.script_threads, 2);
        assert_eq!(
            config.script_limits.timeout,
            std::time::Duration::from_millis(77)
        );
        let kinds: Vec<_> = config
            .db_config
            .stores
            .iter()
            .map(|s| (s.name.as_str(), s.implementation.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("votes", Implementation::Memory),
                ("shared", Implementation::Embedded)
            ]
        );
        assert!(config.db_config.implicit_embedded);
        assert_eq!(config.account.email, "e@x", "the sandbox's account stays");
    }

    #[test]
    fn no_config_changes_nothing_but_a_broken_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ServiceSettings::load(dir.path()).unwrap();
        let mut config = Config::local("http://h/", "ws://h/", vec![], "e@x");
        settings.apply(&mut config, None);
        assert_eq!(config.service.requests.allow, None);
        assert!(config.db_config.implicit_memory);
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/config.json"),
            r#"{"script_limits": {"timeout_ms": -1}}"#,
        )
        .unwrap();
        let err = ServiceSettings::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("timeout_ms"), "{err}");
    }
}
