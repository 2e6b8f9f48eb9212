//! What a scenario does as the service's operator rather than as a
//! member: `spell(value)`, and `requests()`, what the service sent out
//! (answered by `respond`, see `responder.rs`).

use super::api::{fail, Ctx};
use crate::script::defs;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use serde_json::Value;
use std::rc::Rc;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// What the test sends the service besides members' actions, and what
/// the service sent out.
pub fn register(engine: &mut Engine, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "spell",
        ["value"],
        "Hands `value` to the service's `on_spell` as `moobius-host spell` would (routed by its \
         `channel_id`, else to every script thread), waits until the service settled and \
         returns the answer. A failing `on_spell` fails the test, unless `expect_error` \
         expects it (then `()`).",
        move |value: Dynamic| -> Fallible<Dynamic> {
            let value: Value =
                rhai::serde::from_dynamic(&value).map_err(|e| fail(format!("spell: {e}")))?;
            let answer = c.with(async |w| w.spell(value).await)?;
            Ok(answer.map_or(Dynamic::UNIT, |v| crate::script::from_json(&v)))
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "requests",
        [],
        "Every `request` the service made in this test (the last 1,000), oldest first: \
         `[#{method, url, headers, body, json}]`; `headers` is a map, `body` the text sent \
         (\"\" without one), `json` the body parsed (`()` when it is not JSON).",
        move || -> Fallible<Array> {
            let made = c.with(async |w| Ok(w.requests()))?;
            Ok(made.iter().map(request_map).collect())
        },
    );
}

fn request_map(r: &crate::script::HttpRequest) -> Dynamic {
    let body = r
        .body
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let json = serde_json::from_str::<Value>(&body)
        .map_or(Dynamic::UNIT, |v| crate::script::from_json(&v));
    let mut headers = Map::new();
    for (k, v) in &r.headers {
        headers.insert(k.as_str().into(), v.clone().into());
    }
    let mut map = Map::new();
    map.insert("method".into(), r.method.clone().into());
    map.insert("url".into(), r.url.clone().into());
    map.insert("headers".into(), Dynamic::from_map(headers));
    map.insert("body".into(), body.into());
    map.insert("json".into(), json);
    Dynamic::from_map(map)
}
