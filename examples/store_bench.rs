//! Store get/set from Rhai, per backend: the cost a script pays for
//! `s[key] = value` and `s[key]`, and for a handler that writes once and is
//! then committed (the executor commits after every handler).
//!
//! `cargo run --release --example store_bench [-- N]`
//!
//! Redis: `MOOBIUS_TEST_REDIS_URL`, else a `redis-server` started on a free
//! loopback port for the run (skipped when there is none). Not a test:
//! figures depend on the machine and its disk.

#[path = "support/redis_server.rs"]
mod redis_server;
use moobius_host::protocol::IdList;
use moobius_host::script::{
    Character, CompileOptions, HostApi, HostCallError, HostResult, KeyValue, ServiceScript,
};
use moobius_host::store::{parse_db_config, Stores};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Host(Arc<Stores>);

impl HostApi for Host {
    fn member_ids(&self, _: &str) -> HostResult<Vec<String>> {
        Ok(vec![])
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> HostResult<()> {
        Ok(())
    }
    fn create_agent(&self, _: &moobius_host::script::AgentProfile) -> HostResult<Character> {
        Err(HostCallError::Refused("none".into()))
    }
    fn fetch_agents(&self) -> HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn fetch_profiles(&self, _: Vec<String>) -> HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn store(&self, channel_id: &str, name: &str) -> HostResult<Rc<dyn KeyValue>> {
        Ok(Rc::new(self.0.view(channel_id, name)?))
    }
}

const SCRIPT: &str = r#"
fn on_channel_init(n) { let s = store("ch", "bench"); for i in 0..n { s["k" + i] = #{ n: i, tag: "x" }; } }
fn on_channel_checkin(n) { let s = store("ch", "bench"); let t = 0; for i in 0..n { t += s["k" + i].n; } }
fn on_join(i) { let s = store("ch", "bench"); s["one"] = i; }
fn on_refresh(n) { for i in 0..n { } }
"#;

fn per_op(d: Duration, n: usize) -> String {
    format!("{:>8.2} us", d.as_secs_f64() * 1e6 / n as f64)
}

fn bench(
    label: &str,
    stores: serde_json::Value,
    n: usize,
    handlers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cfg = parse_db_config(
        &dir.path().join("config/config.json"),
        dir.path(),
        Some(&stores),
    )?;
    let stores = Arc::new(Stores::open(&cfg)?);
    stores.start(&uuid::Uuid::new_v4().to_string())?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    let main = dir.path().join("scripts/service.rhai");
    std::fs::write(&main, SCRIPT)?;
    let mut s = ServiceScript::load(
        &CompileOptions::for_main(&main),
        Rc::new(Host(stores.clone())),
    )?;
    let n_int = n as i64;

    let t = Instant::now();
    s.call("on_refresh", vec![n_int.into()])?;
    let empty = t.elapsed();
    let t = Instant::now();
    s.call("on_channel_init", vec![n_int.into()])?;
    stores.commit()?;
    let set = t.elapsed().saturating_sub(empty);
    let t = Instant::now();
    s.call("on_channel_checkin", vec![n_int.into()])?;
    let get = t.elapsed().saturating_sub(empty);
    let t = Instant::now();
    for i in 0..handlers {
        s.call("on_join", vec![(i as i64).into()])?;
        stores.commit()?;
    }
    let one = t.elapsed();
    println!(
        "{label:<28} set {} | get {} | handler with 1 set + commit {}",
        per_op(set, n),
        per_op(get, n),
        per_op(one, handlers)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    println!("{n} sets then {n} gets of a small map, in one handler each; 200 one-write handlers");
    bench(
        "memory",
        serde_json::json!([{"name": "bench", "implementation": "memory"}]),
        n,
        200,
    )?;
    bench(
        "embedded (load: true)",
        serde_json::json!([{"name": "bench"}]),
        n,
        200,
    )?;
    bench(
        "embedded (load: false)",
        serde_json::json!([{"name": "bench", "load": false}]),
        n,
        200,
    )?;

    let mut server = None;
    let url = match std::env::var("MOOBIUS_TEST_REDIS_URL") {
        Ok(u) => u,
        Err(_) => match redis_server::RedisServer::start() {
            Ok(r) => {
                let url = r.url.clone();
                server = Some(r);
                url
            }
            Err(e) => {
                println!("redis: skipped ({e:#})");
                return Ok(());
            }
        },
    };
    let result = bench(
        "redis (loopback)",
        serde_json::json!([{"name": "bench", "implementation": "redis", "redis_url": url}]),
        n,
        200,
    );
    drop(server);
    result
}
