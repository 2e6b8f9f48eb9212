//! Rhai's "Function not found" in the author's terms. Rhai prints the
//! name and the types of the values it was given, counting the object of a
//! method call as one (`tally_text (map, map)` for `this.tally_text(poll)`),
//! and nothing of what does exist. Here the message shows the call as
//! written and the definitions of that name (`tally_text(poll) called;
//! defined: tally_text(channel_id, poll)`), or, when nothing has that
//! name, the nearest one that does (`did you mean `send_message`?`).

use super::names::{self, Callable};
use rhai::{EvalAltResult, Position};

/// How long the call as written may be shown before it is cut.
const SHOWN_CALL_CHARS: usize = 80;

/// The message for `err` when it is "Function not found" (`None` for any
/// other error). `source` is the text of the file the call is in, when it
/// can be read.
pub fn explain(err: &EvalAltResult, source: Option<&str>, callable: Callable) -> Option<String> {
    let EvalAltResult::ErrorFunctionNotFound(signature, pos) = err else {
        return None;
    };
    let (name, types) = match signature.split_once(" (") {
        Some((name, rest)) => (name, rest.strip_suffix(')').unwrap_or(rest)),
        None => (signature.as_str(), ""),
    };
    let types = super::diagnostic::in_rhai_terms(&format!("Function not found: {name} ({types})"));
    let rhai_said = types.clone();
    if name.contains("::") {
        return Some(rhai_said);
    }
    let ast = source.and_then(|s| super::syntax_engine().compile(s).ok());
    let own = ast.as_ref().map(names::own_functions).unwrap_or_default();
    let mut defined = ast
        .as_ref()
        .map(|a| names::own_signatures(a, name))
        .unwrap_or_default();
    defined.extend(callable.native_signatures(name));
    if defined.is_empty() {
        return Some(format!("{rhai_said}{}", callable.did_you_mean(name, &own)));
    }
    let given = types
        .split_once(" (")
        .map(|(_, t)| t.strip_suffix(')').unwrap_or(t).to_string())
        .unwrap_or_default();
    let written = source.and_then(|s| call_as_written(s, *pos, name));
    let called = match &written {
        Some(call) => format!("{call} called"),
        None => format!("{name} called with ({given})"),
    };
    // Same count as a native: the types are what is wrong, so show them.
    let count = if given.is_empty() {
        0
    } else {
        super::diagnostic::split_args(&given).len()
    };
    let typed = if written.is_some() && callable.native_counts(name).contains(&count) {
        format!(" with ({given})")
    } else {
        String::new()
    };
    Some(format!(
        "Function not found: {called}{typed}; defined: {}",
        defined.join(", ")
    ))
}

/// The text of the call to `name` at `pos` in `source`, from its name to
/// its closing parenthesis (cut at [`SHOWN_CALL_CHARS`]).
fn call_as_written(source: &str, pos: Position, name: &str) -> Option<String> {
    let (line, col) = (pos.line()?, pos.position()?);
    let start_of_line: usize = source
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let text = source.get(start_of_line..)?;
    let at: usize = text.chars().take(col - 1).map(char::len_utf8).sum();
    // Rhai points at the name, or at the `.` before a method's name.
    let rest = text.get(at..)?.trim_start_matches('.');
    let after = rest.strip_prefix(name)?.trim_start();
    if !after.starts_with('(') {
        return None;
    }
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    for (i, c) in after.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '`' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let call = format!("{name}{}", &after[..=i]);
                    return Some(shortened(&call));
                }
            }
            _ => {}
        }
    }
    None
}

/// `call` on one line, cut to [`SHOWN_CALL_CHARS`] characters.
fn shortened(call: &str) -> String {
    let one_line = call.split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line = one_line.replace("( ", "(").replace(" )", ")");
    if one_line.chars().count() <= SHOWN_CALL_CHARS {
        return one_line;
    }
    let cut: String = one_line.chars().take(SHOWN_CALL_CHARS - 4).collect();
    format!("{cut}...)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(src: &str, handler: &str) -> Box<EvalAltResult> {
        let mut engine = super::super::defs::api_engine();
        engine.set_max_expr_depths(0, 0);
        let ast = engine.compile(src).expect("compiles");
        let mut this = rhai::Dynamic::from_map(rhai::Map::new());
        let options = rhai::CallFnOptions::new().bind_this_ptr(&mut this);
        let args = vec![rhai::Dynamic::from_map(rhai::Map::new())];
        engine
            .call_fn_with_options::<rhai::Dynamic>(
                options,
                &mut rhai::Scope::new(),
                &ast,
                handler,
                args,
            )
            .expect_err("fails")
    }

    fn innermost(mut e: &EvalAltResult) -> &EvalAltResult {
        while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = e {
            e = inner;
        }
        e
    }

    fn explained(src: &str) -> String {
        let e = error_of(src, "on_join");
        explain(innermost(&e), Some(src), Callable::service()).expect("not found")
    }

    #[test]
    fn a_method_call_shows_the_call_and_the_definitions() {
        let src = "fn tally_text(channel_id, poll) { 1 }\nfn on_join(a) {\n    let poll = #{};\n    this.tally_text(poll);\n}";
        assert_eq!(
            explained(src),
            "Function not found: tally_text(poll) called; defined: tally_text(channel_id, poll)"
        );
    }

    #[test]
    fn a_typo_gets_a_suggestion() {
        let src = "fn on_join(a) {\n    send_mesage(\"c\", \"hi\", [], \"me\");\n}";
        assert_eq!(
            explained(src),
            "Function not found: send_mesage (string, string, array, string); did you mean `send_message`?"
        );
    }

    #[test]
    fn a_native_with_the_wrong_types_shows_them() {
        let src = "fn on_join(a) {\n    let n = parse_int(\n        [1]);\n}";
        assert_eq!(
            explained(src),
            "Function not found: parse_int([1]) called with (array); defined: parse_int(string), parse_int(string, radix)"
        );
    }

    #[test]
    fn long_calls_are_cut() {
        let long = format!("f({})", "x, ".repeat(40));
        let cut = shortened(&long);
        assert_eq!(cut.chars().count(), SHOWN_CALL_CHARS);
        assert!(cut.ends_with("...)"), "{cut}");
    }
}
