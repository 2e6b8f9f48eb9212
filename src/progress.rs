//! Progress of long operations (packing big resources, uploading big files,
//! waiting for the platform): a bar or a spinner when stderr is a terminal,
//! otherwise one log line when the operation starts and one when it ends, so
//! that captured output (CI, tests, log files) stays clean.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read};
use std::time::{Duration, Instant};

/// Byte counts below this finish too fast to be worth showing.
pub const SHOW_FROM_BYTES: u64 = 8 << 20;

/// One operation's progress; finish it with [`Progress::finish`] (dropping
/// it clears the bar without the closing log line).
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    started: Instant,
}

fn on_terminal() -> bool {
    std::io::stderr().is_terminal()
}

impl Progress {
    /// A bar for `total` bytes of work (nothing shown below
    /// [`SHOW_FROM_BYTES`]).
    pub fn bytes(what: &str, total: u64) -> Progress {
        let shown = total >= SHOW_FROM_BYTES;
        let bar = (shown && on_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what.to_string());
            bar
        });
        if shown && bar.is_none() {
            tracing::info!(total_bytes = total, "{what}");
        }
        Progress {
            bar,
            what: if shown {
                what.to_string()
            } else {
                String::new()
            },
            started: Instant::now(),
        }
    }

    /// A spinner for work of unknown length. Off a terminal it logs at debug
    /// level only: the operations it covers log their own outcome.
    pub fn spinner(what: &str) -> Progress {
        let bar = on_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if bar.is_none() {
            tracing::debug!("{what}");
        }
        Progress {
            bar,
            what: String::new(),
            started: Instant::now(),
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Counts what is read through `inner` as progress.
    pub fn reader<'a, R: Read + 'a>(&self, inner: R) -> Box<dyn Read + 'a> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_read(inner)),
            None => Box::new(inner),
        }
    }

    /// Clears the bar and logs how long it took.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.what.is_empty() {
            let took_ms = self.started.elapsed().as_millis() as u64;
            tracing::info!(took_ms, "done: {}", self.what);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
