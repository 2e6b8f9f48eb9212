//! Bounds on a script file's size, checked before Rhai parses it.
//!
//! Rhai's parser looks every variable up among the functions defined so far,
//! so compiling takes time in proportion to functions x variables: 5,000
//! functions compile in 0.6 s, 40,000 in a minute, and a 5 MB script does
//! not finish. A compile blocks start-up and every reload, so a file past
//! these bounds is refused at once, with the bound named. Real services stay
//! far below them.

use super::Diagnostic;
use std::path::Path;

/// The largest script file, in bytes.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;
/// The most functions one script file may define.
pub const MAX_FUNCTIONS: usize = 2_000;

/// Reads a script file, refusing one past the bounds (`shown` is its path
/// as the author sees it).
pub fn read_script(path: &Path, shown: &str) -> Result<String, Diagnostic> {
    let cannot =
        |e: std::io::Error| Diagnostic::plain(shown, format!("cannot read the script: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(Diagnostic::plain(shown, "not a regular file"));
    }
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(too_big(shown, meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(cannot)?;
    check_text(shown, &text)?;
    Ok(text)
}

/// Refuses a script text past the bounds.
pub fn check_text(shown: &str, text: &str) -> Result<(), Diagnostic> {
    if text.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(too_big(shown, text.len() as u64));
    }
    let functions = count_functions(text);
    if functions > MAX_FUNCTIONS {
        return Err(Diagnostic::plain(
            shown,
            format!(
                "{functions} functions is more than one script file may define ({MAX_FUNCTIONS}): compiling grows with the square of it; split the file or use fewer functions"
            ),
        ));
    }
    Ok(())
}

fn too_big(shown: &str, bytes: u64) -> Diagnostic {
    Diagnostic::plain(
        shown,
        format!("{bytes} bytes is more than a script file may hold ({MAX_SCRIPT_BYTES} bytes)"),
    )
}

/// `fn NAME` as words (an over-count only where `fn` starts a word inside a
/// string or a comment, which errs on the safe side).
fn count_functions(text: &str) -> usize {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    text.match_indices("fn")
        .filter(|&(i, _)| {
            let before_ok = i == 0 || !is_word(bytes[i - 1]);
            let rest = &bytes[i + 2..];
            let gap = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let name_follows = rest
                .get(gap)
                .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_');
            before_ok && gap > 0 && name_follows
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_function_definitions_only() {
        let text = "fn a() {}\nfn  b(x) { let fnord = 1; define(1) }\nprivate fn _c() {}\n// fn\n";
        assert_eq!(count_functions(text), 3);
    }

    #[test]
    fn refuses_too_many_functions_naming_the_bound() {
        let text: String = (0..=MAX_FUNCTIONS)
            .map(|i| format!("fn f{i}() {{}}\n"))
            .collect();
        let err = check_text("scripts/big.rhai", &text).unwrap_err();
        assert!(err.message.contains("2001 functions is more than"), "{err}");
        let fine: String = (0..MAX_FUNCTIONS)
            .map(|i| format!("fn f{i}() {{}}\n"))
            .collect();
        assert!(check_text("scripts/big.rhai", &fine).is_ok());
    }

    #[test]
    fn refuses_a_file_too_large_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.rhai");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_SCRIPT_BYTES + 1).unwrap();
        let err = read_script(&path, "scripts/big.rhai").unwrap_err();
        assert!(
            err.message.contains("is more than a script file may hold"),
            "{err}"
        );
    }
}
