//! Warnings for calls to the script's own functions that compile but fail
//! when reached: a call with a number of arguments no definition takes
//! (`Function not found: ask (map, string)`), and a plain call, without
//! `this.`, to a function that uses `this` (`'this' not bound`).
//!
//! Both are the first Rhai pitfall of docs/AUTHORING.md ("Things to know
//! about Rhai"); neither is a parse error, so
//! `moobius-host check` finds them by walking the AST. A call that a native
//! function (the standard library's or the host's) answers with that number
//! of arguments is not the script's: Rhai calls the native one.

use super::Diagnostic;
use rhai::{ASTNode, Expr, Stmt, AST};
use std::collections::HashSet;

fn native_takes(name: &str, n: usize, extra: &[(String, Vec<usize>)]) -> bool {
    let natives = super::names::Callable::service();
    natives.native_counts(name).contains(&n)
        || extra.iter().any(|(e, c)| e == name && c.contains(&n))
}

/// One of the script's own functions, as the lint needs it.
struct OwnFn {
    name: String,
    params: Vec<String>,
    uses_this: bool,
}

fn line_col(pos: rhai::Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

fn own_functions(ast: &AST) -> Vec<OwnFn> {
    // Where `this` appears; a function uses it when one is inside its body.
    let mut this_at = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::ThisPtr(pos))) = nodes.last() {
            this_at.push(line_col(*pos));
        }
        true
    });
    ast.iter_fn_def()
        .map(|f| {
            let body = (
                line_col(f.body.start_position()),
                line_col(f.body.end_position()),
            );
            OwnFn {
                name: f.name.to_string(),
                params: f.params.iter().map(|p| p.to_string()).collect(),
                uses_this: this_at.iter().any(|at| body.0 <= *at && *at <= body.1),
            }
        })
        .collect()
}

/// A call found in the AST: plain `f(..)` or `this.f(..)`.
struct Call<'a> {
    name: &'a str,
    args: usize,
    on_this: bool,
    pos: rhai::Position,
}

fn call_at<'a>(nodes: &[ASTNode<'a>]) -> Option<Call<'a>> {
    let (call, pos, on_this) = match nodes.last()? {
        ASTNode::Expr(Expr::FnCall(call, pos)) => (call, *pos, false),
        ASTNode::Stmt(Stmt::FnCall(call, pos)) => (call, *pos, false),
        ASTNode::Expr(Expr::Dot(dot, _, _)) => match (&dot.lhs, &dot.rhs) {
            (Expr::ThisPtr(_), Expr::MethodCall(call, pos)) => (call, *pos, true),
            _ => return None,
        },
        _ => return None,
    };
    if !call.namespace.is_empty() || call.op_token.is_some() {
        return None;
    }
    Some(Call {
        name: call.name.as_str(),
        args: call.args.len(),
        on_this,
        pos,
    })
}

fn signature(f: &OwnFn) -> String {
    format!("{}({})", f.name, f.params.join(", "))
}

/// What is wrong with `call`, if it is a call to one of `own` that fails.
fn problem(call: &Call, own: &[OwnFn], extra: &[(String, Vec<usize>)]) -> Option<String> {
    let defs: Vec<&OwnFn> = own.iter().filter(|f| f.name == call.name).collect();
    if defs.is_empty() {
        return None;
    }
    // A method call passes `this` as the first argument of a native function.
    let native_args = call.args + usize::from(call.on_this);
    if native_takes(call.name, native_args, extra) {
        return None;
    }
    let Some(def) = defs.iter().find(|f| f.params.len() == call.args) else {
        let takes: Vec<String> = defs.iter().map(|f| signature(f)).collect();
        let n = call.args;
        let word = if n == 1 { "argument" } else { "arguments" };
        return Some(format!(
            "{} is called with {n} {word}, but it is defined as {}",
            call.name,
            takes.join(" and ")
        ));
    };
    if def.uses_this && !call.on_this {
        return Some(format!(
            "{} uses `this`, so call it as `this.{}(..)`: a plain call fails with \"'this' not bound\"",
            call.name, call.name
        ));
    }
    None
}

/// The warnings for calls to `ast`'s own functions. `extra` names native
/// functions that exist beside the standard library and the host's API (a
/// scenario's), with their argument counts.
pub fn lint_own_calls(ast: &AST, path: &str, extra: &[(String, Vec<usize>)]) -> Vec<Diagnostic> {
    let own = own_functions(ast);
    if own.is_empty() {
        return Vec::new();
    }
    let names: HashSet<&str> = own.iter().map(|f| f.name.as_str()).collect();
    let mut out = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(call) = call_at(nodes).filter(|c| names.contains(c.name)) {
            if let Some(message) = problem(&call, &own, extra) {
                out.push(Diagnostic::warning_at(path, call.pos, message));
            }
        }
        true
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhai::Engine;

    fn warnings(src: &str) -> Vec<String> {
        let ast = Engine::new().compile(src).expect("test script compiles");
        lint_own_calls(&ast, "s.rhai", &[])
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn a_plain_call_to_a_function_that_uses_this_is_found() {
        let src = "fn sync_channel(ch) { this.members = ch; }\nfn on_join(a) {\n  sync_channel(a.channel_id);\n  this.sync_channel(a.channel_id);\n}";
        assert_eq!(warnings(src), [
            "s.rhai:3:3: warning: sync_channel uses `this`, so call it as `this.sync_channel(..)`: a plain call fails with \"'this' not bound\"",
        ]);
    }

    #[test]
    fn a_plain_call_to_a_function_without_this_is_fine() {
        let src = "fn double(x) { x * 2 }\nfn on_start() { this.y = double(2); }";
        assert!(warnings(src).is_empty());
    }

    #[test]
    fn wrong_argument_counts_name_the_definition() {
        let src = "fn ask(ch, text) { this.last = text; }\nfn on_start() {\n  this.ask(\"hi\");\n  let n = twice(1, 2);\n}\nfn twice(x) { x * 2 }";
        assert_eq!(warnings(src), [
            "s.rhai:3:8: warning: ask is called with 1 argument, but it is defined as ask(ch, text)",
            "s.rhai:4:11: warning: twice is called with 2 arguments, but it is defined as twice(x)",
        ]);
    }

    #[test]
    fn overloads_and_native_functions_are_respected() {
        // Two definitions: either count is right.
        assert!(warnings("fn f(a) {}\nfn f(a, b) {}\nfn on_start() { f(1); f(1, 2); }").is_empty());
        // `len` with one argument is the standard library's.
        assert!(warnings("fn len(a, b) { 0 }\nfn on_start() { let n = len([1]); }").is_empty());
        // `this.len()` is a method call on the map, also the standard one.
        assert!(warnings("fn len(a, b) { 0 }\nfn on_start() { let n = this.len(); }").is_empty());
    }

    #[test]
    fn extra_natives_count() {
        let src = "fn join(a, b) {}\nfn test_x() { join(\"alice\"); }";
        let ast = Engine::new().compile(src).expect("compiles");
        assert_eq!(lint_own_calls(&ast, "t.rhai", &[]).len(), 1);
        let extra = [("join".to_string(), vec![1])];
        assert!(lint_own_calls(&ast, "t.rhai", &extra).is_empty());
    }
}
