//! Script errors as one line an editor understands: `path:line:col: message`.
//!
//! Rhai reports a runtime error as a chain of "error in function call"
//! wrappers; the useful position is the innermost one, and the useful file is
//! the innermost one that names a source (imports have their own).

use rhai::{EvalAltResult, ParseError, Position, AST};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

fn line_col(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

/// Where the script function `name` with `arity` parameters is defined in
/// `ast`: the line of its body's opening brace, column 1. For errors Rhai
/// gives no position (a limit that aborted the call): the function that was
/// running is the best place to point at.
pub fn definition_of(ast: &AST, name: &str, arity: usize) -> Option<(usize, usize)> {
    ast.iter_fn_def()
        .find(|f| f.name == name && f.params.len() == arity)
        .and_then(|f| f.body.start_position().line())
        .map(|line| (line, 1))
}

impl Diagnostic {
    /// Points at the definition of `name` (see [`definition_of`]) when the
    /// position is unknown and the error is in `ast`'s own file.
    pub fn or_at_definition(mut self, ast: &AST, name: &str, arity: usize) -> Self {
        if self.line == 0 && ast.source() == Some(self.path.as_str()) {
            if let Some((line, col)) = definition_of(ast, name, arity) {
                (self.line, self.col) = (line, col);
            }
        }
        self
    }

    /// A lint's warning at `line:col` (`warning: ` before the message).
    pub fn warning(path: &str, (line, col): (usize, usize), message: impl fmt::Display) -> Self {
        Diagnostic {
            path: path.to_string(),
            line,
            col,
            message: format!("warning: {message}"),
        }
    }

    /// A lint's warning at a Rhai position (0:0 when it has none).
    pub fn warning_at(path: &str, pos: rhai::Position, message: impl fmt::Display) -> Self {
        let at = (pos.line().unwrap_or(0), pos.position().unwrap_or(0));
        Diagnostic::warning(path, at, message)
    }

    pub fn plain(path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_string(),
            line: 0,
            col: 0,
            message: message.into(),
        }
    }

    pub fn from_parse(path: &str, err: &ParseError) -> Self {
        let (line, col) = line_col(err.position());
        Diagnostic {
            path: path.to_string(),
            line,
            col,
            message: err.err_type().to_string(),
        }
    }

    /// `main_path` is the file of the AST the call started in, `entry` the
    /// handler that was called (for the call chain in the message).
    pub fn from_eval(main_path: &str, entry: Option<&str>, err: &EvalAltResult) -> Self {
        Self::from_eval_explained(main_path, entry, err, &|_, _| None)
    }

    /// [`from_eval`](Self::from_eval), with `explain` given the innermost
    /// error and the file it happened in: a message it returns replaces
    /// Rhai's (see `not_found`).
    pub fn from_eval_explained(
        main_path: &str,
        entry: Option<&str>,
        err: &EvalAltResult,
        explain: &dyn Fn(&EvalAltResult, &str) -> Option<String>,
    ) -> Self {
        let mut path = main_path.to_string();
        let mut calls: Vec<String> = entry.map(str::to_string).into_iter().collect();
        let mut e = err;
        loop {
            match e {
                EvalAltResult::ErrorInFunctionCall(name, src, inner, _) => {
                    if !src.is_empty() {
                        path = src.clone();
                    }
                    calls.push(name.clone());
                    e = inner;
                }
                EvalAltResult::ErrorInModule(module, inner, _) => {
                    if !module.is_empty() {
                        path = module.clone();
                    }
                    e = inner;
                }
                _ => break,
            }
        }
        if let EvalAltResult::ErrorParsing(kind, pos) = e {
            let (line, col) = line_col(*pos);
            return Diagnostic {
                path,
                line,
                col,
                message: kind.to_string(),
            };
        }
        let pos = e.position();
        let (line, col) = line_col(pos);
        let mut message = e.to_string();
        if !pos.is_none() {
            let suffix = format!(" ({pos})");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        message = explain(e, &path).unwrap_or_else(|| in_rhai_terms(&message));
        // Which handler failed, and through which functions: "(in on_join)",
        // "(in helper <- on_join)".
        if !calls.is_empty() {
            calls.reverse();
            message = format!("{message} (in {})", calls.join(" <- "));
        }
        Diagnostic {
            path,
            line,
            col,
            message,
        }
    }
}

/// Rust's type names, as Rhai's errors print them, in the script's terms:
/// `&str | ImmutableString | String` and `ImmutableString` are `string`,
/// `()` is `unit`, `i64` is `int`, `f64` is `float`, `rhai::Array` and
/// `rhai::Map` are `array` and `map`.
pub fn in_rhai_terms(message: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("&str | ImmutableString | String", "string"),
        ("&mut ImmutableString", "string"),
        ("ImmutableString", "string"),
        ("alloc::string::String", "string"),
        ("rhai::Array", "array"),
        ("rhai::Map", "map"),
        ("rhai::FnPtr", "Fn"),
    ];
    let mut out = message.to_string();
    for (rust, rhai) in NAMES {
        out = out.replace(rust, rhai);
    }
    // In an argument list only: "(())", "((), i64)", "(i64, f64)".
    if let Some(open) = out.find(" (") {
        if let Some(close) = out.rfind(')') {
            let args = &out[open + 2..close];
            let renamed: Vec<String> = split_args(args)
                .into_iter()
                .map(|a| match a.trim() {
                    "()" => "unit".to_string(),
                    "i64" | "i32" => "int".to_string(),
                    "f64" | "f32" => "float".to_string(),
                    other => other.to_string(),
                })
                .collect();
            if out.starts_with("Function not found") {
                out = format!(
                    "{} ({}){}",
                    &out[..open],
                    renamed.join(", "),
                    &out[close + 1..]
                );
            }
        }
    }
    out
}

/// Splits `a, (b, c), d` at the top-level commas.
pub(super) fn split_args(args: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in args.char_indices() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !args.is_empty() {
        parts.push(&args[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::in_rhai_terms;

    #[test]
    fn rust_type_names_become_rhai_ones() {
        assert_eq!(
            in_rhai_terms("Function not found: to_lower (())"),
            "Function not found: to_lower (unit)"
        );
        assert_eq!(
            in_rhai_terms("Function not found: ask (rhai::Map, &str | ImmutableString | String)"),
            "Function not found: ask (map, string)"
        );
        assert_eq!(
            in_rhai_terms("Function not found: f ((), i64, f64)"),
            "Function not found: f (unit, int, float)"
        );
        assert_eq!(in_rhai_terms("Runtime error: boom"), "Runtime error: boom");
    }
}
