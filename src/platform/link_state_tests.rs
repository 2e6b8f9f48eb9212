//! One test per transition of the link's state machine.

use super::*;

const MIN: Duration = Duration::from_millis(250);
const MAX: Duration = Duration::from_secs(2);

fn machine() -> (LinkMachine, Instant) {
    (LinkMachine::new(MIN, MAX), Instant::now())
}

fn live() -> (LinkMachine, Instant) {
    let (mut m, t) = machine();
    m.step(LinkInput::Connected, t);
    m.step(LinkInput::Heard, t);
    assert_eq!(m.state(), &LinkState::Live);
    (m, t)
}

#[test]
fn starts_connecting() {
    let (m, _) = machine();
    assert_eq!(m.state(), &LinkState::Connecting { attempt: 1 });
}

#[test]
fn connecting_then_connected_is_logging_in() {
    let (mut m, t) = machine();
    assert_eq!(m.step(LinkInput::Connected, t), &LinkState::LoggingIn);
}

#[test]
fn logging_in_then_a_frame_is_live() {
    let (mut m, t) = machine();
    m.step(LinkInput::Connected, t);
    assert_eq!(m.step(LinkInput::Heard, t), &LinkState::Live);
}

#[test]
fn failed_connects_back_off_doubling_up_to_the_cap() {
    let (mut m, t) = machine();
    let mut waits = Vec::new();
    for attempt in 1..=5 {
        assert_eq!(m.state(), &LinkState::Connecting { attempt });
        match m.step(LinkInput::ConnectFailed("refused".into()), t) {
            LinkState::Backoff { retry_in, reason } => {
                assert_eq!(reason, "refused");
                waits.push(retry_in.as_millis());
            }
            other => panic!("{other:?}"),
        }
        m.step(LinkInput::Waited, t);
    }
    assert_eq!(waits, [250, 500, 1000, 2000, 2000]);
}

#[test]
fn a_drop_while_logging_in_counts_as_a_failed_attempt() {
    let (mut m, t) = machine();
    m.step(LinkInput::Connected, t);
    assert!(matches!(
        m.step(LinkInput::Dropped("closed".into()), t),
        LinkState::Backoff { .. }
    ));
    assert_eq!(
        m.step(LinkInput::Waited, t),
        &LinkState::Connecting { attempt: 2 }
    );
}

#[test]
fn a_drop_when_live_reconnects_after_the_shortest_wait() {
    let (mut m, t) = live();
    assert_eq!(
        m.step(LinkInput::Dropped("silent".into()), t),
        &LinkState::Backoff {
            retry_in: MIN,
            reason: "silent".into()
        }
    );
    assert_eq!(
        m.step(LinkInput::Waited, t),
        &LinkState::Connecting { attempt: 1 }
    );
}

#[test]
fn going_live_resets_the_back_off() {
    let (mut m, t) = machine();
    for _ in 0..3 {
        m.step(LinkInput::ConnectFailed("x".into()), t);
        m.step(LinkInput::Waited, t);
    }
    m.step(LinkInput::Connected, t);
    m.step(LinkInput::Heard, t);
    m.step(LinkInput::Dropped("x".into()), t);
    m.step(LinkInput::Waited, t);
    assert_eq!(
        m.step(LinkInput::ConnectFailed("x".into()), t),
        &LinkState::Backoff {
            retry_in: MIN,
            reason: "x".into()
        }
    );
}

#[test]
fn a_refusal_re_authenticates_at_once_then_reconnects() {
    let (mut m, t) = live();
    assert_eq!(
        m.step(LinkInput::Refused("token".into()), t),
        &LinkState::ReAuthenticating {
            delay: Duration::ZERO
        }
    );
    assert_eq!(
        m.step(LinkInput::SignedIn, t),
        &LinkState::Connecting { attempt: 1 }
    );
}

#[test]
fn a_refused_login_re_authenticates_too() {
    let (mut m, t) = machine();
    m.step(LinkInput::Connected, t);
    assert!(matches!(
        m.step(LinkInput::Refused("login".into()), t),
        LinkState::ReAuthenticating { .. }
    ));
}

#[test]
fn refusals_in_a_row_are_spaced_out_and_capped() {
    let (mut m, t) = live();
    let mut delays = Vec::new();
    for i in 0..10 {
        let now = t + Duration::from_secs(1) * i;
        m.step(LinkInput::Connected, now);
        m.step(LinkInput::Heard, now);
        if let LinkState::ReAuthenticating { delay } = m.step(LinkInput::Refused("t".into()), now) {
            delays.push(delay.as_millis());
        }
        m.step(LinkInput::SignedIn, now);
    }
    assert_eq!(
        delays,
        [0, 250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
    );
    // Quiet for longer than the gap: at once again.
    let later = t + Duration::from_secs(60);
    m.step(LinkInput::Connected, later);
    m.step(LinkInput::Heard, later);
    assert_eq!(
        m.step(LinkInput::Refused("t".into()), later),
        &LinkState::ReAuthenticating {
            delay: Duration::ZERO
        }
    );
}

#[test]
fn shutdown_stops_from_every_state_and_stays_stopped() {
    let t = Instant::now();
    let inputs: Vec<Vec<LinkInput>> = vec![
        vec![],
        vec![LinkInput::Connected],
        vec![LinkInput::Connected, LinkInput::Heard],
        vec![LinkInput::ConnectFailed("x".into())],
        vec![
            LinkInput::Connected,
            LinkInput::Heard,
            LinkInput::Refused("t".into()),
        ],
    ];
    for path in inputs {
        let mut m = LinkMachine::new(MIN, MAX);
        for i in path {
            m.step(i, t);
        }
        assert_eq!(m.step(LinkInput::Shutdown, t), &LinkState::Stopped);
        assert_eq!(m.step(LinkInput::Connected, t), &LinkState::Stopped);
    }
}

#[test]
fn inputs_that_do_not_apply_change_nothing() {
    let (mut m, t) = machine();
    assert_eq!(
        m.step(LinkInput::Heard, t),
        &LinkState::Connecting { attempt: 1 }
    );
    assert_eq!(
        m.step(LinkInput::SignedIn, t),
        &LinkState::Connecting { attempt: 1 }
    );
    let (mut m, t) = live();
    assert_eq!(m.step(LinkInput::Connected, t), &LinkState::Live);
    assert_eq!(m.step(LinkInput::Waited, t), &LinkState::Live);
}

#[test]
fn state_names_for_status_pages() {
    let names: Vec<&str> = [
        LinkState::Connecting { attempt: 1 },
        LinkState::LoggingIn,
        LinkState::Live,
        LinkState::Backoff {
            retry_in: MIN,
            reason: String::new(),
        },
        LinkState::ReAuthenticating {
            delay: Duration::ZERO,
        },
        LinkState::Stopped,
    ]
    .iter()
    .map(LinkState::name)
    .collect();
    assert_eq!(
        names,
        [
            "connecting",
            "logging_in",
            "live",
            "backoff",
            "reauthenticating",
            "stopped"
        ]
    );
}
