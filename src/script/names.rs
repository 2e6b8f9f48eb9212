//! Which functions a script can call, in one place: Rhai's standard library
//! and the host's script API as the engine itself registers them (so the
//! list cannot drift from what runs), Rhai's keyword functions, and the
//! file's own functions. `check` warns about a call to any other name
//! ([`super::lint_names`]); a "Function not found" error at run time names
//! the nearest known name the same way ([`super::not_found`]).

use super::defs::{self, FnInfo};
use rhai::{Engine, AST};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Rhai's keyword functions (its `engine.rs` `KEYWORD_*`): the evaluator
/// answers these itself, so no package registers them and the engine's
/// metadata leaves them out.
pub const KEYWORD_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
];

/// A native function name: the argument counts it accepts and its
/// signatures as a script would write them (`send_message(message)`).
#[derive(Debug, Clone, Default)]
pub struct Native {
    pub counts: Vec<usize>,
    pub signatures: Vec<String>,
}

type Table = BTreeMap<String, Native>;

fn table_of(fns: Vec<FnInfo>) -> Table {
    let mut table = Table::new();
    for f in fns {
        if !rhai::is_valid_function_name(&f.name) {
            continue;
        }
        let params: Vec<&str> = (0..f.num_params)
            .map(|i| {
                f.params
                    .get(i)
                    .and_then(|p| p.name.as_deref())
                    .unwrap_or("_")
            })
            .collect();
        let entry = table.entry(f.name.clone()).or_default();
        entry.counts.push(f.num_params);
        entry
            .signatures
            .push(format!("{}({})", f.name, params.join(", ")));
    }
    for native in table.values_mut() {
        native.counts.sort_unstable();
        native.counts.dedup();
        // The metadata's order is not stable: messages are.
        native.signatures.sort();
        native.signatures.dedup();
    }
    table
}

/// Rhai's standard library, as `Engine::new()` registers it.
pub fn standard() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| table_of(defs::functions(&Engine::new(), true).unwrap_or_default()))
}

/// The host's script API (service and user mode, `Character`), beside the
/// standard library (a standard name the API also registers is in both).
pub fn host() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| table_of(defs::functions(&defs::api_engine(), false).unwrap_or_default()))
}

/// What a file may call besides its own functions: a service script the
/// standard library and the host's API; a scenario file the standard
/// library and the scenario functions (`extra`), not the host's API.
#[derive(Debug, Clone, Copy)]
pub struct Callable<'a> {
    with_host: bool,
    extra: &'a [(String, Vec<usize>)],
    /// Functions other script files define that this one may call: a
    /// module's functions may call the entry's (Rhai looks there too).
    scripts: &'a [String],
}

impl<'a> Callable<'a> {
    /// A service's scripts (the entry and its modules).
    pub fn service() -> Self {
        Callable {
            with_host: true,
            extra: &[],
            scripts: &[],
        }
    }

    /// A scenario file, whose engine adds `functions` (with their argument
    /// counts, `scenario::function_table`) to the standard library.
    pub fn scenario(functions: &'a [(String, Vec<usize>)]) -> Self {
        Callable {
            with_host: false,
            extra: functions,
            scripts: &[],
        }
    }

    /// The same, where the functions named in `scripts` (defined by other
    /// files of the service) are known too.
    pub fn with_script_functions(self, scripts: &'a [String]) -> Self {
        Callable { scripts, ..self }
    }

    /// Whose functions they are besides Rhai's, for messages.
    pub fn provider(&self) -> &'static str {
        if self.with_host {
            "the host's"
        } else {
            "a scenario's"
        }
    }

    /// Whose own functions are known, for messages.
    pub fn scripts(&self) -> &'static str {
        if self.scripts.is_empty() {
            "this file's"
        } else {
            "the service scripts'"
        }
    }

    /// The argument counts a native (not script-defined) `name` accepts,
    /// empty when there is no such native.
    pub fn native_counts(&self, name: &str) -> Vec<usize> {
        let mut counts: Vec<usize> = standard()
            .get(name)
            .into_iter()
            .chain(self.host_table().get(name))
            .flat_map(|n| n.counts.iter().copied())
            .chain(
                self.extra
                    .iter()
                    .filter(|(n, _)| n == name)
                    .flat_map(|(_, c)| c.iter().copied()),
            )
            .collect();
        counts.sort_unstable();
        counts.dedup();
        counts
    }

    /// The signatures of the natives called `name`.
    pub fn native_signatures(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = standard()
            .get(name)
            .into_iter()
            .chain(self.host_table().get(name))
            .flat_map(|n| n.signatures.iter().cloned())
            .collect();
        for (n, counts) in self.extra.iter().filter(|(n, _)| n == name) {
            out.extend(
                counts
                    .iter()
                    .map(|c| format!("{n}({})", vec!["_"; *c].join(", "))),
            );
        }
        out.dedup();
        out
    }

    fn host_table(&self) -> &'static Table {
        static EMPTY: Table = Table::new();
        if self.with_host {
            host()
        } else {
            &EMPTY
        }
    }

    /// True when a plain call to `name` finds a function, whatever its
    /// argument count (`own`: the file's own functions).
    pub fn knows(&self, name: &str, own: &[String]) -> bool {
        KEYWORD_FUNCTIONS.contains(&name)
            || own.iter().chain(self.scripts).any(|o| o == name)
            || standard().contains_key(name)
            || self.host_table().contains_key(name)
            || self.extra.iter().any(|(n, _)| n == name)
    }

    /// `; did you mean `x`?` for the known name nearest to `name`, if one
    /// is near.
    pub fn did_you_mean(&self, name: &str, own: &[String]) -> String {
        let known = KEYWORD_FUNCTIONS
            .iter()
            .copied()
            .chain(own.iter().chain(self.scripts).map(String::as_str))
            .chain(self.host_table().keys().map(String::as_str))
            .chain(self.extra.iter().map(|(n, _)| n.as_str()))
            .chain(standard().keys().map(String::as_str));
        crate::suggest::did_you_mean(name, known)
    }
}

/// The names of the functions `ast` defines (closures' hidden names too).
pub fn own_functions(ast: &AST) -> Vec<String> {
    let mut names: Vec<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// `name(a, b)` for each function `ast` defines under `name`.
pub fn own_signatures(ast: &AST, name: &str) -> Vec<String> {
    ast.iter_functions()
        .filter(|f| f.name == name)
        .map(|f| format!("{name}({})", f.params.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_come_from_the_engine() {
        let service = Callable::service();
        assert_eq!(service.native_counts("send_message"), [1, 4]);
        assert!(service.native_counts("len").contains(&1));
        assert!(service.knows("send_message", &[]));
        assert!(service.knows("Fn", &[]) && service.knows("call", &[]));
        assert!(!service.knows("send_mesage", &[]));
        assert_eq!(
            service.did_you_mean("send_mesage", &[]),
            "; did you mean `send_message`?"
        );
        let extra = [("member".to_string(), vec![1])];
        let scenario = Callable::scenario(&extra);
        assert!(scenario.knows("member", &[]) && scenario.knows("len", &[]));
        assert!(!scenario.knows("send_message", &[]), "no host API there");
        assert!(service
            .native_signatures("send_message")
            .contains(&"send_message(message)".to_string()));
    }

    #[test]
    fn every_keyword_function_is_callable() {
        let src = r#"
            fn f(x) { x }
            let p = Fn("f");
            let q = curry(p, 1);
            print(type_of(p)); debug(1);
            [call(p, 1), call(q), eval("1"), is_shared(p), is_def_var("p"), is_def_fn("f", 1)]
        "#;
        let got = Engine::new().eval::<rhai::Array>(src).expect("runs");
        assert_eq!(got.len(), 6);
        let used = [
            "print",
            "debug",
            "type_of",
            "eval",
            "Fn",
            "call",
            "curry",
            "is_shared",
            "is_def_var",
            "is_def_fn",
        ];
        assert_eq!(KEYWORD_FUNCTIONS, used, "each is used above");
    }
}
