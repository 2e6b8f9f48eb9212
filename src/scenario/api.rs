//! What a scenario may call: `member(name)` and the member's actions and
//! views, `reload()`, `assert_eq` and `assert`.
//!
//! Scenarios run on the runner's own thread with their own engine; each
//! action blocks on the async world (`Handle::block_on`) until the service
//! settled, so a scenario reads like a story with no waiting in it.

use super::diff::explain_difference;
use super::world::World;
use super::ScenarioError;
use crate::script::defs;
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position};
use serde_json::{json, Map as JsonMap, Value};
use std::cell::RefCell;
use std::rc::Rc;
use tokio::runtime::Handle;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// The world of the test being run, shared by every registered function.
pub struct Ctx {
    /// `None` for an engine that is only described (`definitions`).
    pub handle: Option<Handle>,
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
    pub(super) fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut World) -> Result<T, ScenarioError>,
    ) -> Fallible<T> {
        let mut guard = self.world.borrow_mut();
        let (world, handle) = guard.as_mut().zip(self.handle.as_ref()).ok_or_else(|| {
            fail("no test is running (member actions belong in test_* functions)")
        })?;
        handle.block_on(f(world)).map_err(|e| match e {
            ScenarioError::TestTimeout(_) => crate::script::TestBudget::time_is_up(),
            other => fail(other.to_string()),
        })
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
    let engine = described_engine();
    let mut table: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (name, n) in crate::script::lint::registered(&engine, false) {
        table.entry(name).or_default().push(n);
    }
    table.into_iter().collect()
}

/// A scenario engine to describe, not to run (no world, no runtime).
fn described_engine() -> Engine {
    defs::described(|| {
        let mut engine = Engine::new();
        let ctx = Rc::new(Ctx {
            handle: None,
            world: RefCell::new(None),
        });
        register(&mut engine, &ctx);
        engine
    })
}

/// What a scenario may call, as a `.d.rhai` file for editors (see
/// `script::defs`), and how many functions it describes.
pub fn definitions(preamble: &str) -> Result<(String, usize), serde_json::Error> {
    defs::render(&described_engine(), preamble)
}

pub fn register(engine: &mut Engine, ctx: &Rc<Ctx>) {
    engine.register_type_with_name::<Member>("Member");
    defs::register_get(
        engine,
        "name",
        "member",
        "The member's name.",
        |m: &mut Member| m.name.to_string(),
    );
    defs::register_fn(
        engine,
        "to_string",
        ["member"],
        "The member's name.",
        |m: &mut Member| m.name.to_string(),
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "bot",
        ["name", "script"],
        "A user-mode bot as a member: a second host runs `script` (a path relative to the \
         service directory) as the user `name`, joined to the channel. Every step also waits \
         for the bot to settle; its timers do not follow `advance`.",
        move |name: &str, script: &str| -> Fallible<Member> {
            c.with(async |w| w.add_bot(name, script).await)?;
            Ok(Member { name: name.into() })
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "member",
        ["name"],
        "A simulated member of the test's channel `lobby` (created on first use, not yet \
         joined).",
        move |name: &str| -> Fallible<Member> {
            c.with(async |w| {
                w.control().create_user(name);
                Ok(())
            })?;
            Ok(Member { name: name.into() })
        },
    );
    register_actions(engine, ctx);
    register_views(engine, ctx);
    register_controls(engine, ctx);
    super::operator::register(engine, ctx);
    register_checks(engine);
}

/// What a member does. Each returns once the service settled.
fn register_actions(engine: &mut Engine, ctx: &Rc<Ctx>) {
    for (action, doc) in [
        (
            "join",
            "The member joins the channel (the service gets a join, then a refresh).",
        ),
        ("leave", "The member leaves the channel."),
        (
            "refresh",
            "The member's client asks for the channel's view again.",
        ),
    ] {
        let c = ctx.clone();
        defs::register_fn(engine, action, ["member"], doc, move |m: &mut Member| {
            c.act(m, action, JsonMap::new())
        });
    }
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "say",
        ["member", "text"],
        "The member sends a text message to everyone in the channel.",
        move |m: &mut Member, text: &str| {
            let mut f = JsonMap::new();
            f.insert("text".into(), json!(text));
            c.act(m, "message", f)
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "say",
        ["member", "text", "to"],
        "The member sends a text message to the named members or agents (names or members).",
        move |m: &mut Member, text: &str, to: Array| {
            let mut f = JsonMap::new();
            f.insert("text".into(), json!(text));
            f.insert("recipients".into(), Value::Array(names(&to)?));
            c.act(m, "message", f)
        },
    );
    register_clicks(engine, ctx);
}

fn register_clicks(engine: &mut Engine, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "click",
        ["member", "button_id"],
        "The member clicks a button.",
        move |m: &mut Member, button: &str| {
            c.act(m, "button_click", click_fields(button, None, None)?)
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "click",
        ["member", "button_id", "values"],
        "The member clicks a button and submits its dialog with `values`: `#{label: value}`.",
        move |m: &mut Member, button: &str, args: Map| {
            c.act(m, "button_click", click_fields(button, Some(args), None)?)
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "click",
        ["member", "button_id", "values", "bottom_button_id"],
        "The member clicks a button and submits its dialog with `values` through the bottom \
         button `bottom_button_id`.",
        move |m: &mut Member, button: &str, args: Map, bottom: &str| {
            c.act(
                m,
                "button_click",
                click_fields(button, Some(args), Some(bottom))?,
            )
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "menu_click",
        ["member", "menu_item_id", "message_index"],
        "The member chooses a right-click menu item on the message it received at \
         `message_index` (0: the first).",
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
}
/// What a member sees.
fn register_views(engine: &mut Engine, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "sees",
        ["member"],
        "The names in the member's character list, in order.",
        move |m: &mut Member| -> Fallible<Array> {
            let view = c.view(m)?;
            Ok(strings(view.characters.into_iter().map(|ch| ch.name)))
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "buttons",
        ["member"],
        "The ids of the buttons the member sees.",
        move |m: &mut Member| -> Fallible<Array> {
            let view = c.view(m)?;
            let ids = view.buttons.iter().filter_map(|b| b["button_id"].as_str());
            Ok(strings(ids.map(str::to_string)))
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "messages",
        ["member"],
        "Every message the member received, oldest first: `[#{from, text, subtype}]` (`from`: \
         the sender's name).",
        move |m: &mut Member| -> Fallible<Array> { Ok(messages(c.view(m)?)) },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "menu",
        ["member"],
        "The ids of the right-click menu items the member has.",
        move |m: &mut Member| -> Fallible<Array> {
            let view = c.view(m)?;
            let ids = view.menu.iter().filter_map(|b| b["menu_item_id"].as_str());
            Ok(strings(ids.map(str::to_string)))
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "canvas",
        ["member"],
        "The canvas items the member sees: `[#{text, path}]`.",
        move |m: &mut Member| -> Fallible<Array> {
            let view = c.view(m)?;
            Ok(view
                .canvas
                .iter()
                .map(|v| rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT))
                .collect())
        },
    );
}

fn messages(view: crate::sandbox::View) -> Array {
    view.messages
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
        .collect()
}

/// What the test controls besides members: reloads, the clock, the network.
fn register_controls(engine: &mut Engine, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "reload",
        [],
        "Re-reads the service's scripts from disk through the host's hot-reload path (`this` \
         kept, `on_reload` called); a compile error fails the test.",
        move || -> Fallible<()> { c.with(async |w| w.reload().await) },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "restart",
        [],
        "Stops the host as SIGTERM would and starts a new one on the same sandbox: the stores \
         keep their data, `this` starts afresh, and the start-up handlers run again.",
        move || -> Fallible<()> { c.with(async |w| w.restart().await) },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "expect_error",
        ["part"],
        "This test expects a handler error containing `part`: such errors do not fail it, and \
         the test fails if none happens.",
        move |part: &str| -> Fallible<()> {
            c.with(async |w| {
                w.expect_error(part);
                Ok(())
            })
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "advance",
        ["ms"],
        "Moves the test's clock `ms` milliseconds: every timer due on the way fires, one at a \
         time and in due order, settling after each. Timers never fire on their own in a test.",
        move |ms: i64| -> Fallible<()> {
            let ms = u64::try_from(ms).map_err(|_| fail(format!("advance: {ms} is negative")))?;
            c.with(async |w| w.advance(ms).await)
        },
    );
    let c = ctx.clone();
    defs::register_fn(
        engine,
        "respond",
        ["url", "answer"],
        "Answers the service's `request`s to `url` (a trailing `*` matches a prefix; the latest \
         match wins) with `answer`: `#{status, json | text, headers, error}`. A request nothing \
         matches gets a response with an `error`: tests never reach the network.",
        move |pattern: &str, answer: Map| -> Fallible<()> {
            let answer: Value = rhai::serde::from_dynamic(&Dynamic::from_map(answer))
                .map_err(|e| fail(format!("respond: {e}")))?;
            c.with(async |w| w.respond(pattern, &answer).map_err(ScenarioError::Usage))
        },
    );
}

fn register_checks(engine: &mut Engine) {
    defs::register_fn(
        engine,
        "assert_eq",
        ["left", "right"],
        "Fails the test unless both are equal, showing both values and each differing element.",
        |left: Dynamic, right: Dynamic| -> Fallible<()> {
            match explain_difference(&left, &right) {
                None => Ok(()),
                Some(why) => Err(fail(why)),
            }
        },
    );
    defs::register_fn(
        engine,
        "assert",
        ["condition", "message"],
        "Fails the test with `message` unless `condition` is true.",
        |cond: bool, msg: &str| -> Fallible<()> {
            if cond {
                Ok(())
            } else {
                Err(fail(format!("assertion failed: {msg}")))
            }
        },
    );
    defs::register_fn(
        engine,
        "assert",
        ["condition"],
        "Fails the test unless `condition` is true.",
        |cond: bool| -> Fallible<()> {
            if cond {
                Ok(())
            } else {
                Err(fail("assertion failed"))
            }
        },
    );
}
