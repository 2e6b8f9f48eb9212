//! The cluster's lease against a real Redis: one holder at a time, a
//! fencing token that grows with each new holder, and a deposed holder
//! (its lease expired while it was away) that can neither renew nor release
//! the new holder's lease, and that knows by its own clock to stop; and the
//! partitions spread evenly over live nodes, moving when one stops; and a
//! partition's stream handed to a new owner with nothing lost or reordered.

mod common;
mod store_support;
use common::*;
use moobius_host::cluster::lease::{Holder, Lease};
use moobius_host::cluster::streams::PartitionStream;
use moobius_host::cluster::takeover::PartitionKeeper;
use std::collections::BTreeMap;
use std::time::Duration;
use store_support::redis;

fn lease(url: &str, key: &str, node: &str, ttl_ms: u64) -> Lease {
    Lease::new(url, key, node, Duration::from_millis(ttl_ms)).unwrap()
}

/// A key of its own per test (the server may be shared).
fn key(name: &str) -> String {
    format!("moobius:test:{}:{name}", uuid::Uuid::new_v4())
}

#[test]
fn one_holder_at_a_time_and_a_release_lets_the_next_in() {
    let Some(server) = redis() else { return };
    let k = key("gateway");
    let a = lease(&server.url, &k, "node-a", 10_000);
    let b = lease(&server.url, &k, "node-b", 10_000);
    let held = a.try_acquire().unwrap().expect("a free lease is taken");
    assert!(held.valid());
    assert_eq!(b.try_acquire().unwrap(), None, "held by a");
    assert_eq!(
        b.holder().unwrap(),
        Some(Holder {
            node: "node-a".into(),
            token: held.token
        })
    );
    let renewed = a.renew(&held).unwrap().expect("the holder renews");
    assert_eq!(renewed.token, held.token, "a renewal keeps the token");
    assert!(a.release(&renewed).unwrap());
    let next = b.try_acquire().unwrap().expect("free after the release");
    assert!(
        next.token > held.token,
        "the fence grows: {next:?} after {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_holder_can_neither_renew_nor_release_and_stops_by_its_clock() {
    let Some(server) = redis() else { return };
    let k = key("partition-7");
    let a = lease(&server.url, &k, "node-a", 150);
    let b = lease(&server.url, &k, "node-b", 10_000);
    let old = a.try_acquire().unwrap().expect("taken");
    // a is "paused": it does not renew, and its lease runs out in Redis.
    let new = wait_for("b takes the expired lease", || {
        let taken = b.try_acquire().unwrap();
        async move { taken }
    })
    .await;
    assert!(new.token > old.token);
    // By its own clock, a already knew to stop before b could get in.
    assert!(!old.valid(), "a's lease must have run out locally first");
    // Woken up, a cannot take the lease back by renewing or releasing it.
    assert_eq!(a.renew(&old).unwrap(), None);
    assert!(!a.release(&old).unwrap());
    assert_eq!(
        b.holder().unwrap(),
        Some(Holder {
            node: "node-b".into(),
            token: new.token
        })
    );
    assert!(b.renew(&new).unwrap().is_some(), "b still holds it");
}

#[test]
fn a_wrong_url_is_an_error_without_the_password() {
    let err = Lease::new(
        "redis://user:s3cret@127.0.0.1:1/",
        "k",
        "n",
        Duration::from_millis(200),
    )
    .and_then(|l| l.try_acquire())
    .unwrap_err()
    .to_string();
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

/// Every partition held by one node at most, and who holds what.
fn holders(keepers: &mut [(&str, PartitionKeeper)]) -> BTreeMap<usize, String> {
    let mut all = BTreeMap::new();
    for (name, k) in keepers.iter_mut() {
        for p in k.tick().unwrap().keys() {
            let twice = all.insert(*p, name.to_string());
            assert_eq!(twice, None, "partition {p} held twice");
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_spread_over_the_nodes_and_move_when_one_stops() {
    let Some(server) = redis() else { return };
    let prefix = key("cluster");
    let keeper = |node: &str| {
        PartitionKeeper::new(&server.url, &prefix, node, 12, Duration::from_millis(400)).unwrap()
    };
    let mut three = vec![("a", keeper("a")), ("b", keeper("b")), ("c", keeper("c"))];
    let spread =
        |all: &BTreeMap<usize, String>, name: &str| all.values().filter(|n| *n == name).count();
    let mut all = BTreeMap::new();
    wait_for("12 partitions spread 4, 4, 4", || {
        all = holders(&mut three);
        let even = all.len() == 12 && ["a", "b", "c"].iter().all(|n| spread(&all, n) == 4);
        async move { even.then_some(()) }
    })
    .await;
    // c stops (killed): it no longer beats nor renews.
    three.pop();
    let mut two = three;
    wait_for("c's partitions move to a and b, 6 each", || {
        all = holders(&mut two);
        let moved = all.len() == 12 && spread(&all, "a") == 6 && spread(&all, "b") == 6;
        async move { moved.then_some(()) }
    })
    .await;
}

#[test]
fn a_new_owner_claims_the_pending_entries_first_and_keeps_the_order() {
    let Some(server) = redis() else { return };
    let k = key("up:3");
    let stream = PartitionStream::new(&server.url, &k, "workers").unwrap();
    stream.ensure_group().unwrap();
    stream.ensure_group().unwrap();
    let sent: Vec<String> = (1..=5)
        .map(|i| stream.append(&format!("{{\"n\":{i}}}")).unwrap())
        .collect();
    // Owner a reads three, handles the first, and dies.
    let read = stream.read_new("a", 3).unwrap();
    assert_eq!(
        read.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        sent[..3]
    );
    stream.ack(&[read[0].id.clone()]).unwrap();
    // Owner b: the pending entries first, then the new ones.
    let claimed = stream.claim_pending("b").unwrap();
    let fresh = stream.read_new("b", 10).unwrap();
    let events: Vec<String> = claimed
        .iter()
        .chain(&fresh)
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(events, ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}", "{\"n\":5}"]);
    let ids: Vec<String> = claimed.iter().chain(&fresh).map(|e| e.id.clone()).collect();
    stream.ack(&ids).unwrap();
    assert!(
        stream.claim_pending("c").unwrap().is_empty(),
        "nothing left pending"
    );
    assert!(stream.read_new("c", 10).unwrap().is_empty());
}

/// `cluster status`'s report counts what waits: events unread and
/// unhandled in a partition's stream, and calls no gateway has taken. The
/// benchmark waits for all of it to be zero before it measures.
#[test]
fn the_report_counts_what_waits_until_it_is_done() {
    use moobius_host::cluster::conn::RedisConn;
    use moobius_host::cluster::report;
    use moobius_host::cluster::wire::Keys;
    let Some(server) = redis() else { return };
    let service = format!("svc-{}", uuid::Uuid::new_v4());
    let keys = Keys::new(&service);
    let stream = PartitionStream::new(&server.url, &keys.up(3), "workers").unwrap();
    stream.ensure_group().unwrap();
    stream.append("{\"n\":1}").unwrap();
    stream.append("{\"n\":2}").unwrap();
    let read = stream.read_new("a", 1).unwrap();
    let conn = RedisConn::open(&server.url, Duration::from_secs(5)).unwrap();
    for call in ["c1", "c2"] {
        let _: i64 = conn
            .query(redis::cmd("LPUSH").arg(keys.calls()).arg(call))
            .unwrap();
    }
    let r = report::read(&server.url, &service, 4).unwrap();
    assert_eq!((r.partitions[3].lag, r.partitions[3].pending), (1, 1));
    assert_eq!(r.calls_waiting, 2);
    assert!(!r.idle());

    let rest = stream.read_new("a", 10).unwrap();
    let ids: Vec<String> = read.iter().chain(&rest).map(|e| e.id.clone()).collect();
    stream.ack(&ids).unwrap();
    let _: i64 = conn.query(redis::cmd("DEL").arg(keys.calls())).unwrap();
    let r = report::read(&server.url, &service, 4).unwrap();
    assert_eq!(r.calls_waiting, 0);
    assert!(r.idle(), "{r:?}");
}

/// A node that joins is short of its share while the partitions it is
/// owed are still held (it then ticks faster, see `cluster::roles`); the
/// others hear of the join (and of a leave) between their ticks; the
/// holder hands them over (`settling` while it drains) and both are
/// settled once they moved.
#[test]
fn a_join_is_settling_until_the_partitions_moved() {
    let Some(server) = redis() else { return };
    let prefix = key("cluster");
    let keeper = |node: &str| {
        PartitionKeeper::new(&server.url, &prefix, node, 8, Duration::from_secs(10)).unwrap()
    };
    let look =
        moobius_host::cluster::conn::RedisConn::open(&server.url, Duration::from_secs(5)).unwrap();
    let mut a = keeper("a");
    assert_eq!(a.tick().unwrap().len(), 8, "alone, a takes every partition");
    assert!(!a.settling());
    assert!(!a.nodes_changed(&look).unwrap());
    let mut b = keeper("b");
    assert!(b.tick().unwrap().is_empty(), "a still holds them all");
    assert!(b.settling(), "b is short of its share");
    assert!(a.nodes_changed(&look).unwrap(), "a hears of b's join");
    // a sees b, and releases its share (nothing to drain).
    assert_eq!(a.tick().unwrap().len(), 4);
    assert_eq!(b.tick().unwrap().len(), 4);
    assert!(!b.settling() && !a.settling());
    assert!(!a.nodes_changed(&look).unwrap() && !b.nodes_changed(&look).unwrap());
    // Drained only when the caller says so: a keeps the partition meanwhile.
    let mut c = keeper("c");
    c.tick().unwrap();
    a.tick_draining(|_| false).unwrap();
    assert!(a.leaving().count() > 0 && a.settling(), "a drains");
    a.tick_draining(|_| true).unwrap();
    assert_eq!(a.leaving().count(), 0);
    assert!(!a.settling());
    // A clean stop is heard at once too.
    c.release_all();
    assert!(a.nodes_changed(&look).unwrap(), "a hears of c's leave");
}

/// A partition given up is released in Redis only when the caller says it
/// stopped acting on it (`release_dropped`, after the roles thread took it
/// out of its fences): until then the new owner cannot take it.
#[test]
fn a_partition_given_up_is_released_only_when_the_caller_says() {
    let Some(server) = redis() else { return };
    let prefix = key("cluster");
    let keeper = |node: &str| {
        PartitionKeeper::new(&server.url, &prefix, node, 8, Duration::from_secs(10)).unwrap()
    };
    let mut a = keeper("a");
    a.tick().unwrap();
    let mut b = keeper("b");
    b.tick().unwrap();
    a.tick_draining(|_| true).unwrap();
    assert_eq!(a.held().len(), 4, "a gave up b's share");
    b.tick().unwrap();
    assert!(b.held().is_empty(), "not released yet: b cannot take it");
    a.release_dropped().unwrap();
    assert_eq!(b.tick().unwrap().len(), 4);
}

/// A partition that does not drain is kept for two lease times, however
/// fast the ticks come (they come every 100 ms while partitions move),
/// then released anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_never_ends_is_cut_after_two_lease_times_not_a_number_of_ticks() {
    let Some(server) = redis() else { return };
    let prefix = key("cluster");
    let ttl = Duration::from_millis(1500);
    let keeper = |node: &str| PartitionKeeper::new(&server.url, &prefix, node, 8, ttl).unwrap();
    let mut a = keeper("a");
    a.tick().unwrap();
    let mut b = keeper("b");
    b.tick().unwrap();
    let started = std::time::Instant::now();
    // b keeps beating throughout (else it ages out and the partitions are
    // a's again). Ten quick ticks are well inside the budget: the old
    // budget of six ticks would have cut the drain already.
    for tick in 0..10 {
        a.tick_draining(|_| false).unwrap();
        a.release_dropped().unwrap();
        b.tick().unwrap();
        if started.elapsed() < ttl {
            assert_eq!(a.leaving().count(), 4, "still draining at tick {tick}");
            assert_eq!(a.held().len(), 8);
        }
    }
    wait_for("the undrained partitions released, and taken by b", || {
        a.tick_draining(|_| false).unwrap();
        a.release_dropped().unwrap();
        let n = b.tick().unwrap().len();
        let done = a.leaving().count() == 0 && a.held().len() == 4 && n == 4;
        async move { done.then_some(()) }
    })
    .await;
    assert!(
        started.elapsed() >= 2 * ttl,
        "released after {:?}",
        started.elapsed()
    );
}

/// A lease is renewed when due (its last renewal more than a sixth of a
/// lease ago), not on every tick: ticks come every 100 ms while
/// partitions move, and renewing every lease ten times a second would
/// load Redis exactly when it is busiest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_renewed_when_due_not_on_every_tick() {
    let Some(server) = redis() else { return };
    let prefix = key("cluster");
    let ttl = Duration::from_millis(1200);
    let mut a = PartitionKeeper::new(&server.url, &prefix, "a", 4, ttl).unwrap();
    a.tick().unwrap();
    let age = |a: &PartitionKeeper| a.held().values().map(|h| h.age()).min().unwrap_or_default();
    wait_for("50 ms since the leases were taken", || {
        let old = age(&a) >= Duration::from_millis(50);
        async move { old.then_some(()) }
    })
    .await;
    let ticked = std::time::Instant::now();
    a.tick().unwrap();
    if ticked.elapsed() < ttl / 6 - Duration::from_millis(60) {
        assert!(
            age(&a) >= Duration::from_millis(50),
            "renewed though not due"
        );
    }
    wait_for("a sixth of a lease since the last renewal", || {
        let due = age(&a) >= ttl / 6;
        async move { due.then_some(()) }
    })
    .await;
    a.tick().unwrap();
    assert!(age(&a) < ttl / 6, "due, and renewed: {:?}", age(&a));
    assert_eq!(a.held().len(), 4);
}
