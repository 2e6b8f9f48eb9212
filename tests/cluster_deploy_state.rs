//! The deploy state machine against a real Redis, with several in-process
//! participants standing in for nodes: a deploy commits only when every
//! live node voted ready, a veto ends it naming the node, a deadline ends
//! it naming the silent nodes, two nodes deciding at once leave one
//! outcome, a commit bumps the epoch, rollback restores the previous
//! version in one step, and the history stays bounded.

mod common;
mod store_support;
use moobius_host::cluster::conn::RedisConn;
use moobius_host::cluster::deploy::machine::{Decision, Deploys};
use moobius_host::cluster::deploy::record::{Record, State, Vote};
use moobius_host::cluster::deploy::HISTORY;
use moobius_host::cluster::wire::Keys;
use std::sync::Arc;
use std::time::Duration;
use store_support::redis;

/// A participant of its own (connection and all) on a fresh service.
fn participant(url: &str, keys: &Keys) -> Deploys {
    let conn = Arc::new(RedisConn::open(url, Duration::from_secs(5)).unwrap());
    Deploys::new(conn, keys.clone())
}

fn fresh_keys() -> Keys {
    Keys::new(&format!("test-{}", uuid::Uuid::new_v4()))
}

fn record(d: &Deploys, id: &str, sha: &str, deadline_in_ms: u64) -> Record {
    Record {
        id: id.into(),
        sha: sha.into(),
        version: format!("v-{id}"),
        signer: "key-1".into(),
        by: "tester".into(),
        at_ms: 0,
        deadline_ms: d.now_ms().unwrap() + deadline_in_ms,
        canary_pct: 0,
        canary_window_ms: 0,
        state: State::Preparing,
    }
}

fn live(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| n.to_string()).collect()
}

/// Starts and commits deploy `id` with one ready node.
fn commit(d: &Deploys, id: &str, sha: &str) {
    d.store_bundle(sha, sha.as_bytes()).unwrap();
    assert!(d.start(&record(d, id, sha, 60_000)).unwrap());
    d.vote(id, "a", &Vote::Ready).unwrap();
    assert_eq!(
        d.decide(id, &live(&["a"])).unwrap(),
        Decision::Ended(State::Committed)
    );
}

#[test]
fn commits_only_when_every_live_node_voted_ready() {
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b, c) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    a.store_bundle("sha1", b"bundle bytes").unwrap();
    a.store_bundle("sha1", b"other bytes").unwrap();
    assert_eq!(
        b.bundle("sha1").unwrap().unwrap(),
        b"bundle bytes",
        "SET NX"
    );
    assert!(a.start(&record(&a, "d1", "sha1", 60_000)).unwrap());
    assert!(
        !b.start(&record(&b, "d1", "sha1", 60_000)).unwrap(),
        "one d1"
    );
    let nodes = live(&["a", "b", "c"]);
    assert!(a.vote("d1", "a", &Vote::Ready).unwrap());
    assert!(b.vote("d1", "b", &Vote::Ready).unwrap());
    assert_eq!(
        c.decide("d1", &nodes).unwrap(),
        Decision::Waiting(vec!["c".into()])
    );
    assert_eq!(a.current().unwrap().epoch, 0, "nothing deployed yet");
    // c dies before voting: it drops out of the live set, and the others commit.
    assert_eq!(
        b.decide("d1", &live(&["a", "b"])).unwrap(),
        Decision::Ended(State::Committed)
    );
    let cur = c.current().unwrap();
    assert_eq!(
        (cur.id.as_str(), cur.sha.as_str(), cur.epoch),
        ("d1", "sha1", 1)
    );
    assert_eq!(a.epoch().unwrap(), 1);
    assert!(
        !c.vote("d1", "c", &Vote::Ready).unwrap(),
        "ended: no more votes"
    );
    a.swapped("d1", "a").unwrap();
    b.swapped("d1", "b").unwrap();
    assert_eq!(c.swaps("d1").unwrap().len(), 2);
}

#[test]
fn a_veto_ends_the_deploy_naming_the_node_and_changes_nothing() {
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    commit(&a, "d0", "sha0");
    assert!(a.start(&record(&a, "d1", "sha1", 60_000)).unwrap());
    a.vote("d1", "a", &Vote::Ready).unwrap();
    b.vote("d1", "b", &Vote::Veto("untrusted signer key-9".into()))
        .unwrap();
    let want = State::Vetoed {
        node: "b".into(),
        reason: "untrusted signer key-9".into(),
    };
    assert_eq!(
        a.decide("d1", &live(&["a", "b"])).unwrap(),
        Decision::Ended(want.clone())
    );
    assert_eq!(b.record("d1").unwrap().unwrap().state, want);
    let cur = b.current().unwrap();
    assert_eq!(
        (cur.id.as_str(), cur.epoch),
        ("d0", 1),
        "still the old version"
    );
}

#[test]
fn a_deadline_ends_the_deploy_naming_the_silent_nodes() {
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let a = participant(&server.url, &keys);
    assert!(a.start(&record(&a, "d1", "sha1", 0)).unwrap());
    a.vote("d1", "a", &Vote::Ready).unwrap();
    let Decision::Ended(State::Vetoed { node, reason }) =
        a.decide("d1", &live(&["a", "b"])).unwrap()
    else {
        panic!("the deadline passed")
    };
    assert_eq!(node, "b");
    assert!(reason.contains("deadline"), "{reason}");
    assert_eq!(a.current().unwrap().epoch, 0);
}

#[test]
fn nodes_deciding_at_once_leave_one_outcome() {
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let nodes: Vec<Deploys> = (0..4).map(|_| participant(&server.url, &keys)).collect();
    assert!(nodes[0]
        .start(&record(&nodes[0], "d1", "sha1", 60_000))
        .unwrap());
    let names = live(&["n0", "n1", "n2", "n3"]);
    for (i, d) in nodes.iter().enumerate() {
        d.vote("d1", &format!("n{i}"), &Vote::Ready).unwrap();
    }
    let outcomes: Vec<Decision> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|d| s.spawn(|| d.decide("d1", &names).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outcomes {
        assert_eq!(o, &Decision::Ended(State::Committed));
    }
    assert_eq!(nodes[3].current().unwrap().epoch, 1, "committed once");
    assert_eq!(nodes[2].history().unwrap(), vec!["d1".to_string()]);
}

#[test]
fn rollback_restores_the_previous_version_in_one_step_and_history_is_bounded() {
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    assert_eq!(a.rollback("nothing before").unwrap(), None);
    commit(&a, "d0", "sha0");
    commit(&a, "d1", "sha1");
    let back = b.rollback("canary errors").unwrap().expect("d0 is before");
    assert_eq!(
        (back.id.as_str(), back.sha.as_str(), back.epoch),
        ("d0", "sha0", 3)
    );
    assert_eq!(
        a.record("d1").unwrap().unwrap().state,
        State::RolledBack {
            why: "canary errors".into()
        }
    );
    assert_eq!(a.history().unwrap(), vec!["d0".to_string()]);
    for i in 0..HISTORY + 3 {
        commit(&a, &format!("h{i}"), &format!("shah{i}"));
    }
    let history = b.history().unwrap();
    assert_eq!(history.len(), HISTORY);
    assert_eq!(history[0], format!("h{}", HISTORY + 2));
    assert_eq!(a.record("d0").unwrap(), None, "pruned with the history");
    assert_eq!(a.bundle("sha0").unwrap(), None, "its bundle too");
    assert!(a.bundle(&format!("shah{}", HISTORY + 2)).unwrap().is_some());
}

#[test]
fn canary_and_baseline_counts_are_summed_over_nodes_and_a_report_counts_once() {
    use moobius_host::cluster::deploy::stats::Side;
    use moobius_host::deploy::canary::HandlerStats;
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    let all = live(&["a", "b", "c"]);
    let (none, base) = a.stats("d1", &all).unwrap();
    assert_eq!((none.events, base), (0, None));
    let mut bad = HandlerStats::default();
    for i in 0..10 {
        bad.record(Duration::from_micros(100), i % 2 == 0);
    }
    let mut good = HandlerStats::default();
    good.record(Duration::from_micros(100), false);
    a.report_stats("d1", "a", Side::Canary, &bad).unwrap();
    a.report_stats("d1", "a", Side::Canary, &bad).unwrap();
    b.report_stats("d1", "b", Side::Baseline, &good).unwrap();
    b.report_stats("d1", "c", Side::Baseline, &good).unwrap();
    let (canary, baseline) = b.stats("d1", &all).unwrap();
    assert_eq!((canary.events, canary.errors), (10, 5), "a's report once");
    let baseline = baseline.expect("b and c reported");
    assert_eq!((baseline.events, baseline.errors), (2, 0));
    // a and c left the live set: their counts no longer count.
    let (canary, baseline) = b.stats("d1", &live(&["b"])).unwrap();
    assert_eq!(canary.events, 0, "a left");
    assert_eq!(baseline.map(|s| s.events), Some(1), "c left, b stays");
}

#[test]
fn a_canary_with_handler_errors_rolls_back_and_a_clean_one_is_promoted() {
    use moobius_host::cluster::deploy::record::canary_nodes;
    use moobius_host::cluster::deploy::stats::Side;
    use moobius_host::deploy::canary::HandlerStats;
    use moobius_host::deploy::config::CanaryThresholds;
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    let nodes = live(&["c", "a", "b"]);
    assert_eq!(
        canary_nodes(&nodes, 34),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(canary_nodes(&nodes, 1), vec!["a".to_string()], "rounded up");
    commit(&a, "d0", "sha0");
    let t = CanaryThresholds::default();
    for (id, failing) in [("bad", true), ("good", false)] {
        let mut r = record(&a, id, id, 60_000);
        r.canary_pct = 34;
        r.canary_window_ms = if failing { 60_000 } else { 0 };
        assert!(a.start(&r).unwrap());
        for n in &nodes {
            a.vote(id, n, &Vote::Ready).unwrap();
        }
        assert_eq!(b.decide(id, &nodes).unwrap(), Decision::Waiting(vec![]));
        let State::Canary { nodes: on, .. } = a.record(id).unwrap().unwrap().state else {
            panic!("every node voted ready: the canary starts")
        };
        assert_eq!(on, live(&["a", "b"]), "the canary's nodes are stored");
        let mut stats = HandlerStats::default();
        for i in 0..t.min_events.max(1) * 2 {
            stats.record(Duration::from_micros(100), failing && i % 2 == 0);
        }
        let mut base = HandlerStats::default();
        base.record(Duration::from_micros(100), false);
        a.report_stats(id, "a", Side::Canary, &stats).unwrap();
        a.report_stats(id, "c", Side::Baseline, &base).unwrap();
        let got = b.judge_canary(id, &t, &nodes).unwrap();
        if failing {
            let Decision::Ended(State::RolledBack { why }) = got else {
                panic!("errors roll back before the window ends: {got:?}")
            };
            assert!(why.contains("error"), "{why}");
            assert_eq!(a.current().unwrap().id, "d0", "still the old version");
        } else {
            assert_eq!(got, Decision::Ended(State::Committed));
            assert_eq!(a.current().unwrap().id, "good");
        }
    }
}

#[test]
fn the_canary_set_is_fixed_at_its_start_and_a_canary_whose_nodes_all_left_rolls_back() {
    use moobius_host::deploy::config::CanaryThresholds;
    let Some(server) = redis() else { return };
    let keys = fresh_keys();
    let (a, b) = (
        participant(&server.url, &keys),
        participant(&server.url, &keys),
    );
    commit(&a, "d0", "sha0");
    let mut r = record(&a, "d1", "sha1", 60_000);
    r.canary_pct = 50;
    r.canary_window_ms = 60_000;
    assert!(a.start(&r).unwrap());
    for n in ["b", "c"] {
        a.vote("d1", n, &Vote::Ready).unwrap();
    }
    assert_eq!(
        a.decide("d1", &live(&["b", "c"])).unwrap(),
        Decision::Waiting(vec![])
    );
    // Node "a" joins at that moment: a later decider, or its own view,
    // sees another live set, and the stored set does not change.
    let joined = live(&["a", "b", "c"]);
    assert_eq!(b.decide("d1", &joined).unwrap(), Decision::Waiting(vec![]));
    let State::Canary { nodes, .. } = b.record("d1").unwrap().unwrap().state else {
        panic!("in its canary")
    };
    assert_eq!(nodes, live(&["b"]), "the first decider's set, kept");
    let t = CanaryThresholds::default();
    assert_eq!(
        b.judge_canary("d1", &t, &joined).unwrap(),
        Decision::Waiting(vec![]),
        "b is live: the window runs"
    );
    assert_eq!(
        a.judge_canary("d1", &t, &[]).unwrap(),
        Decision::Waiting(vec![]),
        "no live set seen yet: no judgement"
    );
    assert_eq!(
        a.judge_canary("d1", &t, &[]).unwrap(),
        Decision::Waiting(vec![]),
        "no live set seen yet: no judgement"
    );
    let Decision::Ended(State::RolledBack { why }) =
        a.judge_canary("d1", &t, &live(&["a", "c"])).unwrap()
    else {
        panic!("b, the only canary node, left")
    };
    assert!(why.contains("every canary node left"), "{why}");
    assert_eq!(a.current().unwrap().id, "d0", "still the old version");
}
