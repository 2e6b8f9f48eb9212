//! Arbitrary input never panics the parts that read untrusted data: the
//! frame decoder (anything the platform sends) and the config loader
//! (anything an author writes). A bounded number of proptest cases runs in
//! every `cargo test`.

use moobius_host::config::{self, load::Overrides};
use moobius_host::protocol::inbound::decode;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("join"),
            Just("refresh"),
            Just("text"),
            Just("service"),
            Just("config/x.json")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("body".to_string()),
                    Just("subtype".to_string()),
                    Just("channel_id".to_string()),
                    Just("sender".to_string()),
                    Just("recipients".to_string()),
                    Just("content".to_string()),
                    Just("status".to_string()),
                    Just("account_config".to_string()),
                    Just("service_config".to_string()),
                    Just("email".to_string()),
                    Just("password".to_string()),
                    Just("channels".to_string()),
                    Just("others".to_string()),
                    Just("script_limits".to_string()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Frames with a real type and subtype and an arbitrary body.
fn arb_frame() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("action"),
        Just("message_up"),
        Just("copy"),
        Just("update"),
        Just("refresh"),
        Just("error"),
        Just("message_down")
    ];
    let subtype = prop_oneof![
        Just("join"),
        Just("leave"),
        Just("refresh"),
        Just("button_click"),
        Just("menu_item_click"),
        Just("text")
    ];
    (kind, subtype, arb_json()).prop_map(|(k, s, mut body)| {
        if let Value::Object(m) = &mut body {
            m.insert("subtype".into(), json!(s));
        }
        json!({"type": k, "body": body})
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn decoder_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn decoder_survives_arbitrary_json(v in arb_json()) {
        let _ = decode(&v.to_string());
    }

    #[test]
    fn decoder_survives_plausible_frames(v in arb_frame()) {
        let _ = decode(&v.to_string());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn config_loader_survives_arbitrary_json(v in arb_json(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, v.to_string()).unwrap();
        let _ = config::load(&cfg, dir.path(), &Overrides::default());
        std::fs::write(&cfg, &raw).unwrap();
        let _ = config::load(&cfg, dir.path(), &Overrides::default());
    }
}
