//! A diagnostic with its source line and a caret under the column, the way
//! rustc shows errors: `path:line:col: message` alone says where, the snippet
//! says what, without opening the file.

use super::Diagnostic;

const TAB: &str = "    ";

/// `path:line:col: message`, then the offending line of `source` and a caret
/// under the column (just the first line when the position is unknown or
/// outside `source`).
pub fn render(d: &Diagnostic, source: &str) -> String {
    render_with(&d.to_string(), d.line, d.col, source)
}

/// The same for any headline (a warning, a test failure).
pub fn render_with(headline: &str, line: usize, col: usize, source: &str) -> String {
    let Some(text) = line.checked_sub(1).and_then(|i| source.lines().nth(i)) else {
        return headline.to_string();
    };
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let shown = text.replace('\t', TAB);
    let mut out = format!("{headline}\n{gutter} |\n{number} | {}", shown.trim_end());
    if col > 0 {
        let prefix: String = text.chars().take(col - 1).collect();
        let pad = prefix.replace('\t', TAB).chars().count();
        out.push_str(&format!("\n{gutter} | {}^", " ".repeat(pad)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_column() {
        let d = Diagnostic {
            path: "s.rhai".into(),
            line: 2,
            col: 10,
            message: "oops".into(),
        };
        let got = render(&d, "fn a() {\n\tlet x = ;\n}");
        assert_eq!(
            got,
            "s.rhai:2:10: oops\n  |\n2 |     let x = ;\n  |             ^"
        );
    }

    #[test]
    fn unknown_position_is_the_headline() {
        let d = Diagnostic::plain("s.rhai", "cannot read");
        assert_eq!(render(&d, "x"), "s.rhai:0:0: cannot read");
    }
}
