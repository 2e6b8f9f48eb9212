//! Several script threads sharing one `Stores`: embedded commits from
//! several threads serialise and each commits its own writes only, a thread
//! reads its own uncommitted writes while the others read the committed
//! state, and a store asked for by several threads at once is created once.
//! Threads meet at barriers; nothing waits on time.

use super::tests::config;
use super::*;
use crate::script::KeyValue;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::thread;

fn open(cfg: &StoreConfig) -> Arc<Stores> {
    let stores = Arc::new(Stores::open(cfg).expect("open"));
    stores.start("svc").expect("start");
    stores
}

/// Runs `f(i)` on `n` threads started together, and their results in order.
fn on_threads<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize, &Barrier) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || f(i, &barrier))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect()
}

fn entries(stores: &Arc<Stores>, name: &str) -> std::collections::BTreeMap<String, Value> {
    stores
        .view("ch", name)
        .expect("view")
        .entries()
        .expect("entries")
}

/// `s`, a loaded embedded store, and `u`, one that is not loaded.
fn loaded_and_not(dir: &std::path::Path) -> StoreConfig {
    config(dir, json!([{"name": "s"}, {"name": "u", "load": false}]))
}

#[test]
fn handlers_on_four_threads_commit_every_key_and_the_copy_matches_the_file() {
    let d = tempfile::tempdir().unwrap();
    let cfg = loaded_and_not(d.path());
    let stores = open(&cfg);
    let shared = stores.clone();
    on_threads(4, move |t, start| {
        start.wait();
        for handler in 0..100 {
            for k in 0..10 {
                let key = format!("t{t}-{}", handler * 10 + k);
                for name in ["s", "u"] {
                    let view = shared.view("ch", name).unwrap();
                    view.set(&key, json!({"t": t, "k": k})).unwrap();
                    assert!(view.contains(&key).unwrap(), "reads its own write");
                }
            }
            shared.commit().unwrap();
        }
    });
    let loaded_copy = entries(&stores, "s");
    drop(stores);
    let reopened = open(&cfg);
    for name in ["s", "u"] {
        let rows = entries(&reopened, name);
        assert_eq!(rows.len(), 4000, "{name}");
        for t in 0..4 {
            for i in 0..1000 {
                let key = format!("t{t}-{i}");
                assert_eq!(rows[&key], json!({"t": t, "k": i % 10}), "{name} {key}");
            }
        }
        assert_eq!(
            rows, loaded_copy,
            "the in-memory copy is what was committed"
        );
    }
}

#[test]
fn a_commit_leaves_other_threads_writes_pending_and_a_crash_loses_only_those() {
    let d = tempfile::tempdir().unwrap();
    let cfg = loaded_and_not(d.path());
    let stores = open(&cfg);
    let shared = stores.clone();
    // Thread 0 is B, which commits; thread 1 is A, which never does.
    on_threads(2, move |t, step| {
        let views = [
            shared.view("ch", "s").unwrap(),
            shared.view("ch", "u").unwrap(),
        ];
        if t == 0 {
            for v in &views {
                v.set("b1", json!(1)).unwrap();
            }
            step.wait(); // A now writes: it waits for B's commit.
            shared.commit().unwrap();
            step.wait(); // A has written.
            shared.commit().unwrap();
            for v in &views {
                assert_eq!(v.get("a").unwrap(), None, "A's write is not committed");
                assert_eq!(v.get("b1").unwrap(), Some(json!(1)));
            }
        } else {
            step.wait();
            for v in &views {
                v.set("a", json!("pending")).unwrap();
                v.remove("b1").unwrap();
                assert_eq!(v.get("b1").unwrap(), None, "A sees its own removal");
            }
            step.wait();
        }
    });
    // A's thread ended without committing: its writes are dropped with
    // the stores, as in a crash.
    drop(stores);
    let reopened = open(&cfg);
    for name in ["s", "u"] {
        assert_eq!(
            entries(&reopened, name),
            [("b1".to_string(), json!(1))].into()
        );
    }
}

#[test]
fn a_thread_reads_its_own_writes_and_others_see_them_once_committed() {
    let d = tempfile::tempdir().unwrap();
    let cfg = loaded_and_not(d.path());
    let stores = open(&cfg);
    for name in ["s", "u"] {
        let v = stores.view("ch", name).unwrap();
        v.set("old", json!(0)).unwrap();
        v.set("gone", json!(0)).unwrap();
    }
    stores.commit().unwrap();
    let shared = stores.clone();
    on_threads(2, move |t, step| {
        let views = [
            shared.view("ch", "s").unwrap(),
            shared.view("ch", "u").unwrap(),
        ];
        let committed = json!({"gone": 0, "old": 0});
        let written = json!({"new": [1, 2], "old": 1});
        let rows = |v: &view::StoreView| serde_json::to_value(v.entries().unwrap()).unwrap();
        if t == 0 {
            for v in &views {
                v.set("new", json!([1, 2])).unwrap();
                v.set("old", json!(1)).unwrap();
                assert_eq!(v.remove("gone").unwrap(), Some(json!(0)));
                assert_eq!(v.get("new").unwrap(), Some(json!([1, 2])));
                assert_eq!(v.keys().unwrap(), ["new", "old"]);
                assert_eq!(v.len().unwrap(), 2);
                assert!(!v.contains("gone").unwrap());
                assert_eq!(rows(v), written);
            }
            step.wait(); // the other thread reads
            step.wait();
            shared.commit().unwrap();
            step.wait(); // the other thread reads again
        } else {
            step.wait();
            for v in &views {
                assert_eq!(v.get("new").unwrap(), None);
                assert_eq!(v.get("old").unwrap(), Some(json!(0)));
                assert_eq!(v.keys().unwrap(), ["gone", "old"]);
                assert_eq!(v.len().unwrap(), 2);
                assert_eq!(rows(v), committed);
            }
            shared.commit().unwrap(); // commits nothing of the other's
            step.wait();
            step.wait();
            for v in &views {
                assert_eq!(rows(v), written);
                assert_eq!(v.len().unwrap(), 2);
            }
        }
    });
}

/// How many stores of that name the registry holds.
fn count(stores: &Stores, name: &str) -> usize {
    stores.names().iter().filter(|n| *n == name).count()
}

#[test]
fn an_implicit_embedded_store_asked_for_by_eight_threads_is_created_once() {
    let d = tempfile::tempdir().unwrap();
    // No db_config under `run`: the database itself is opened on first use.
    let cfg = config(d.path(), json!([]));
    let stores = open(&cfg);
    let shared = stores.clone();
    on_threads(8, move |t, start| {
        start.wait();
        let v = shared.view("ch", "fresh").unwrap();
        v.set(&format!("t{t}"), json!(t)).unwrap();
        shared.commit().unwrap();
    });
    assert_eq!(count(&stores, "fresh"), 1);
    assert_eq!(entries(&stores, "fresh").len(), 8);
    drop(stores);
    assert_eq!(entries(&open(&cfg), "fresh").len(), 8);
}

#[test]
fn memory_stores_written_by_eight_threads_keep_every_write() {
    let stores = open(&StoreConfig::in_memory());
    let shared = stores.clone();
    on_threads(8, move |t, start| {
        start.wait();
        let v = shared.view("ch", "mem").unwrap();
        for i in 0..500 {
            v.set(&format!("t{t}-{i}"), json!(i)).unwrap();
            v.set("last", json!(t)).unwrap();
            if i % 2 == 1 {
                assert_eq!(v.remove(&format!("t{t}-{i}")).unwrap(), Some(json!(i)));
            }
        }
        shared.commit().unwrap();
    });
    assert_eq!(count(&stores, "mem"), 1);
    let rows = entries(&stores, "mem");
    assert_eq!(rows.len(), 8 * 250 + 1);
    assert_eq!(stores.view("ch", "mem").unwrap().len().unwrap(), rows.len());
    for t in 0..8 {
        for i in (0..500).step_by(2) {
            assert_eq!(rows[&format!("t{t}-{i}")], json!(i));
        }
    }
}

#[test]
fn start_runs_once_whichever_threads_call_it() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), json!([{"name": "s", "clear": true}]));
    let stores = open(&cfg);
    stores.view("ch", "s").unwrap().set("k", json!(1)).unwrap();
    stores.commit().unwrap();
    let shared = stores.clone();
    on_threads(4, move |_, start| {
        start.wait();
        shared.start("svc").unwrap();
    });
    assert_eq!(entries(&stores, "s").len(), 1, "not cleared again");
}
