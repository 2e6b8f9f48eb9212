//! Warnings for mistakes that compile but never work: a handler the host
//! will not call (misspelled, or with the wrong number of parameters), a
//! host function called with a number of arguments it does not take, and
//! (in [`super::lint_calls`]) a bad call to the script's own functions.
//!
//! Both fail silently at run time (an uncalled handler does nothing; a wrong
//! call fails only when reached), so `moobius-host check` finds them first by
//! walking the AST.

use super::{Diagnostic, HANDLERS};
use rhai::{ASTNode, Engine, Expr, Stmt, AST};
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

/// Host functions (`script::api`) and the argument counts they accept, read
/// from the engine itself so the table cannot drift from the API: every
/// function the script API registers under a name that Rhai's standard
/// library does not also use (a standard name may take other counts).
pub fn host_functions() -> &'static [(String, Vec<usize>)] {
    static TABLE: OnceLock<Vec<(String, Vec<usize>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let standard: HashSet<String> = registered(&Engine::new(), true)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let engine = super::defs::api_engine();
        let mut table: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (name, params) in registered(&engine, false) {
            let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain && !standard.contains(&name) {
                table.entry(name).or_default().push(params);
            }
        }
        table
            .into_iter()
            .map(|(name, mut counts)| {
                counts.sort_unstable();
                counts.dedup();
                (name, counts)
            })
            .collect()
    })
}

/// Host functions that call a script function back by name (`request`,
/// `after`, `every`) and the position of that argument: those whose
/// parameter is named `callback`, read from the engine like
/// [`host_functions`].
pub(super) fn callback_params() -> &'static [(String, usize)] {
    static TABLE: OnceLock<Vec<(String, usize)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: Vec<(String, usize)> =
            super::defs::functions(&super::defs::api_engine(), false)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| {
                    let at = f
                        .params
                        .iter()
                        .position(|p| p.name.as_deref() == Some("callback"))?;
                    Some((f.name, at))
                })
                .collect();
        table.sort();
        table.dedup();
        table
    })
}

/// The functions a script names as callbacks: `request(spec, "answer")`,
/// `every(10, Fn("tick"))`. The host calls them, so they are not
/// misspelled handlers whatever their name.
fn named_callbacks(ast: &AST) -> HashSet<String> {
    let mut names = HashSet::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let call = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _))) => call,
            Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => call,
            _ => return true,
        };
        let takes = callback_params()
            .iter()
            .filter(|(n, _)| n == call.name.as_str());
        for (_, at) in takes {
            if let Some(name) = call.args.get(*at).and_then(function_named) {
                names.insert(name);
            }
        }
        true
    });
    names
}

/// The function an argument names: a string, or `Fn("name")`.
fn function_named(arg: &Expr) -> Option<String> {
    match arg {
        Expr::StringConstant(s, _) => Some(s.to_string()),
        Expr::FnCall(call, _) if call.name.as_str() == "Fn" && call.args.len() == 1 => {
            function_named(&call.args[0])
        }
        Expr::DynamicConstant(v, _) => v
            .read_lock::<rhai::FnPtr>()
            .map(|p| p.fn_name().to_string()),
        _ => None,
    }
}

/// (name, parameter count) of the functions an engine has registered, with
/// the standard library's or without.
pub fn registered(engine: &Engine, standard: bool) -> Vec<(String, usize)> {
    super::defs::functions(engine, standard)
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.name, f.num_params))
        .collect()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn counts(list: &[usize]) -> String {
    let words: Vec<String> = list.iter().map(usize::to_string).collect();
    match words.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// Line and column (1-based) of `fn NAME` in `source`, or (0, 0).
pub fn fn_position(source: &str, name: &str) -> (usize, usize) {
    let head = format!("fn {name}");
    let found = source.match_indices(&head).map(|(i, _)| i).find(|i| {
        let next = source[i + head.len()..].chars().next();
        next.is_some_and(|c| c == '(' || c.is_whitespace())
    });
    let Some(at) = found else { return (0, 0) };
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// The warnings for one compiled file (`source` is its text, for positions).
pub fn lint(ast: &AST, path: &str, source: &str) -> Vec<Diagnostic> {
    lint_with_stores(ast, path, source, None)
}

/// [`lint`], and with `stores` (the names `db_config` lists, when the
/// service has one) a warning for each `store(channel, "name")` whose name
/// it does not list: under `run` that is an embedded store of its own, most
/// often a misspelling.
pub fn lint_with_stores(
    ast: &AST,
    path: &str,
    source: &str,
    stores: Option<&[String]>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let defined: Vec<(String, usize)> = ast
        .iter_functions()
        .map(|f| (f.name.to_string(), f.params.len()))
        .collect();
    let callbacks = named_callbacks(ast);
    for (name, arity) in &defined {
        // Found only for a warning: searching for every function would make
        // a large script's check quadratic.
        let at = || fn_position(source, name);
        if let Some(handler) = super::handler_named(name) {
            let want = handler.arity();
            if want != *arity && !defined.iter().any(|(n, a)| n == name && *a == want) {
                out.push(Diagnostic::warning(
                    path,
                    at(),
                    format!(
                        "handler {name} takes {}, not {arity}; the host never calls it",
                        plural(want, "parameter")
                    ),
                ));
            }
            continue;
        }
        if callbacks.contains(name) {
            continue;
        }
        match crate::suggest::closest(name, HANDLERS.iter().map(|h| h.name)) {
            Some(h) => out.push(Diagnostic::warning(
                path,
                at(),
                format!("{name} is not a handler the host calls; did you mean {h}?"),
            )),
            None if name.starts_with("on_") => out.push(Diagnostic::warning(
                path,
                at(),
                format!(
                    "{name} is not a handler the host calls (handlers: {})",
                    HANDLERS
                        .iter()
                        .map(|h| h.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => {}
        }
    }
    let own_functions: HashSet<(&str, usize)> =
        defined.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let found = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, *pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, *pos)),
            _ => None,
        };
        if let Some((call, pos)) = found {
            let name = call.name.as_str();
            let n = call.args.len();
            let own = own_functions.contains(&(name, n));
            if let (Some(known), "store", 2, false) = (stores, name, n, own) {
                if let Some(w) = unlisted_store(path, pos, &call.args[1], known) {
                    out.push(w);
                }
            }
            let host = host_functions().iter().find(|(h, _)| h == name);
            if let (Some((_, takes)), true, false) = (host, call.namespace.is_empty(), own) {
                if !takes.contains(&n) {
                    let at = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
                    out.push(Diagnostic::warning(
                        path,
                        at,
                        format!("{name} takes {} arguments, not {n}", counts(takes)),
                    ));
                }
            }
        }
        true
    });
    out.extend(super::lint_calls::lint_own_calls(ast, path, &[]));
    out.sort_by_key(|d| (d.line, d.col));
    out
}

/// The warning for `store(_, "name")` when `db_config` does not list the name.
fn unlisted_store(
    path: &str,
    pos: rhai::Position,
    arg: &Expr,
    known: &[String],
) -> Option<Diagnostic> {
    let Expr::StringConstant(name, at) = arg else {
        return None;
    };
    if known.iter().any(|k| k == name.as_str()) {
        return None;
    }
    let hint = crate::suggest::did_you_mean(name, known.iter().map(String::as_str));
    let listed = if known.is_empty() {
        "no stores".to_string()
    } else {
        known
            .iter()
            .map(|k| format!("{k:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let place = if at.is_none() { pos } else { *at };
    Some(Diagnostic::warning(
        path,
        (place.line().unwrap_or(0), place.position().unwrap_or(0)),
        format!(
            "store {name:?} is not in db_config (it lists {listed}), so under run it is an embedded store of its own{hint}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(src: &str) -> Vec<String> {
        let ast = rhai::Engine::new().compile(src).unwrap();
        lint(&ast, "s.rhai", src)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn misspelled_handlers_get_a_suggestion() {
        let src = "fn on_joined(a) {}\nfn on_refreshs(a) {}\nfn before_channel_inits() {}\nfn helper() {}\nfn onMessageUp(m) {}";
        assert_eq!(warnings(src), [
            "s.rhai:1:1: warning: on_joined is not a handler the host calls; did you mean on_join?",
            "s.rhai:2:1: warning: on_refreshs is not a handler the host calls; did you mean on_refresh?",
            "s.rhai:3:1: warning: before_channel_inits is not a handler the host calls; did you mean before_channel_init?",
            "s.rhai:5:1: warning: onMessageUp is not a handler the host calls; did you mean on_message_up?",
        ]);
    }

    #[test]
    fn wrong_arity_handlers_and_calls() {
        let src = "fn on_join() {}\nfn on_leave(a) {\n  create_agent(\"a\", \"b\", \"c\", \"d\");\n  send_message(1, 2);\n}";
        assert_eq!(warnings(src), [
            "s.rhai:1:1: warning: handler on_join takes 1 parameter, not 0; the host never calls it",
            "s.rhai:3:3: warning: create_agent takes 1, 2 or 3 arguments, not 4",
            "s.rhai:4:3: warning: send_message takes 1 or 4 arguments, not 2",
        ]);
    }

    #[test]
    fn the_host_function_table_comes_from_the_engine() {
        let table = host_functions();
        let takes = |name: &str| {
            table
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.clone())
        };
        assert_eq!(takes("send_characters"), Some(vec![3]));
        assert_eq!(takes("create_agent"), Some(vec![1, 2, 3]));
        assert_eq!(takes("send_message"), Some(vec![1, 4]));
        assert_eq!(takes("fetch_message_history"), Some(vec![1, 2]));
        assert_eq!(
            takes("store"),
            Some(vec![2]),
            "the hand-kept table missed it"
        );
        // Standard names are left to Rhai, whatever the API adds to them.
        assert_eq!(takes("index_of"), None);
        assert_eq!(takes("contains"), None);
        for (name, counts) in table {
            assert!(!counts.is_empty(), "{name}");
        }
    }

    #[test]
    fn store_names_db_config_does_not_list_are_warned_about() {
        let src =
            "fn on_start() {\n  let s = store(\"ch\", \"score\");\n  store(\"ch\", \"scores\");\n}";
        let ast = rhai::Engine::new().compile(src).unwrap();
        let known = ["scores".to_string()];
        let got: Vec<String> = lint_with_stores(&ast, "s.rhai", src, Some(&known))
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("s.rhai:2:"), "{got:?}");
        assert!(
            got[0].contains("store \"score\" is not in db_config"),
            "{got:?}"
        );
        assert!(got[0].contains("did you mean `scores`"), "{got:?}");
        assert!(
            lint(&ast, "s.rhai", src).is_empty(),
            "no db_config: no warning"
        );
    }

    #[test]
    fn functions_named_as_callbacks_are_not_misspelled_handlers() {
        let src = "fn on_start() {\n  request(#{url: \"https://x.y/\"}, \"on_resp\");\n  every(10, Fn(\"on_tick\"));\n}\nfn on_resp(r) {}\nfn on_tick() {}\nfn on_joins(a) {}";
        assert_eq!(
            warnings(src),
            ["s.rhai:7:1: warning: on_joins is not a handler the host calls; did you mean on_join?"]
        );
    }

    #[test]
    fn own_functions_shadow_host_functions() {
        assert!(warnings("fn log(a, b, c) {}\nfn on_start() { log(1, 2, 3); }").is_empty());
    }
}
