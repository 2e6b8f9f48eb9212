//! Log set-up from `log_config`: the terminal at `terminal_log_level`, and
//! optionally `log_file` / `error_log_file` at their own levels, as the SDK
//! does. Levels use the SDK's names (WARNING, CRITICAL) as well as Rust's.
//! `RUST_LOG`, when set, overrides the terminal level for debugging the host.

use crate::config::{LogConfig, LogFormat, LogRotation};
use std::fs::OpenOptions;
use std::sync::Mutex;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::{
    layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer, Registry,
};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Maps an SDK or Rust level name to a filter.
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    Some(match name.trim().to_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" | "SUCCESS" => LevelFilter::INFO,
        "WARNING" | "WARN" => LevelFilter::WARN,
        "ERROR" | "CRITICAL" => LevelFilter::ERROR,
        "OFF" | "NONE" => LevelFilter::OFF,
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open log file {path}: {source}")]
pub struct LogInitError {
    path: String,
    source: std::io::Error,
}

/// The most verbose level any dependency may log at, whatever `RUST_LOG`
/// says: below it, the WebSocket and HTTP stacks print whole frames and
/// headers, and those carry the access token (`service_login`) and the
/// password (sign-in).
const DEPENDENCY_LEVEL_CAP: tracing::Level = tracing::Level::DEBUG;

/// True for the host's own targets and the scripts'.
fn is_ours(target: &str) -> bool {
    target == "script" || target == "moobius_host" || target.starts_with("moobius_host::")
}

/// Drops dependency events more verbose than [`DEPENDENCY_LEVEL_CAP`]; set
/// on every layer, so neither `RUST_LOG` nor a log file's level can lift it.
fn dependency_cap() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool>
{
    tracing_subscriber::filter::filter_fn(|meta| {
        is_ours(meta.target()) || *meta.level() <= DEPENDENCY_LEVEL_CAP
    })
}

/// `level` for the host's own logs and the scripts' (`script` target);
/// other crates log warnings only, unless `RUST_LOG` says otherwise: their
/// debug output (frames, headers) could carry tokens, and is noise anyway.
fn ours(level: LevelFilter) -> EnvFilter {
    let base = EnvFilter::default().add_directive(LevelFilter::WARN.min(level).into());
    ["moobius_host", "script"]
        .iter()
        .filter_map(|target| format!("{target}={level}").parse().ok())
        .fold(base, |f, d| f.add_directive(d))
}

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call keeps the first subscriber), which matters for in-process tests.
pub fn init(cfg: &LogConfig) -> Result<(), LogInitError> {
    init_with(cfg, &[])
}

/// As [`init`], with extra terminal filter directives such as
/// `moobius_host::host::reload=off` (for `dev`, which prints reloads itself).
pub fn init_with(cfg: &LogConfig, terminal_directives: &[&str]) -> Result<(), LogInitError> {
    let terminal_level = parse_level(&cfg.terminal_log_level).unwrap_or(LevelFilter::INFO);
    let terminal_filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| {
            terminal_directives
                .iter()
                .filter_map(|d| d.parse().ok())
                .fold(ours(terminal_level), |f, d| f.add_directive(d))
        });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut layers: Vec<BoxedLayer> = vec![formatted(cfg.format, std::io::stderr, ansi)
        .with_filter(terminal_filter)
        .with_filter(dependency_cap())
        .boxed()];

    let file_layer = |path: &Option<std::path::PathBuf>,
                      level: &str|
     -> Result<Option<BoxedLayer>, LogInitError> {
        let Some(path) = path else { return Ok(None) };
        let writer = log_file(path, &cfg.rotation)?;
        Ok(Some(
            formatted(cfg.format, writer, false)
                .with_filter(ours(parse_level(level).unwrap_or(LevelFilter::INFO)))
                .with_filter(dependency_cap())
                .boxed(),
        ))
    };
    let mut levels = vec![terminal_level];
    if let Some(layer) = file_layer(&cfg.log_file, &cfg.log_level)? {
        layers.push(layer);
        levels.push(parse_level(&cfg.log_level).unwrap_or(LevelFilter::INFO));
    }
    if cfg.error_log_file != cfg.log_file {
        if let Some(layer) = file_layer(&cfg.error_log_file, &cfg.error_log_level)? {
            layers.push(layer);
            levels.push(parse_level(&cfg.error_log_level).unwrap_or(LevelFilter::INFO));
        }
    }
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
    {
        let rust_log = std::env::var_os("RUST_LOG").is_some();
        log::set_max_level(dependency_log_level(&levels, rust_log));
    }
    Ok(())
}

/// The most verbose `log` record any layer can accept. Only dependencies
/// log through the `log` facade (the host and scripts use `tracing`), and
/// they pass at WARN or the layer's level if lower, or up to
/// [`DEPENDENCY_LEVEL_CAP`] under `RUST_LOG`. The bridge that feeds `log`
/// records to the subscriber leaves the facade at TRACE when the layers'
/// filters give no hint, so every record of the WebSocket library (about
/// twenty per frame) would be built and then dropped by each filter: with
/// the facade's level set, a record past it costs one comparison.
fn dependency_log_level(layer_levels: &[LevelFilter], rust_log: bool) -> log::LevelFilter {
    let cap = LevelFilter::from_level(DEPENDENCY_LEVEL_CAP);
    let most = if rust_log {
        cap
    } else {
        layer_levels
            .iter()
            .map(|level| (*level).min(LevelFilter::WARN))
            .max()
            .unwrap_or(LevelFilter::OFF)
            .min(cap)
    };
    [
        (LevelFilter::ERROR, log::LevelFilter::Error),
        (LevelFilter::WARN, log::LevelFilter::Warn),
        (LevelFilter::INFO, log::LevelFilter::Info),
        (LevelFilter::DEBUG, log::LevelFilter::Debug),
        (LevelFilter::TRACE, log::LevelFilter::Trace),
    ]
    .into_iter()
    .find(|(ours, _)| *ours == most)
    .map_or(log::LevelFilter::Off, |(_, theirs)| theirs)
}

/// The fmt layer for `format` writing to `writer`: the human format (as
/// before, without the target) or one JSON object per line with the
/// current span and the span list.
fn formatted<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(writer)
            .boxed(),
    }
}

/// A log file, appended to. Rotated, the current file keeps its name (as
/// the SDK's do) and the older ones get the date (`NAME.YYYY-MM-DD`, or
/// `NAME.YYYY-MM-DD-HH` hourly); the newest `rotation.keep` are kept.
fn log_file(path: &std::path::Path, rotation: &LogRotation) -> Result<BoxMakeWriter, LogInitError> {
    let failed = |source: std::io::Error| LogInitError {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let Some(every) = rotation.every_secs else {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(failed)?;
        return Ok(BoxMakeWriter::new(Mutex::new(file)));
    };
    use file_rotate::suffix::{AppendTimestamp, DateFrom, FileLimit};
    use file_rotate::{compression::Compression, ContentLimit, FileRotate, TimeFrequency};
    let (frequency, format, from) = match every {
        3600 => (TimeFrequency::Hourly, "%Y-%m-%d-%H", DateFrom::DateHourAgo),
        604_800 => (TimeFrequency::Weekly, "%Y-%m-%d", DateFrom::Now),
        _ => (TimeFrequency::Daily, "%Y-%m-%d", DateFrom::DateYesterday),
    };
    let suffix =
        AppendTimestamp::with_format(format, FileLimit::MaxFiles(rotation.keep.max(1)), from);
    let mut options = OpenOptions::new();
    options.read(true).create(true).append(true);
    let file = FileRotate::new(
        path,
        suffix,
        ContentLimit::Time(frequency),
        Compression::None,
        Some(options),
    );
    Ok(BoxMakeWriter::new(Mutex::new(file)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_facade_passes_only_what_a_layer_accepts_from_dependencies() {
        use super::*;
        let level = |levels: &[LevelFilter], rust_log| dependency_log_level(levels, rust_log);
        assert_eq!(level(&[LevelFilter::INFO], false), log::LevelFilter::Warn);
        assert_eq!(level(&[LevelFilter::ERROR], false), log::LevelFilter::Error);
        assert_eq!(
            level(&[LevelFilter::ERROR, LevelFilter::TRACE], false),
            log::LevelFilter::Warn
        );
        assert_eq!(level(&[LevelFilter::OFF], false), log::LevelFilter::Off);
        assert_eq!(level(&[LevelFilter::ERROR], true), log::LevelFilter::Debug);
    }

    #[test]
    fn sdk_level_names() {
        use super::*;
        assert_eq!(parse_level("warning"), Some(LevelFilter::WARN));
        assert_eq!(parse_level("CRITICAL"), Some(LevelFilter::ERROR));
        assert_eq!(parse_level("loud"), None);
    }
}
