//! Script errors as one line an editor understands: `path:line:col: message`.
//!
//! Rhai reports a runtime error as a chain of "error in function call"
//! wrappers; the useful position is the innermost one, and the useful file is
//! the innermost one that names a source (imports have their own).

use rhai::{EvalAltResult, ParseError, Position};
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

impl Diagnostic {
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
        if calls.len() > 1 {
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
