//! Host-side cost of one refresh, without the network: decode the frame,
//! dispatch it to `on_refresh` with `this` bound, convert the script's lists
//! (ids, group-cache key) and encode the `update` frame. Run twice: with a
//! trivial handler (the host's own overhead) and with the tutorial's
//! `send_member_view` over 100 members (overhead plus the script's work).
//!
//! Each is measured with metrics off, then (after installing the Prometheus
//! recorder, as `run --admin` does) with metrics on, recording what the host
//! records for one refresh, side by side in one run.
//!
//! `cargo run --release --example host_overhead`

use moobius_host::protocol::{inbound, outbound, IdList, Inbound};
use moobius_host::script::{
    AgentProfile, Character, CompileOptions, HostApi, HostResult, ServiceScript,
};
use rhai::{Dynamic, Map};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Does what the bridge and the outbox do with a characters update, minus
/// the sockets: the group-cache lookup (a hit) and the frame encoding.
struct Local {
    members: Vec<String>,
    groups: RefCell<HashMap<IdList, String>>,
    bytes: RefCell<usize>,
}

impl HostApi for Local {
    fn member_ids(&self, _: &str) -> HostResult<Vec<String>> {
        Ok(self.members.clone())
    }
    fn send_characters(
        &self,
        channel_id: &str,
        characters: IdList,
        recipients: IdList,
    ) -> HostResult<()> {
        let mut groups = self.groups.borrow_mut();
        let mut group = |ids: &IdList| {
            let n = groups.len();
            groups
                .entry(ids.clone())
                .or_insert_with(|| format!("g{n}"))
                .clone()
        };
        let (r, c) = (group(&recipients), group(&characters));
        let frame = outbound::update_characters("r", "service", channel_id, &r, &c);
        *self.bytes.borrow_mut() += frame.len();
        Ok(())
    }
    fn create_agent(&self, profile: &AgentProfile) -> HostResult<Character> {
        Ok(Character {
            character_id: "agent-meow".into(),
            name: profile.name.clone(),
            avatar: None,
            description: None,
        })
    }
    fn fetch_agents(&self) -> HostResult<Vec<Character>> {
        Ok(vec![])
    }
    fn fetch_profiles(&self, _: Vec<String>) -> HostResult<Vec<Character>> {
        Ok(vec![])
    }
}

/// What the host records for one refresh (dispatch, script thread, outbox,
/// group cache, link); nothing happens until a recorder is installed.
fn record_like_the_host(handler_time: Duration) {
    use moobius_host::metrics as m;
    m::EVENTS.add("refresh");
    m::handler_ran("on_refresh", handler_time, None);
    m::TIMERS.set(0.0);
    m::OUTBOX.set(0.0);
    m::CACHE_HITS.add("");
    m::FRAMES.add("characters");
    m::IN_FLIGHT.set(1.0);
    m::IN_FLIGHT.set(0.0);
}

/// The median and p99 time of one refresh, in microseconds.
fn measure(
    name: &str,
    script: &str,
    warm: &[(&str, Vec<Dynamic>)],
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("scripts"))?;
    let main = dir.path().join("scripts/service.rhai");
    std::fs::write(&main, script)?;
    let members: Vec<String> = (0..100)
        .map(|i| format!("{i:08}-0000-4000-8000-000000000000"))
        .collect();
    let host = Rc::new(Local {
        members: members.clone(),
        groups: RefCell::default(),
        bytes: RefCell::new(0),
    });
    let mut s = ServiceScript::load(&CompileOptions::for_main(&main), host.clone())?;
    for (handler, args) in warm {
        s.call(handler, args.clone())?;
    }
    let frames: Vec<String> = members
        .iter()
        .map(|m| format!(r#"{{"type":"action","body":{{"subtype":"refresh","channel_id":"ch","context":{{}},"sender":"{m}"}}}}"#))
        .collect();
    let n = 20_000;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let Ok(Inbound::Refresh(a)) = inbound::decode(&frames[i % frames.len()]) else {
            return Err("not a refresh".into());
        };
        let mut m = Map::new();
        m.insert("subtype".into(), a.subtype.into());
        m.insert("channel_id".into(), a.channel_id.into());
        m.insert("sender".into(), a.sender.into());
        m.insert("context".into(), Dynamic::from_map(Map::new()));
        let handled = Instant::now();
        s.call("on_refresh", vec![Dynamic::from_map(m)])?;
        record_like_the_host(handled.elapsed());
        times.push(t.elapsed());
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name}: p50 {:.1} us, p99 {:.1} us per refresh ({n} refreshes, {} bytes encoded)",
        us(times[n / 2]),
        us(times[n * 99 / 100]),
        host.bytes.borrow()
    );
    Ok((us(times[n / 2]), us(times[n * 99 / 100])))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trivial = "fn on_refresh(action) { send_characters([action.sender], action.channel_id, action.sender); }\n";
    let tutorial = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/service.rhai"),
    )?;
    let warm: &[(&str, Vec<Dynamic>)] = &[
        ("before_channel_init", vec![]),
        ("on_channel_checkin", vec!["ch".into()]),
    ];
    // A first pass warms caches and the allocator, so that "off" and "on"
    // are measured alike.
    measure("warm-up (not compared)", trivial, &[])?;
    let off = (
        measure("host overhead (trivial handler), metrics off", trivial, &[])?,
        measure(
            "tutorial handler, 100 members, metrics off",
            &tutorial,
            warm,
        )?,
    );
    if moobius_host::metrics::install().is_none() {
        return Err("cannot install the metrics recorder".into());
    }
    let on = (
        measure("host overhead (trivial handler), metrics on", trivial, &[])?,
        measure("tutorial handler, 100 members, metrics on", &tutorial, warm)?,
    );
    println!(
        "metrics on / off, p50: trivial {:.3}, tutorial {:.3}",
        on.0 .0 / off.0 .0,
        on.1 .0 / off.1 .0
    );
    Ok(())
}
