//! The Redis store against a real Redis server and the real sandbox: two
//! host processes, each bound to its own channel, share the service-wide
//! `store("global", "scores")`; a restarted host finds its data again under
//! `moobius:<service_id>:<channel>:<store>`. Skipped, with the reason
//! printed, only when no Redis server can be started.

mod common;
mod store_support;
use common::*;
use serde_json::json;
use store_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_share_a_service_wide_store() {
    let Some(redis) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let one = c.create_channel("one");
    let two = c.create_channel("two");
    c.create_user("alice");
    c.create_user("bob");
    c.act("alice", &one, "join").await.unwrap();
    c.act("bob", &two, "join").await.unwrap();
    // The sandbox, like the platform, gives a service id one connection, so
    // the second host is another service sharing the first's namespace.
    let namespace = uuid::Uuid::new_v4().to_string();
    let stores = json!([
        {"name": "log", "implementation": "redis", "redis_url": redis.url, "namespace": namespace},
        {"name": "scores", "implementation": "redis", "redis_url": redis.url, "namespace": namespace}
    ]);
    let a = ServiceDir::with_script(&sandbox, &[&one], SCRIPT);
    let b = ServiceDir::with_script(&sandbox, &[&two], SCRIPT);
    a.set_config_key("db_config", stores.clone());
    b.set_config_key("db_config", stores);
    let _host_a = a.run_host();
    let _host_b = b.run_host();
    wait_served(&c, &one).await;
    wait_served(&c, &two).await;

    assert!(send(&c, "alice", &one, "add").await);
    wait_text(&c, "alice", &one, "n=1").await;
    assert!(send(&c, "bob", &two, "add").await);
    wait_text(&c, "bob", &two, "n=2").await;
    assert!(send(&c, "alice", &one, "add").await);
    wait_text(&c, "alice", &one, "n=3").await;
    // Per-channel stores stay apart.
    assert!(send(&c, "alice", &one, "w-one").await);
    wait_text(&c, "alice", &one, "ok w-one").await;
    assert!(send(&c, "bob", &two, "dump").await);
    assert_eq!(wait_text(&c, "bob", &two, "dump").await, "dump");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_data_outlives_the_host_under_the_service_id() {
    let Some(redis) = redis() else { return };
    let sandbox = start_sandbox().await;
    let c = sandbox.control();
    let ch = lobby(&sandbox, &["alice"]).await;
    let svc = ServiceDir::with_script(&sandbox, &[&ch], SCRIPT);
    svc.set_config_key(
        "db_config",
        json!([
            {"name": "log", "implementation": "redis", "redis_url": redis.url},
            {"name": "scores", "implementation": "redis", "redis_url": redis.url}
        ]),
    );
    let mut host = svc.run_host();
    wait_served(&c, &ch).await;
    assert!(send(&c, "alice", &ch, "w1").await);
    assert!(send(&c, "alice", &ch, "add").await);
    wait_text(&c, "alice", &ch, "n=1").await;
    host.kill();

    let sid = svc.service_id();
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let n: String = redis::cmd("HGET")
        .arg(format!("moobius:{sid}:global:scores"))
        .arg("n")
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, "1");
    let logged: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("moobius:{sid}:{ch}:log"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(logged, ["w1"]);

    let _host = svc.run_host();
    wait_served(&c, &ch).await;
    assert!(send(&c, "alice", &ch, "add").await);
    assert!(send(&c, "alice", &ch, "dump").await);
    assert_eq!(wait_text(&c, "alice", &ch, "dump").await, "dump w1");
    assert_eq!(wait_text(&c, "alice", &ch, "n=").await, "n=2");
    sandbox.shutdown().await;
}

/// Script threads share one `Stores`: four threads write and read one Redis
/// store at the same time (each on a connection of its own), and every
/// write is there for all of them.
#[test]
fn script_threads_share_a_redis_store() {
    use moobius_host::script::KeyValue;
    use std::sync::{Arc, Barrier};
    let Some(redis) = redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = moobius_host::store::parse_db_config(
        &dir.path().join("config/config.json"),
        dir.path(),
        Some(&json!([{"name": "s", "implementation": "redis", "redis_url": redis.url}])),
    )
    .unwrap();
    let stores = Arc::new(moobius_host::store::Stores::open(&cfg).unwrap());
    let service = uuid::Uuid::new_v4().to_string();
    stores.start(&service).unwrap();
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (stores, start) = (stores.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let s = stores.view("global", "s").unwrap();
                for i in 0..200 {
                    let key = format!("t{t}-{i}");
                    s.set(&key, json!({"t": t, "i": i})).unwrap();
                    assert_eq!(s.get(&key).unwrap(), Some(json!({"t": t, "i": i})));
                }
                stores.commit().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = stores.view("global", "s").unwrap();
    assert_eq!(s.len().unwrap(), 800);
    assert_eq!(s.get("t3-199").unwrap(), Some(json!({"t": 3, "i": 199})));
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("DEL")
        .arg(format!("moobius:{service}:global:s"))
        .query::<()>(&mut conn)
        .unwrap();
}
