//! The deploy API on real script threads (no platform: the versions are
//! observed through spells): prepare without swapping, a canary commit on
//! one thread, a revert, a commit everywhere, and the vetoes.

use crate::deploy::VersionTag;
use crate::host::events::{HostEvent, NewSource};
use crate::host::reload::stage::{StepError, Versions};
use crate::host::threads::executor::{Executor, ExecutorDeps, ThreadDeps};
use crate::script::CompileOptions;
use std::path::Path;
use std::sync::Arc;

/// A version that says which it is and counts its `on_reload` calls.
fn service(name: &str, on_reload: &str) -> String {
    format!(
        r#"
fn on_reload() {{ {on_reload} if "loads" in this {{ this.loads += 1; }} else {{ this.loads = 1; }} }}
fn on_spell(value) {{ "{name}:" + if "loads" in this {{ this.loads }} else {{ 0 }} }}
"#
    )
}

fn write_version(root: &Path, name: &str, text: &str) -> NewSource {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    let main = dir.join("scripts").join("service.rhai");
    std::fs::write(&main, text).unwrap();
    NewSource {
        main,
        base_dir: dir,
    }
}

async fn start(threads: usize, first: &NewSource) -> Executor {
    let http = Arc::new(
        crate::platform::HttpApi::new(
            "http://127.0.0.1:9/",
            "deploy@example.com",
            crate::config::Secret::new("unused".to_string()),
        )
        .unwrap(),
    );
    let uploader = Arc::new(crate::platform::Uploader::new(
        http.clone(),
        first.base_dir.clone(),
    ));
    let (outbox, outbox_rx) = crate::host::outbox::OutboxSender::channel();
    // Nothing is sent in these tests; the receiver only has to live.
    std::mem::forget(outbox_rx);
    let deps = ExecutorDeps {
        base: ThreadDeps {
            outbox,
            http,
            uploader,
            rt: tokio::runtime::Handle::current(),
            progress: None,
            requests: crate::config::RequestPolicy::default(),
            request_budget: crate::host::callbacks::response_body::Budget::new(1 << 20),
            responder: None,
            virtual_clock: None,
            mode: crate::config::Mode::Service,
        },
        status: tokio::sync::watch::channel(Default::default()).0,
        stores: Arc::new(
            crate::store::Stores::open(&crate::store::StoreConfig::in_memory()).unwrap(),
        ),
        threads,
        data_dir: first.base_dir.join("data"),
        agent_lock: None,
    };
    let opts = CompileOptions::for_main(&first.main).with_display_base(&first.base_dir);
    Executor::start(opts, deps).await.unwrap()
}

/// Each thread's answer to a spell: its version's name and `loads`.
async fn answers(executor: &Executor) -> Vec<String> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    executor.send(HostEvent::Spell {
        value: serde_json::json!({}),
        reply,
    });
    let answer = rx.await.unwrap().unwrap();
    let list = match answer {
        serde_json::Value::Array(list) => list,
        one => vec![one],
    };
    list.iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

fn tag(id: &str) -> VersionTag {
    VersionTag {
        deploy_id: id.into(),
        version: id.into(),
        sha256: format!("{id}-sha"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_commit_a_canary_revert_and_commit_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let v1 = write_version(root.path(), "v1", &service("v1", ""));
    let v2 = write_version(root.path(), "v2", &service("v2", ""));
    let executor = start(2, &v1).await;
    let versions: Versions = executor.sender().versions();
    assert_eq!(versions.threads(), 2);
    assert_eq!(answers(&executor).await, ["v1:0", "v1:0"]);

    // Prepared: nothing swapped, the dry run's `on_reload` touched no `this`.
    versions.prepare(v2.clone(), tag("d2"), None).await.unwrap();
    assert_eq!(answers(&executor).await, ["v1:0", "v1:0"]);
    assert_eq!(
        versions.tags(),
        [VersionTag::started(), VersionTag::started()]
    );

    // A canary on thread 1 only: it adopts `this` and runs on_reload.
    versions.commit(&[1]).await.unwrap();
    assert_eq!(answers(&executor).await, ["v1:0", "v2:1"]);
    assert_eq!(versions.tags()[1], tag("d2"));
    assert_eq!(versions.tags()[0], VersionTag::started());

    // Back: thread 1 runs v1 again, with the state as v2 left it.
    versions.revert(&[1]).await.unwrap();
    assert_eq!(answers(&executor).await, ["v1:0", "v1:2"]);
    assert_eq!(versions.tags()[1], VersionTag::started());
    // Nothing prepared any more: a commit is refused on every thread.
    let refused = versions.commit(&[0, 1]).await;
    assert!(
        matches!(&refused, Err(StepError::Thread { error, .. }) if error.contains("no prepared")),
        "{refused:?}"
    );
    assert_eq!(answers(&executor).await, ["v1:0", "v1:2"]);

    // Everywhere, then finished: no way back but another deploy.
    versions.prepare(v2, tag("d3"), None).await.unwrap();
    versions.commit(&[0, 1]).await.unwrap();
    assert_eq!(answers(&executor).await, ["v2:1", "v2:3"]);
    versions.finish().await.unwrap();
    let refused = versions.revert(&[0]).await;
    assert!(
        matches!(&refused, Err(StepError::Thread { error, .. }) if error.contains("no previous")),
        "{refused:?}"
    );
    // Every call counted (the spells), none failed.
    let stats = versions.stats();
    assert!(
        stats.iter().all(|s| s.events >= 5 && s.errors == 0),
        "{stats:?}"
    );
    executor.stop(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_error_or_a_throwing_on_reload_is_a_veto_that_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let v1 = write_version(root.path(), "v1", &service("v1", ""));
    let executor = start(2, &v1).await;
    let versions = executor.sender().versions();

    let broken = write_version(root.path(), "broken", "fn on_spell(v) { v +* }");
    let veto = versions.prepare(broken, tag("b"), None).await;
    let Err(StepError::Thread { thread, error }) = veto else {
        panic!("{veto:?}")
    };
    assert_eq!(thread, 0);
    assert!(error.contains("scripts/service.rhai:1"), "{error}");

    let throws = write_version(
        root.path(),
        "throws",
        &service("v3", r#"if this.loads == () { throw "cannot migrate"; }"#),
    );
    let veto = versions.prepare(throws, tag("t"), None).await;
    let Err(StepError::Thread { error, .. }) = veto else {
        panic!("{veto:?}")
    };
    assert!(
        error.contains("on_reload") && error.contains("cannot migrate"),
        "{error}"
    );
    // Discarded everywhere, and the running version untouched.
    assert!(versions.commit(&[0, 1]).await.is_err());
    assert_eq!(answers(&executor).await, ["v1:0", "v1:0"]);
    executor.stop(std::time::Duration::from_secs(1)).await;
}
