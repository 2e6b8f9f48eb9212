//! The handler errors of one scenario test, and the ones it expects.
//!
//! A handler that fails during a test is almost always the real cause of
//! whatever the test then finds wrong, so its error belongs in the test's
//! failure, not in a log line above the results. And a test in which a
//! handler failed fails, unless it said it expects that error
//! (`expect_error("part of the message")`): an error nobody looked at is a
//! bug that ships.

use crate::host::ScriptStatus;

#[derive(Debug, Default)]
pub struct HandlerErrors {
    /// The host status's error count already taken in.
    seen: u64,
    /// This test's handler errors, oldest first.
    errors: Vec<String>,
    /// What `expect_error` asked for.
    expected: Vec<String>,
}

impl HandlerErrors {
    /// Takes in the errors `status` gained since the last call.
    pub fn absorb(&mut self, status: &ScriptStatus) {
        let new = status.handler_errors.saturating_sub(self.seen);
        self.seen = status.handler_errors;
        if new == 0 {
            return;
        }
        let kept = status.recent_errors.len();
        let shown = usize::try_from(new).unwrap_or(usize::MAX).min(kept);
        if (shown as u64) < new {
            self.errors
                .push(format!("({} earlier errors not kept)", new - shown as u64));
        }
        self.errors
            .extend(status.recent_errors[kept - shown..].iter().cloned());
    }

    /// A new host started with its own count (a restart).
    pub fn host_restarted(&mut self) {
        self.seen = 0;
    }

    pub fn expect(&mut self, part: &str) {
        self.expected.push(part.to_string());
    }

    /// True when `expect_error` asked for an error like `error`.
    pub fn expects(&self, error: &str) -> bool {
        self.expected.iter().any(|x| error.contains(x.as_str()))
    }

    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Why a test whose own steps passed fails anyway: an error nothing
    /// expected, or an expected error that never came.
    pub fn verdict(&self) -> Result<(), crate::Reason> {
        let unexpected: Vec<&String> = self
            .errors
            .iter()
            .filter(|e| !self.expected.iter().any(|x| e.contains(x.as_str())))
            .collect();
        if !unexpected.is_empty() {
            let list: Vec<String> = unexpected.iter().map(|e| format!("  {e}")).collect();
            return Err(format!(
                "a handler failed during this test (if that is intended, say so with expect_error(\"...\")):\n{}",
                list.join("\n")
            ));
        }
        let missing: Vec<&String> = self
            .expected
            .iter()
            .filter(|x| !self.errors.iter().any(|e| e.contains(x.as_str())))
            .collect();
        match missing.first() {
            Some(x) => Err(format!(
                "expect_error({x:?}): no handler error contained it{}",
                self.report_suffix()
            )),
            None => Ok(()),
        }
    }

    /// The errors, as lines to add under a failure ("" when none).
    pub fn report_suffix(&self) -> String {
        if self.errors.is_empty() {
            return String::new();
        }
        let list: Vec<String> = self.errors.iter().map(|e| format!("  {e}")).collect();
        format!("\nhandler errors during this test:\n{}", list.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(count: u64, recent: &[&str]) -> ScriptStatus {
        ScriptStatus {
            handler_errors: count,
            recent_errors: recent.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_new_errors_are_taken_in() {
        let mut h = HandlerErrors::default();
        h.absorb(&status(1, &["a"]));
        h.absorb(&status(1, &["a"]));
        h.absorb(&status(3, &["a", "b", "c"]));
        assert_eq!(h.errors(), ["a", "b", "c"]);
    }

    #[test]
    fn errors_the_status_no_longer_keeps_are_counted() {
        let mut h = HandlerErrors::default();
        h.absorb(&status(25, &["x", "y"]));
        assert_eq!(h.errors(), ["(23 earlier errors not kept)", "x", "y"]);
    }

    #[test]
    fn an_unexpected_error_fails_and_an_expected_one_does_not() {
        let mut h = HandlerErrors::default();
        assert_eq!(h.verdict(), Ok(()));
        h.absorb(&status(1, &["s.rhai:3:5: boom (in on_join)"]));
        let err = h.verdict().unwrap_err();
        assert!(err.contains("expect_error"), "{err}");
        assert!(err.contains("  s.rhai:3:5: boom (in on_join)"), "{err}");
        h.expect("boom");
        assert_eq!(h.verdict(), Ok(()));
        h.expect("bang");
        let err = h.verdict().unwrap_err();
        assert!(err.starts_with("expect_error(\"bang\")"), "{err}");
    }
}
