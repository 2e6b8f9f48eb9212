//! Definitions for editors: every function the host gives scripts is
//! registered with its parameters' names and a doc comment ([`register_fn`]),
//! which Rhai's `metadata` feature keeps with the function, and [`render`]
//! turns an engine's metadata into a `.d.rhai` file for the Rhai language
//! server (`moobius-host defs`).
//!
//! The names and the doc live at the registration, beside the code, so they
//! cannot drift from what scripts can call, and the number of names is
//! checked against the function's parameters when the crate compiles.
//!
//! The file is rendered here rather than by `Engine::definitions`, whose
//! output the language server's parser refuses for this API: a function
//! that returns nothing gets `-> ;` or `-> ()`, a fallible one a return
//! type cut from the middle of `Result<..>`, and an indexer the name
//! `index$get$`. Here a function that returns nothing has no `->`, as in the
//! language server's own examples, and indexers (documented on their type)
//! are left out.
//!
//! Only an engine built to be described keeps the types and the doc
//! ([`described`]): an engine that runs scripts keeps the parameters' names
//! alone. The doc comments and type labels of the whole API are some 0.4 MB
//! on the heap of every script thread, which only `defs` and `check` read.

use super::api::HostApi;
use rhai::{Dynamic, Engine, FuncRegistration, RhaiNativeFunc, Variant, FLOAT, INT};
use std::any::{type_name, TypeId};
use std::cell::Cell;
use std::rc::Rc;

thread_local! {
    /// Whether the engine this thread is building is to be described
    /// (editor files, `check`'s tables of names) rather than run.
    static DESCRIBING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `build` with every function it registers keeping its description
/// (parameter types, return type, doc comment), for an engine that is
/// described, never run.
pub fn described<T>(build: impl FnOnce() -> T) -> T {
    /// Clears the flag however `build` ends.
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DESCRIBING.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DESCRIBING.with(|d| d.replace(true)));
    build()
}

/// Registers `func` as the script function `name`, with its parameters'
/// names (one per parameter, in order) and a doc comment (Markdown; lines
/// joined by `\n`, each becomes a `///` line).
pub fn register_fn<A, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    name: &str,
    params: [&str; N],
    doc: &str,
    func: FUNC,
) where
    A: 'static,
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
{
    register_as(engine, FuncRegistration::new(name), params, doc, func);
}

/// [`register_fn`] for a property getter (`character.name`): `param` names the
/// value the property is read from.
pub fn register_get<A, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    property: &str,
    param: &str,
    doc: &str,
    func: FUNC,
) where
    A: 'static,
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, 1, X, R, F> + 'static,
{
    register_as(
        engine,
        FuncRegistration::new_getter(property),
        [param],
        doc,
        func,
    );
}

/// [`register_fn`] for an indexer that reads (`value[key]`).
pub fn register_indexer_get<A, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    params: [&str; 2],
    doc: &str,
    func: FUNC,
) where
    A: 'static,
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, 2, X, R, F> + 'static,
{
    register_as(
        engine,
        FuncRegistration::new_index_getter(),
        params,
        doc,
        func,
    );
}

/// [`register_fn`] for an indexer that writes (`value[key] = x`).
pub fn register_indexer_set<A, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    params: [&str; 3],
    doc: &str,
    func: FUNC,
) where
    A: 'static,
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, 3, X, R, F> + 'static,
{
    register_as(
        engine,
        FuncRegistration::new_index_setter(),
        params,
        doc,
        func,
    );
}

fn register_as<A, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    registration: FuncRegistration,
    params: [&str; N],
    doc: &str,
    func: FUNC,
) where
    A: 'static,
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
{
    if !DESCRIBING.with(Cell::get) {
        // The names alone (short: no allocation); Rhai would fill in its
        // own type names otherwise.
        registration
            .with_params_info(params)
            .register_into_engine(engine, func);
        return;
    }
    let mut info: Vec<String> = params
        .iter()
        .zip(FUNC::param_names())
        .map(|(name, rust)| format!("{name}: {}", type_label(engine, rust)))
        .collect();
    // Rhai takes one entry more than there are parameters as the return
    // type. Always given: without any entry (no parameters) Rhai would fill
    // in its own, with the whole `Result<..>` of a fallible function.
    info.push(if TypeId::of::<R>() == TypeId::of::<()>() {
        "()".to_string()
    } else {
        type_label(engine, type_name::<R>())
    });
    registration
        .with_params_info(info)
        .with_comments([doc_comment(doc)])
        .register_into_engine(engine, func);
}

/// A Rust type as scripts know it: `string`, `int`, `array`, `Character`,
/// and `?` for any value.
fn type_label(engine: &Engine, rust: &str) -> String {
    let rust = rust.strip_prefix("&mut ").unwrap_or(rust);
    if rust == type_name::<Dynamic>() {
        "?".into()
    } else if rust == type_name::<INT>() {
        "int".into()
    } else if rust == type_name::<FLOAT>() {
        "float".into()
    } else {
        engine.map_type_name(rust).to_string()
    }
}

/// How wide the text of a comment line may grow before it is wrapped.
const WIDTH: usize = 80;

/// `text` as comment lines starting with `leader` (`///`, `//`), each line
/// of the text wrapped at [`WIDTH`] columns. A word that Markdown would read
/// as the start of a list, a heading or a quote at the start of a line is
/// kept on the line before.
fn comment_lines(text: &str, leader: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut current = String::new();
        for word in line.split_whitespace() {
            let starts_block = word.starts_with(['-', '+', '*', '#', '>', '|', '='])
                || word.ends_with('.') && word[..word.len() - 1].parse::<u64>().is_ok();
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH && !starts_block {
                out.push(format!("{leader} {current}"));
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push(match current.as_str() {
            "" => leader.to_string(),
            text => format!("{leader} {text}"),
        });
    }
    out
}

/// `doc` as `///` lines.
pub fn doc_comment(doc: &str) -> String {
    comment_lines(doc, "///").join("\n")
}

/// An engine with the whole script API (service and user mode, the
/// `Character` type) against [`NoHost`](super::NoHost): to be described,
/// never run.
pub fn api_engine() -> Engine {
    described(|| {
        let mut engine = Engine::new();
        super::character::register(&mut engine);
        super::id_list::register(&mut engine);
        let host: Rc<dyn HostApi> = Rc::new(super::NoHost);
        super::api::register(&mut engine, host);
        engine
    })
}

/// One registered function, as Rhai's metadata describes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FnInfo {
    pub name: String,
    pub num_params: usize,
    #[serde(default)]
    pub params: Vec<ParamInfo>,
    /// Empty when the function returns nothing.
    #[serde(default)]
    pub return_type: String,
    /// Each a block of `///` lines.
    #[serde(default)]
    pub doc_comments: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ParamInfo {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub typ: Option<String>,
}

impl FnInfo {
    /// `get$name` for a property getter, `index$get$` for an indexer, an
    /// operator's symbol: not a name a script calls as `name(..)`.
    fn is_plain(&self) -> bool {
        !self.name.contains('$') && rhai::is_valid_function_name(&self.name)
    }

    /// True when it has a doc comment and every parameter a name.
    pub fn is_documented(&self) -> bool {
        self.doc_comments.iter().any(|d| !d.trim().is_empty())
            && self.params.len() == self.num_params
            && self.params.iter().all(|p| p.name.is_some())
    }

    /// The `.d.rhai` item: the doc comment, then the signature.
    fn definition(&self) -> Option<String> {
        let typ = |p: &ParamInfo| p.typ.clone().unwrap_or_else(|| "?".into());
        let (keyword, name, params) = if let Some(property) = self.name.strip_prefix("get$") {
            let params = self.params.iter().map(|p| self.param(p, typ(p)));
            ("fn", format!("get {property}"), params.collect::<Vec<_>>())
        } else if self.is_plain() {
            let params = self.params.iter().map(|p| self.param(p, typ(p)));
            ("fn", self.name.clone(), params.collect())
        } else if !self.name.contains('$') {
            (
                "op",
                self.name.clone(),
                self.params.iter().map(typ).collect(),
            )
        } else {
            return None;
        };
        let ret = match self.return_type.as_str() {
            "" | "()" => String::new(),
            t => format!(" -> {t}"),
        };
        let mut out = String::new();
        for doc in &self.doc_comments {
            out.push_str(doc.trim_end());
            out.push('\n');
        }
        out.push_str(&format!("{keyword} {name}({}){ret};", params.join(", ")));
        Some(out)
    }

    fn param(&self, p: &ParamInfo, typ: String) -> String {
        format!("{}: {typ}", p.name.as_deref().unwrap_or("_"))
    }
}

/// The functions an engine has registered, with Rhai's standard library or
/// without, sorted by name and parameter count.
pub fn functions(engine: &Engine, standard: bool) -> Result<Vec<FnInfo>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        #[serde(default)]
        functions: Vec<FnInfo>,
    }
    let json = engine.gen_fn_metadata_to_json(standard)?;
    Ok(serde_json::from_str::<Metadata>(&json)?.functions)
}

/// A `.d.rhai` file: `preamble` (text for `//` comment lines), then
/// `module static;` (its items are global: available to every script
/// as they are), then `items`, in order.
pub fn definition_file(preamble: &str, items: &[String]) -> String {
    let mut out = String::new();
    for line in comment_lines(preamble, "//") {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("module static;\n");
    for item in items {
        out.push('\n');
        out.push_str(item);
        out.push('\n');
    }
    out
}

/// The definitions of every function `engine` registered beyond Rhai's
/// standard library, ordered by name, parameter count and signature (so the
/// same engine always gives the same text), and how many there are.
pub fn render(engine: &Engine, preamble: &str) -> Result<(String, usize), serde_json::Error> {
    let mut fns = functions(engine, false)?;
    let mut items: Vec<(String, usize, String)> = fns
        .drain(..)
        .filter_map(|f| Some((f.name.clone(), f.num_params, f.definition()?)))
        .collect();
    items.sort();
    let items: Vec<String> = items.into_iter().map(|(_, _, item)| item).collect();
    Ok((definition_file(preamble, &items), items.len()))
}

/// The definitions of the handlers (functions the script defines and the
/// host calls), and how many there are.
pub fn handler_definitions(preamble: &str) -> (String, usize) {
    let items: Vec<String> = super::HANDLERS
        .iter()
        .map(|h| {
            let params: Vec<String> = h.params.iter().map(|p| format!("{p}: ?")).collect();
            format!(
                "{}\nfn {}({});",
                doc_comment(h.doc),
                h.name,
                params.join(", ")
            )
        })
        .collect();
    (definition_file(preamble, &items), items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_function_has_a_doc_comment_and_named_parameters() {
        let fns = functions(&api_engine(), false).unwrap();
        assert!(fns.len() > 60, "{}", fns.len());
        let undocumented: Vec<&str> = fns
            .iter()
            .filter(|f| !f.is_documented())
            .map(|f| f.name.as_str())
            .collect();
        assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
        // Indexers are registered with a doc too, though not rendered.
        assert!(fns.iter().any(|f| f.name == "index$get$"));
    }

    #[test]
    fn a_definition_has_its_doc_names_and_types() {
        let (text, n) = render(&api_engine(), "preamble").unwrap();
        assert!(
            text.starts_with("// preamble\nmodule static;\n\n"),
            "{text}"
        );
        assert!(n > 60);
        assert!(
            text.contains(
                "/// `characters` and `recipients`: an id, a character, or an array mixing \
                 both.\nfn send_characters(characters: ?, channel_id: string, recipients: ?);\n"
            ),
            "{text}"
        );
        assert!(text.contains("fn now_ms() -> int;\n"), "{text}");
        assert!(text.contains("fn get name(character: Character) -> string;\n"));
        assert!(text.contains("op ==(Character, string) -> bool;\n"));
        assert!(!text.contains('$'), "indexers are left out");
        assert!(!text.contains("-> ()") && !text.contains("-> ;"));
        assert!(!text.contains("Result<"), "{text}");
        assert_eq!(render(&api_engine(), "preamble").unwrap().0, text);
    }

    #[test]
    fn every_handler_is_documented() {
        let (text, n) = handler_definitions("p");
        assert_eq!(n, super::super::HANDLERS.len());
        for h in super::super::HANDLERS {
            assert!(!h.doc.is_empty(), "{}", h.name);
            let params: Vec<String> = h.params.iter().map(|p| format!("{p}: ?")).collect();
            let sig = format!("fn {}({});", h.name, params.join(", "));
            assert!(text.contains(&format!("\n{sig}\n")), "{sig}");
        }
        assert!(text.contains("fn on_join(action: ?);"));
    }

    #[test]
    fn comments_are_wrapped_outside_markdown_blocks() {
        // 79 characters, then a dash where the line would break.
        let long = format!("{} - not a list", "word ".repeat(16).trim_end());
        let lines = comment_lines(&format!("{long}\n\nsecond"), "///");
        assert!(lines[0].ends_with("word -"), "{lines:?}");
        assert_eq!(lines[1], "/// not a list");
        assert_eq!(lines[2..], ["///", "/// second"]);
        let lines = comment_lines(&"word ".repeat(40), "//");
        assert!(lines.iter().all(|l| l.len() <= WIDTH + 3), "{lines:?}");
    }
}
