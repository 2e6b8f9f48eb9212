//! Warnings for callbacks named by a string that no script function
//! answers: `after(60000, "close_pol", ch)` where the script defines
//! `close_poll`, or `request(spec, "on_resp")` where `on_resp` takes no
//! parameter. At run time the host only logs that it dropped the call
//! (`the script defines no function close_pol(1 argument(s)); dropped`), so
//! `check` finds it first, with the nearest name.
//!
//! Only a literal name is judged (`"name"` or `Fn("name")`); a name built
//! at run time is left to run time.

use super::Diagnostic;
use rhai::{ASTNode, Expr, Position, Stmt, AST};

/// A function the service's scripts define: its name and parameters.
#[derive(Debug, Clone)]
pub struct ScriptFn {
    pub name: String,
    pub params: Vec<String>,
}

/// The functions `ast` defines (closures' hidden names left out).
pub fn script_functions(ast: &AST) -> Vec<ScriptFn> {
    ast.iter_functions()
        .filter(|f| rhai::is_valid_function_name(f.name))
        .map(|f| ScriptFn {
            name: f.name.to_string(),
            params: f.params.iter().map(|p| p.to_string()).collect(),
        })
        .collect()
}

/// The literal function name an argument gives, with where it is written.
fn literal_name(arg: &Expr) -> Option<(String, Position)> {
    match arg {
        Expr::StringConstant(s, pos) => Some((s.to_string(), *pos)),
        Expr::FnCall(call, _) if call.name.as_str() == "Fn" && call.args.len() == 1 => {
            literal_name(&call.args[0])
        }
        Expr::DynamicConstant(v, pos) => v
            .read_lock::<rhai::FnPtr>()
            .filter(|p| !p.is_curried() && !p.is_anonymous())
            .map(|p| (p.fn_name().to_string(), *pos)),
        _ => None,
    }
}

/// How many arguments the host calls the callback of `host_fn` with, when
/// it is called with `args` arguments of which the callback is at `at`:
/// the arguments after the name, and a request's response first.
fn callback_arity(host_fn: &str, args: usize, at: usize) -> usize {
    let extra = args.saturating_sub(at + 1);
    extra + usize::from(host_fn == "request")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The warnings for the callbacks `ast` names that `functions` (every
/// function of the service's scripts) does not answer.
pub fn lint_callbacks(ast: &AST, path: &str, functions: &[ScriptFn]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let (call, call_pos) = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => (call, *pos),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => (call, *pos),
            _ => return true,
        };
        let host_fn = call.name.as_str();
        let n = call.args.len();
        if !call.namespace.is_empty()
            || functions
                .iter()
                .any(|f| f.name == host_fn && f.params.len() == n)
        {
            // A module's function, or the script's own of that name.
            return true;
        }
        let takes = super::lint::callback_params()
            .iter()
            .filter(|(name, _)| name == host_fn)
            .map(|(_, at)| *at);
        let native = super::names::host()
            .get(host_fn)
            .is_some_and(|f| f.counts.contains(&n));
        for at in takes {
            let Some((name, pos)) = call.args.get(at).and_then(literal_name) else {
                continue;
            };
            if !native || !rhai::is_valid_function_name(&name) {
                continue;
            }
            let arity = callback_arity(host_fn, n, at);
            let defs: Vec<&ScriptFn> = functions.iter().filter(|f| f.name == name).collect();
            let message = if defs.is_empty() {
                let hint = crate::suggest::did_you_mean(
                    &name,
                    functions.iter().map(|f| f.name.as_str()),
                );
                format!(
                    "{host_fn} calls back {name:?}, but no script function has that name, so it is never called{hint}"
                )
            } else if defs.iter().any(|f| f.params.len() == arity) {
                continue;
            } else {
                let mut signatures: Vec<String> = defs
                    .iter()
                    .map(|f| format!("{}({})", f.name, f.params.join(", ")))
                    .collect();
                signatures.sort();
                signatures.dedup();
                format!(
                    "{host_fn} calls back {name:?} with {}, but it is defined as {}, so it is never called",
                    plural(arity, "argument"),
                    signatures.join(" and ")
                )
            };
            let place = if pos.is_none() { call_pos } else { pos };
            out.push(Diagnostic::warning_at(path, place, message));
        }
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(src: &str) -> Vec<String> {
        let ast = rhai::Engine::new()
            .compile(src)
            .expect("test script compiles");
        lint_callbacks(&ast, "s.rhai", &script_functions(&ast))
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn misspelled_callbacks_are_found_with_a_suggestion() {
        let src = "fn on_start() {\n  after(60000, \"close_pol\", 1);\n  request(#{url: \"https://x.y/\"}, \"postd\");\n  every(10, Fn(\"tik\"));\n}\nfn close_poll(ch) {}\nfn posted(r) {}\nfn tick() {}";
        assert_eq!(warnings(src), [
            "s.rhai:2:16: warning: after calls back \"close_pol\", but no script function has that name, so it is never called; did you mean `close_poll`?",
            "s.rhai:3:35: warning: request calls back \"postd\", but no script function has that name, so it is never called; did you mean `posted`?",
            "s.rhai:4:13: warning: every calls back \"tik\", but no script function has that name, so it is never called; did you mean `tick`?",
        ]);
    }

    #[test]
    fn callbacks_with_the_wrong_number_of_parameters_are_found() {
        let src = "fn on_start() {\n  after(10, \"close\");\n  request(#{url: \"https://x.y/\"}, \"got\", 1);\n}\nfn close(ch) {}\nfn got(r) {}";
        assert_eq!(warnings(src), [
            "s.rhai:2:13: warning: after calls back \"close\" with 0 arguments, but it is defined as close(ch), so it is never called",
            "s.rhai:3:35: warning: request calls back \"got\" with 2 arguments, but it is defined as got(r), so it is never called",
        ]);
    }

    #[test]
    fn right_callbacks_and_names_built_at_run_time_are_not_flagged() {
        let src = "fn on_start() {\n  after(10, \"close\", 1);\n  every(10, Fn(\"tick\"));\n  request(#{url: \"u\"}, \"got\");\n  request(#{url: \"u\"}, \"got2\", 1);\n  let f = \"cl\" + \"ose\";\n  after(10, f, 1);\n}\nfn close(ch) {}\nfn tick() {}\nfn got(r) {}\nfn got2(r, c) {}";
        assert_eq!(warnings(src), Vec::<String>::new());
    }

    #[test]
    fn a_scripts_own_function_of_that_name_is_not_the_hosts() {
        let src = "fn after(a, b) {}\nfn on_start() { after(1, \"nothing\"); }";
        assert_eq!(warnings(src), Vec::<String>::new());
    }
}
