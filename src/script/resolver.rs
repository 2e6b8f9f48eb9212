//! Module resolution for `import`: files under the scripts directory only,
//! never cached by Rhai (an edited import must be seen at the next compile),
//! and recorded, so the host knows which files make up the service.

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, AST};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub(super) struct ScriptsResolver {
    inner: FileModuleResolver,
    root: PathBuf,
    pub(super) seen: Rc<RefCell<Vec<PathBuf>>>,
}

impl ScriptsResolver {
    pub(super) fn new(root: &Path) -> Self {
        let mut inner = FileModuleResolver::new_with_path(root);
        inner.enable_cache(false);
        ScriptsResolver {
            inner,
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
            seen: Rc::new(RefCell::new(Vec::new())),
        }
    }

    fn check(
        &self,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<PathBuf, Box<EvalAltResult>> {
        let file = self.inner.get_file_path(path, source.map(Path::new));
        let real = file.canonicalize().unwrap_or_else(|_| normalize(&file));
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
        let module = self.inner.resolve(engine, source, path, pos)?;
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
        if let Err(e) = self.check(source, path, pos) {
            return Some(Err(e));
        }
        self.inner.resolve_ast(engine, source, path, pos)
    }
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
