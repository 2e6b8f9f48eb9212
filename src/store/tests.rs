//! The stores through the script API, without a platform: what a script
//! writes is what it reads back, survives reopening the database, and the
//! Rhai surface (indexing, chained updates, errors) behaves as documented.

use super::*;
use crate::protocol::IdList;
use crate::script::{Character, CompileOptions, HostApi, KeyValue, ServiceScript};
use std::rc::Rc;
use std::sync::Arc;

struct StoreHost(Arc<Stores>);

impl HostApi for StoreHost {
    fn member_ids(&self, _: &str) -> crate::script::HostResult<Vec<String>> {
        Ok(vec![])
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> crate::script::HostResult<()> {
        Ok(())
    }
    fn create_agent(
        &self,
        _: &crate::script::AgentProfile,
    ) -> crate::script::HostResult<Character> {
        Err(crate::script::HostCallError::Refused("no agents".into()))
    }
    fn fetch_agents(&self) -> crate::script::HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn fetch_profiles(&self, _: Vec<String>) -> crate::script::HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn store(&self, channel_id: &str, name: &str) -> crate::script::HostResult<Rc<dyn KeyValue>> {
        Ok(Rc::new(self.0.view(channel_id, name)?))
    }
}

pub(super) fn config(dir: &std::path::Path, stores: serde_json::Value) -> StoreConfig {
    parse_db_config(&dir.join("config/config.json"), dir, Some(&stores)).unwrap()
}

fn script(dir: &std::path::Path, stores: Arc<Stores>, text: &str) -> ServiceScript {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    let main = dir.join("scripts/service.rhai");
    std::fs::write(&main, text).unwrap();
    let opts = CompileOptions::for_main(&main).with_display_base(dir);
    ServiceScript::load(&opts, Rc::new(StoreHost(stores))).unwrap()
}

const SCRIPT: &str = r#"
fn on_channel_init(channel_id) {
    let roles = store(channel_id, "roles");
    roles["alice"] = "vip";
    roles.set("bob", #{ mode: "quiet", seen: [1, 2] });
    roles["bob"].seen.push(3);
    roles["bob"].mode = "default";
    roles[7] = 1.5;
    roles["gone"] = true;
    roles.remove("gone");
    let g = store("global", "scores");
    g["total"] = (g["total"] ?? 0) + 1;
}
fn on_channel_checkin(channel_id) {
    let roles = store(channel_id, "roles");
    this.seen = #{
        keys: roles.keys(), len: roles.len(), alice: roles["alice"], bob: roles.get("bob"),
        seven: roles[7], missing: roles["nobody"], has: roles.contains("alice"),
        total: store("global", "scores")["total"], other: store("other-channel", "roles").len(),
    };
}
fn on_start() { store("ch", "nope"); }
"#;

fn run(s: &mut ServiceScript, f: &str, args: Vec<rhai::Dynamic>) {
    s.call(f, args).unwrap_or_else(|d| panic!("{f}: {d}"));
}

fn seen(s: &ServiceScript) -> serde_json::Value {
    let m = s.this().read_lock::<rhai::Map>().unwrap();
    rhai::serde::from_dynamic(m.get("seen").unwrap()).unwrap()
}

#[test]
fn embedded_writes_survive_reopening_and_chained_updates_are_written_back() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        serde_json::json!([{"name": "roles"}, {"name": "scores", "load": false}]),
    );
    for round in 1..=2 {
        let stores = Arc::new(Stores::open(&cfg).unwrap());
        stores.start("svc").unwrap();
        let mut s = script(d.path(), stores.clone(), SCRIPT);
        run(&mut s, "on_channel_init", vec!["ch".into()]);
        stores.commit().unwrap();
        run(&mut s, "on_channel_checkin", vec!["ch".into()]);
        assert_eq!(
            seen(&s),
            serde_json::json!({
                "keys": ["7", "alice", "bob"], "len": 3, "alice": "vip",
                "bob": {"mode": "default", "seen": [1, 2, 3]}, "seven": 1.5,
                "missing": null, "has": true, "total": round, "other": 0
            })
        );
        // Under `run` a store db_config does not name is an embedded one.
        assert!(s.call("on_start", vec![]).is_ok());
    }
    assert!(cfg.embedded_file().is_file());
    // Without that default (a config built some other way), it is an error.
    let strict = crate::store::StoreConfig {
        implicit_embedded: false,
        ..cfg.clone()
    };
    let stores = Arc::new(Stores::open(&strict).unwrap());
    stores.start("svc").unwrap();
    let mut s = script(d.path(), stores, SCRIPT);
    let err = s.call("on_start", vec![]).unwrap_err().to_string();
    assert!(err.contains("store \"nope\" is not configured"), "{err}");
}

#[test]
fn clear_empties_at_start_and_memory_is_not_kept() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        serde_json::json!([{"name": "roles"}, {"name": "scores", "implementation": "memory"}]),
    );
    let stores = Arc::new(Stores::open(&cfg).unwrap());
    stores.start("svc").unwrap();
    let mut s = script(d.path(), stores.clone(), SCRIPT);
    run(&mut s, "on_channel_init", vec!["ch".into()]);
    stores.commit().unwrap();
    drop(s);
    drop(stores);
    let cfg = config(
        d.path(),
        serde_json::json!([{"name": "roles", "clear": true, "load": false}, {"name": "scores", "implementation": "memory"}]),
    );
    let stores = Arc::new(Stores::open(&cfg).unwrap());
    stores.start("svc").unwrap();
    let roles = stores.view("ch", "roles").unwrap();
    assert_eq!(roles.len().unwrap(), 0);
    assert_eq!(stores.view("global", "scores").unwrap().len().unwrap(), 0);
}

#[test]
fn values_that_are_not_data_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let stores = Arc::new(Stores::open(&StoreConfig::in_memory()).unwrap());
    let mut s = script(
        d.path(),
        stores,
        r#"fn on_start() { let s = store("ch", "anything"); s["k"] = || 1; }
           fn on_reload() { let s = store("ch", "anything"); s[[1]] = 1; }"#,
    );
    let e = s.call("on_start", vec![]).unwrap_err().to_string();
    assert!(e.contains("store set: value of \"k\""), "{e}");
    let e = s.call("on_reload", vec![]).unwrap_err().to_string();
    assert!(e.contains("the key is array"), "{e}");
}

/// A store file that is not a database (truncated to 0 bytes, or anything
/// else) is not taken for an empty store: `Stores::open`, as `run` calls it,
/// refuses it naming the file and the way out, and leaves it untouched.
/// With `clear` it is replaced by an empty database.
#[test]
fn a_store_file_that_is_not_a_database_is_refused_unless_cleared() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        serde_json::json!([{"name": "roles"}, {"name": "tmp", "implementation": "memory"}]),
    );
    let file = cfg.embedded_file();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let cases: [(&[u8], &str); 2] = [
        (b"", "it is empty (0 bytes)"),
        (b"not a redb file", "it is not a redb database"),
    ];
    for (content, why) in cases {
        std::fs::write(&file, content).unwrap();
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        let e = Stores::open(&cfg).err().expect("refused").to_string();
        assert!(
            e.contains(&format!("{}: {why}", file.display()))
                && e.contains("delete it")
                && e.contains("\"clear\": true"),
            "{e}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), content, "left as it was");
        let after = std::fs::metadata(&file).unwrap().modified().unwrap();
        assert_eq!(after, before);
    }
    let cleared = config(
        d.path(),
        serde_json::json!([{"name": "roles", "clear": true}]),
    );
    let stores = Arc::new(Stores::open(&cleared).unwrap());
    stores.start("svc").unwrap();
    let roles = stores.view("ch", "roles").unwrap();
    assert_eq!(roles.len().unwrap(), 0);
    drop(roles);
    drop(stores);
    assert!(std::fs::read(&file).unwrap().starts_with(b"redb"));
    // Now a database: opened without `clear` too.
    Stores::open(&cfg).unwrap();
}

#[test]
fn a_redis_password_never_reaches_an_error() {
    let d = tempfile::tempdir().unwrap();
    // Nothing listens on port 1 of loopback: the connection is refused.
    let cfg = config(
        d.path(),
        serde_json::json!([{"name": "s", "implementation": "redis", "redis_url": "redis://user:hunter2@127.0.0.1:1/0"}]),
    );
    let err = Stores::open(&cfg).err().expect("nothing listens there");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("redis://127.0.0.1:1/0"), "{text}");

    let bad = parse_db_config(
        &d.path().join("config/config.json"),
        d.path(),
        Some(&serde_json::json!([{"name": "s", "implementation": "redis", "redis_url": "redis://:hunter2@[::1"}])),
    )
    .expect_err("not a URL");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
}
