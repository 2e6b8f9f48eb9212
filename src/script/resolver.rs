//! Module resolution for `import`: files under the scripts directory only,
//! never cached by Rhai (an edited import must be seen at the next compile),
//! and recorded, so the host knows which files make up the service.
//!
//! Rhai evaluates an imported file while resolving it, and that file's own
//! imports recursively, with no memory of where it came from: an import
//! cycle (or a very deep chain) recurses until the native stack overflows,
//! which kills the process. So the resolver keeps the chain of files being
//! imported, refuses a file already on it (naming the cycle) and refuses
//! chains deeper than [`MAX_IMPORT_DEPTH`].

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, AST};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Imports nested deeper than this are refused (far beyond any real
/// service, far below what the script thread's stack holds).
pub const MAX_IMPORT_DEPTH: usize = 32;

/// Why an import was refused before Rhai could recurse into it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ImportRefusal {
    /// The importing file (canonical) and the import's position in it.
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// The import's path as written (to find its position when Rhai gave none).
    pub import: String,
    pub message: String,
}

pub(super) struct ScriptsResolver {
    inner: FileModuleResolver,
    root: PathBuf,
    pub(super) seen: Rc<RefCell<Vec<PathBuf>>>,
    /// The files being imported right now, the entry script first.
    chain: RefCell<Vec<PathBuf>>,
    /// The first cycle or too-deep chain found (Rhai wraps the error the
    /// resolver returns; this keeps the exact file and position).
    pub(super) refused: Rc<RefCell<Option<ImportRefusal>>>,
}

impl ScriptsResolver {
    pub(super) fn new(root: &Path, main: &Path) -> Self {
        let mut inner = FileModuleResolver::new_with_path(root);
        inner.enable_cache(false);
        ScriptsResolver {
            inner,
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
            seen: Rc::new(RefCell::new(Vec::new())),
            chain: RefCell::new(vec![real_path(main)]),
            refused: Rc::new(RefCell::new(None)),
        }
    }

    /// The name an import uses for a file: relative to the scripts
    /// directory, without `.rhai`.
    fn import_name(&self, file: &Path) -> String {
        let rel = file.strip_prefix(&self.root).unwrap_or(file);
        rel.with_extension("").to_string_lossy().into_owned()
    }

    /// Refuses `file` when importing it would close a cycle or nest too deep.
    fn enter(&self, file: &Path, import: &str, pos: Position) -> Result<(), Box<EvalAltResult>> {
        let chain = self.chain.borrow();
        let importer = chain.last().cloned().unwrap_or_default();
        let message = if let Some(start) = chain.iter().position(|f| f == file) {
            let names: Vec<String> = chain[start..]
                .iter()
                .chain(std::iter::once(&file.to_path_buf()))
                .map(|f| self.import_name(f))
                .collect();
            format!("import cycle: {}", names.join(" -> "))
        } else if chain.len() > MAX_IMPORT_DEPTH {
            format!("imports nested deeper than {MAX_IMPORT_DEPTH} files")
        } else {
            drop(chain);
            self.chain.borrow_mut().push(file.to_path_buf());
            return Ok(());
        };
        drop(chain);
        let refusal = ImportRefusal {
            file: importer,
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            import: import.to_string(),
            message: message.clone(),
        };
        self.refused.borrow_mut().get_or_insert(refusal);
        Err(Box::new(EvalAltResult::ErrorRuntime(message.into(), pos)))
    }

    /// Refuses a file past the size bounds before Rhai parses it (a missing
    /// file is left to Rhai, which reports it at the import).
    fn check_size(&self, file: &Path, path: &str) -> Result<(), super::Diagnostic> {
        if !file.is_file() {
            return Ok(());
        }
        super::size::read_script(file, &format!("{path}.rhai")).map(drop)
    }

    /// Refuses an imported file itself (too large), naming it.
    fn refuse(&self, file: &Path, pos: Position, message: String) -> Box<EvalAltResult> {
        let refusal = ImportRefusal {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            import: String::new(),
            message: message.clone(),
        };
        self.refused.borrow_mut().get_or_insert(refusal);
        Box::new(EvalAltResult::ErrorRuntime(message.into(), pos))
    }

    fn check(
        &self,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<PathBuf, Box<EvalAltResult>> {
        let file = self.inner.get_file_path(path, source.map(Path::new));
        let real = real_path(&file);
        if !real.starts_with(&self.root) {
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!(
                    "import {path:?} refused: {} is outside the scripts directory {}",
                    file.display(),
                    self.root.display()
                )
                .into(),
                pos,
            )));
        }
        Ok(file)
    }
}

impl ModuleResolver for ScriptsResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Rc<Module>, Box<EvalAltResult>> {
        let file = self.check(source, path, pos)?;
        self.enter(&real_path(&file), path, pos)?;
        if let Err(d) = self.check_size(&file, path) {
            self.chain.borrow_mut().pop();
            return Err(self.refuse(&file, pos, d.message));
        }
        let module = self.inner.resolve(engine, source, path, pos);
        self.chain.borrow_mut().pop();
        let module = module?;
        let mut seen = self.seen.borrow_mut();
        if !seen.contains(&file) {
            seen.push(file);
        }
        Ok(module)
    }

    fn resolve_ast(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Option<Result<AST, Box<EvalAltResult>>> {
        let file = match self.check(source, path, pos) {
            Ok(file) => file,
            Err(e) => return Some(Err(e)),
        };
        if let Err(d) = self.check_size(&file, path) {
            return Some(Err(self.refuse(&file, pos, d.message)));
        }
        self.inner.resolve_ast(engine, source, path, pos)
    }
}

/// The file's canonical path, or its normalized path when it does not exist.
fn real_path(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| {
        let absolute = std::env::current_dir()
            .map(|cwd| cwd.join(p))
            .unwrap_or_else(|_| p.to_path_buf());
        normalize(&absolute)
    })
}

/// `a/b/../c` -> `a/c` without touching the file system (for files that do
/// not exist yet, which must still not escape the root).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
