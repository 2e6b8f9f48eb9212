//! What a scenario may call: `member(name)` and the member's actions and
//! views, `reload()`, `assert_eq` and `assert`.
//!
//! Scenarios run on the runner's own thread with their own engine; each
//! action blocks on the async world (`Handle::block_on`) until the service
//! settled, so a scenario reads like a story with no waiting in it.

use super::diff::explain_difference;
use super::world::World;
use super::ScenarioError;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position};
use serde_json::{json, Map as JsonMap, Value};
use std::cell::RefCell;
use std::rc::Rc;
use tokio::runtime::Handle;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// The world of the test being run, shared by every registered function.
pub struct Ctx {
    pub handle: Handle,
    pub world: RefCell<Option<World>>,
}

/// A simulated member, by name (`member("alice")`).
#[derive(Debug, Clone)]
pub struct Member {
    name: Rc<str>,
}

pub fn fail(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        Position::NONE,
    ))
}

impl Ctx {
    /// Runs `f` on the current world, blocking on its future.
    fn with<T>(&self, f: impl AsyncFnOnce(&mut World) -> Result<T, ScenarioError>) -> Fallible<T> {
        let mut guard = self.world.borrow_mut();
        let world = guard.as_mut().ok_or_else(|| {
            fail("no test is running (member actions belong in test_* functions)")
        })?;
        self.handle
            .block_on(f(world))
            .map_err(|e| fail(e.to_string()))
    }

    fn act(&self, who: &Member, action: &str, fields: JsonMap<String, Value>) -> Fallible<()> {
        self.with(async |w| w.act(&who.name, action, &fields).await)
    }

    fn view(&self, who: &Member) -> Fallible<crate::sandbox::View> {
        self.with(async |w| Ok(w.control().view(&who.name, w.channel_id())?))
    }
}

fn strings(items: impl IntoIterator<Item = String>) -> Array {
    items.into_iter().map(Dynamic::from).collect()
}

fn names(list: &Array) -> Fallible<Vec<Value>> {
    list.iter()
        .map(|v| match v.clone().try_cast::<Member>() {
            Some(m) => Ok(json!(&*m.name)),
            None => v
                .clone()
                .into_immutable_string()
                .map(|s| json!(s.as_str()))
                .map_err(|t| fail(format!("say: recipients must be names, not {t}"))),
        })
        .collect()
}

fn click_fields(
    button: &str,
    arguments: Option<Map>,
    bottom: Option<&str>,
) -> Fallible<JsonMap<String, Value>> {
    let mut fields = JsonMap::new();
    fields.insert("button_id".into(), json!(button));
    if let Some(args) = arguments {
        let value: Value = rhai::serde::from_dynamic(&Dynamic::from_map(args))
            .map_err(|e| fail(format!("click: arguments: {e}")))?;
        fields.insert("arguments".into(), value);
    }
    if let Some(b) = bottom {
        fields.insert("bottom_button_id".into(), json!(b));
    }
    Ok(fields)
}

/// The functions a scenario may call, with the argument counts each takes,
/// read from a scenario engine (for `check`, which lints scenario files).
pub fn function_table() -> Vec<(String, Vec<usize>)> {
    // Registering needs a handle (nothing is ever run on it); the runtime
    // lives on a thread of its own so that it may be dropped from async code.
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
            return Vec::new();
        };
        let ctx = Rc::new(Ctx {
            handle: runtime.handle().clone(),
            world: RefCell::new(None),
        });
        let mut engine = Engine::new();
        register(&mut engine, &ctx);
        let mut table: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (name, n) in crate::script::lint::registered(&engine, false) {
            table.entry(name).or_default().push(n);
        }
        table.into_iter().collect()
    })
    .join()
    .unwrap_or_default()
}

pub fn register(engine: &mut Engine, ctx: &Rc<Ctx>) {
    engine.register_type_with_name::<Member>("Member");
    engine.register_get("name", |m: &mut Member| m.name.to_string());
    engine.register_fn("to_string", |m: &mut Member| m.name.to_string());
    let c = ctx.clone();
    engine.register_fn("bot", move |name: &str, script: &str| -> Fallible<Member> {
        c.with(async |w| w.add_bot(name, script).await)?;
        Ok(Member { name: name.into() })
    });
    let c = ctx.clone();
    engine.register_fn("member", move |name: &str| -> Fallible<Member> {
        c.with(async |w| {
            w.control().create_user(name);
            Ok(())
        })?;
        Ok(Member { name: name.into() })
    });
    for action in ["join", "leave", "refresh"] {
        let c = ctx.clone();
        engine.register_fn(action, move |m: &mut Member| {
            c.act(m, action, JsonMap::new())
        });
    }
    let c = ctx.clone();
    engine.register_fn("say", move |m: &mut Member, text: &str| {
        let mut f = JsonMap::new();
        f.insert("text".into(), json!(text));
        c.act(m, "message", f)
    });
    let c = ctx.clone();
    engine.register_fn("say", move |m: &mut Member, text: &str, to: Array| {
        let mut f = JsonMap::new();
        f.insert("text".into(), json!(text));
        f.insert("recipients".into(), Value::Array(names(&to)?));
        c.act(m, "message", f)
    });
    let c = ctx.clone();
    engine.register_fn("click", move |m: &mut Member, button: &str| {
        c.act(m, "button_click", click_fields(button, None, None)?)
    });
    let c = ctx.clone();
    engine.register_fn("click", move |m: &mut Member, button: &str, args: Map| {
        c.act(m, "button_click", click_fields(button, Some(args), None)?)
    });
    let c = ctx.clone();
    engine.register_fn(
        "click",
        move |m: &mut Member, button: &str, args: Map, bottom: &str| {
            c.act(
                m,
                "button_click",
                click_fields(button, Some(args), Some(bottom))?,
            )
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "menu_click",
        move |m: &mut Member, item: &str, index: rhai::INT| -> Fallible<()> {
            let view = c.view(m)?;
            let message = usize::try_from(index)
                .ok()
                .and_then(|i| view.messages.get(i))
                .ok_or_else(|| {
                    fail(format!(
                        "menu_click: {} has no message {index} (received {})",
                        m.name,
                        view.messages.len()
                    ))
                })?;
            let mut f = JsonMap::new();
            f.insert("menu_item_id".into(), json!(item));
            f.insert("message_id".into(), json!(message.message_id));
            c.act(m, "menu_item_click", f)
        },
    );
    register_views(engine, ctx);
    register_checks(engine, ctx);
}

fn register_views(engine: &mut Engine, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    engine.register_fn("sees", move |m: &mut Member| -> Fallible<Array> {
        let view = c.view(m)?;
        Ok(strings(view.characters.into_iter().map(|ch| ch.name)))
    });
    let c = ctx.clone();
    engine.register_fn("buttons", move |m: &mut Member| -> Fallible<Array> {
        let view = c.view(m)?;
        let ids = view.buttons.iter().filter_map(|b| b["button_id"].as_str());
        Ok(strings(ids.map(str::to_string)))
    });
    let c = ctx.clone();
    engine.register_fn("messages", move |m: &mut Member| -> Fallible<Array> {
        let view = c.view(m)?;
        Ok(view
            .messages
            .into_iter()
            .map(|msg| {
                let from = if msg.sender_name.is_empty() {
                    msg.sender
                } else {
                    msg.sender_name
                };
                let text = msg.content["text"].as_str().unwrap_or_default().to_string();
                let mut map = Map::new();
                map.insert("from".into(), from.into());
                map.insert("text".into(), text.into());
                map.insert("subtype".into(), msg.subtype.into());
                Dynamic::from_map(map)
            })
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("menu", move |m: &mut Member| -> Fallible<Array> {
        let view = c.view(m)?;
        let ids = view.menu.iter().filter_map(|b| b["menu_item_id"].as_str());
        Ok(strings(ids.map(str::to_string)))
    });
    let c = ctx.clone();
    engine.register_fn("canvas", move |m: &mut Member| -> Fallible<Array> {
        let view = c.view(m)?;
        Ok(view
            .canvas
            .iter()
            .map(|v| rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT))
            .collect())
    });
    let c = ctx.clone();
    engine.register_fn("reload", move || -> Fallible<()> {
        c.with(async |w| w.reload().await)
    });
    let c = ctx.clone();
    engine.register_fn("restart", move || -> Fallible<()> {
        c.with(async |w| w.restart().await)
    });
    let c = ctx.clone();
    engine.register_fn("expect_error", move |part: &str| -> Fallible<()> {
        c.with(async |w| {
            w.expect_error(part);
            Ok(())
        })
    });
    let c = ctx.clone();
    engine.register_fn("advance", move |ms: i64| -> Fallible<()> {
        let ms = u64::try_from(ms).map_err(|_| fail(format!("advance: {ms} is negative")))?;
        c.with(async |w| w.advance(ms).await)
    });
    let c = ctx.clone();
    engine.register_fn(
        "respond",
        move |pattern: &str, answer: Map| -> Fallible<()> {
            let answer: Value = rhai::serde::from_dynamic(&Dynamic::from_map(answer))
                .map_err(|e| fail(format!("respond: {e}")))?;
            c.with(async |w| w.respond(pattern, &answer).map_err(ScenarioError::Usage))
        },
    );
}

fn register_checks(engine: &mut Engine, _ctx: &Rc<Ctx>) {
    engine.register_fn(
        "assert_eq",
        |left: Dynamic, right: Dynamic| -> Fallible<()> {
            match explain_difference(&left, &right) {
                None => Ok(()),
                Some(why) => Err(fail(why)),
            }
        },
    );
    engine.register_fn("assert", |cond: bool, msg: &str| -> Fallible<()> {
        if cond {
            Ok(())
        } else {
            Err(fail(format!("assertion failed: {msg}")))
        }
    });
    engine.register_fn("assert", |cond: bool| -> Fallible<()> {
        if cond {
            Ok(())
        } else {
            Err(fail("assertion failed"))
        }
    });
}
