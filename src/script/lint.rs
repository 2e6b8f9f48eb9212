//! Warnings for mistakes that compile but never work: a handler the host
//! will not call (misspelled, or with the wrong number of parameters) and a
//! host function called with a number of arguments it does not take.
//!
//! Both fail silently at run time (an uncalled handler does nothing; a wrong
//! call fails only when reached), so `moobius-host check` finds them first by
//! walking the AST.

use super::{Diagnostic, HANDLERS};
use rhai::{ASTNode, Expr, Stmt, AST};

/// Host functions (`script::api`) and the argument counts they accept.
pub const HOST_FUNCTIONS: &[(&str, &[usize])] = &[
    ("fetch_member_ids", &[1]),
    ("send_characters", &[3]),
    ("create_agent", &[1, 2, 3]),
    ("update_agent", &[2]),
    ("fetch_agents", &[0]),
    ("fetch_character_profile", &[1]),
    ("send_buttons", &[3]),
    ("send_canvas", &[3]),
    ("send_menu", &[3]),
    ("send_style", &[3]),
    ("update_channel_info", &[2]),
    ("send_message", &[1, 4]),
    ("fetch_channel_list", &[0]),
    ("create_channel", &[2]),
    ("fetch_message_history", &[1, 2]),
    ("download", &[1, 2]),
    ("log", &[1, 2]),
];

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

fn warning(path: &str, (line, col): (usize, usize), message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_string(),
        line,
        col,
        message: format!("warning: {message}"),
    }
}

/// The warnings for one compiled file (`source` is its text, for positions).
pub fn lint(ast: &AST, path: &str, source: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let defined: Vec<(String, usize)> = ast
        .iter_functions()
        .map(|f| (f.name.to_string(), f.params.len()))
        .collect();
    for (name, arity) in &defined {
        // Found only for a warning: searching for every function would make
        // a large script's check quadratic.
        let at = || fn_position(source, name);
        if let Some((_, want)) = HANDLERS.iter().find(|(h, _)| h == name) {
            if want != arity && !defined.iter().any(|(n, a)| n == name && a == want) {
                out.push(warning(
                    path,
                    at(),
                    format!(
                        "handler {name} takes {}, not {arity}; the host never calls it",
                        plural(*want, "parameter")
                    ),
                ));
            }
            continue;
        }
        match crate::suggest::closest(name, HANDLERS.iter().map(|(h, _)| *h)) {
            Some(h) => out.push(warning(
                path,
                at(),
                format!("{name} is not a handler the host calls; did you mean {h}?"),
            )),
            None if name.starts_with("on_") => out.push(warning(
                path,
                at(),
                format!(
                    "{name} is not a handler the host calls (handlers: {})",
                    HANDLERS
                        .iter()
                        .map(|(h, _)| *h)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => {}
        }
    }
    ast.walk(&mut |nodes: &[ASTNode]| {
        let found = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, *pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, *pos)),
            _ => None,
        };
        if let Some((call, pos)) = found {
            let name = call.name.as_str();
            let n = call.args.len();
            let own = defined.iter().any(|(d, a)| d == name && *a == n);
            let host = HOST_FUNCTIONS.iter().find(|(h, _)| *h == name);
            if let (Some((_, takes)), true, false) = (host, call.namespace.is_empty(), own) {
                if !takes.contains(&n) {
                    let at = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
                    out.push(warning(
                        path,
                        at,
                        format!("{name} takes {} arguments, not {n}", counts(takes)),
                    ));
                }
            }
        }
        true
    });
    out.sort_by_key(|d| (d.line, d.col));
    out
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
    fn own_functions_shadow_host_functions() {
        assert!(warnings("fn log(a, b, c) {}\nfn on_start() { log(1, 2, 3); }").is_empty());
    }
}
