//! Warnings for calls to functions nobody defines: `send_mesage(..)` for
//! `send_message(..)`. Rhai compiles any name (a function could be
//! registered later), so a typo fails only when its line runs, as
//! "Function not found"; `check` finds it first, with the nearest name.
//!
//! Only plain calls (`f(..)`) are judged: a method call (`x.len()`,
//! `this.f()`) may reach a function pointer stored in a map property, and a
//! namespaced call (`m::f()`) is the imported module's to answer.

use super::names::{self, Callable};
use super::Diagnostic;
use rhai::{ASTNode, Expr, Stmt, AST};

/// The warnings for plain calls in `ast` to names that neither `callable`
/// nor the file itself defines.
pub fn lint_unknown_calls(ast: &AST, path: &str, callable: Callable) -> Vec<Diagnostic> {
    let own = names::own_functions(ast);
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let found = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, *pos)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, *pos)),
            _ => None,
        };
        let Some((call, pos)) = found else {
            return true;
        };
        let name = call.name.as_str();
        let plain = call.namespace.is_empty()
            && call.op_token.is_none()
            && rhai::is_valid_function_name(name);
        if plain && !callable.knows(name, &own) {
            out.push(Diagnostic::warning_at(
                path,
                pos,
                format!(
                    "{name} is not a function (not Rhai's, {}, nor {}){}",
                    callable.provider(),
                    callable.scripts(),
                    callable.did_you_mean(name, &own)
                ),
            ));
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
        lint_unknown_calls(&ast, "s.rhai", Callable::service())
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn a_misspelled_host_function_is_found_with_a_suggestion() {
        let src = "fn on_join(a) {\n  send_mesage(a.channel_id, \"hi\", [a.sender], a.sender);\n}";
        assert_eq!(warnings(src), [
            "s.rhai:2:3: warning: send_mesage is not a function (not Rhai's, the host's, nor this file's); did you mean `send_message`?",
        ]);
    }

    #[test]
    fn what_exists_is_not_flagged() {
        let src = r#"
import "util" as u;
fn helper(x) { x * 2 }
fn on_start() {
    let a = [3, 1, 2];
    a.sort();
    let n = a.len() + len("abc") + helper(2) + u::f(1);
    let f = Fn("helper");
    let g = |x| x + n;
    let r = f.call(1) + call(f, 2) + g.call(3);
    let h = f.curry(1);
    print(type_of(h));
    debug(is_def_var("n"));
    if is_def_fn("helper", 1) { this.x = `${n}`; }
    for i in 0..3 { this.y = i in a; }
    send_message(#{channel_id: "c", text: "t"});
    this.z = parse_int("1") + abs(-1) + now_ms();
}
"#;
        assert_eq!(warnings(src), Vec::<String>::new());
    }

    #[test]
    fn scenario_files_know_the_scenario_functions_not_the_hosts() {
        let src =
            "fn test_a() {\n  let alice = member(\"alice\");\n  send_message(1);\n  spel(1);\n}";
        let ast = rhai::Engine::new().compile(src).unwrap();
        let extra = [
            ("member".to_string(), vec![1]),
            ("spell".to_string(), vec![1]),
        ];
        let got: Vec<String> = lint_unknown_calls(&ast, "t.rhai", Callable::scenario(&extra))
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(got, [
            "t.rhai:3:3: warning: send_message is not a function (not Rhai's, a scenario's, nor this file's)",
            "t.rhai:4:3: warning: spel is not a function (not Rhai's, a scenario's, nor this file's); did you mean `spell`?",
        ]);
    }
}
