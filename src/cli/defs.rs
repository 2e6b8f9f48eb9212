//! `moobius-host defs [DIR]`: the files editors need to complete and check
//! the host's API through the Rhai language server (`editor`).

use clap::Args;
use moobius_host::editor::{self, EditorFile, Outcome};
use std::path::{Path, PathBuf};

/// Write editor definitions for the Rhai language server.
///
/// Writes DIR/.rhai/definitions/moobius-host.d.rhai (every function a
/// service or user-mode script can call), handlers.d.rhai (the handlers the
/// host calls) and scenarios.d.rhai (what scenario tests can call), with doc
/// comments and parameter names, and DIR/Rhai.toml, the language server's
/// settings, which makes scripts/ and tests/scenarios/ its files and loads
/// the definitions. Editors that run the Rhai language server then complete
/// host functions and show their documentation.
///
/// A Rhai.toml whose first line is not the one `defs` writes is yours and is
/// kept. Running it again rewrites only what changed; run it after
/// upgrading moobius-host. `moobius-host new` runs it.
#[derive(Args, Debug)]
pub struct DefsArgs {
    /// The service directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `path` as the user should read it: relative to DIR, behind DIR unless
/// DIR is the current directory.
fn shown(dir: &Path, path: &str) -> String {
    if dir == Path::new(".") {
        path.to_string()
    } else {
        dir.join(path).display().to_string()
    }
}

/// One line per file, and a note for a kept `Rhai.toml` that misses the
/// definitions.
pub fn report(dir: &Path, files: &[EditorFile]) {
    for f in files {
        let path = shown(dir, &f.path);
        match &f.outcome {
            Outcome::Wrote => println!("wrote     {path} ({})", f.holds),
            Outcome::Unchanged => println!("unchanged {path} ({})", f.holds),
            Outcome::Kept { covers_definitions } => {
                println!(
                    "kept      {path} (yours: its first line is not `{}`)",
                    editor::MARKER
                );
                if !covers_definitions {
                    println!(
                        "note: its [source] include does not take in {}/*.d.rhai; add that \
                         pattern so that the language server loads the definitions",
                        editor::DEFINITIONS_DIR
                    );
                }
            }
        }
    }
}

pub fn main(args: DefsArgs) -> u8 {
    if !args.dir.is_dir() {
        eprintln!("error: {} is not a directory", args.dir.display());
        return 1;
    }
    match editor::write_editor_files(&args.dir) {
        Ok(files) => {
            report(&args.dir, &files);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
