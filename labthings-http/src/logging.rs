//! The server's console log: records at `info` and above printed to stderr,
//! and action logs captured into their invocations.

use labthings_core::InvocationLogLayer;

/// Install a global subscriber that prints `info` and above to stderr
/// (`RUST_LOG` overrides; plain text unless stderr is a terminal) and
/// captures action logs with [`InvocationLogLayer`]; `log` crate records
/// are bridged too.
///
/// Does nothing if a global subscriber is already set (then add
/// [`InvocationLogLayer`] to it yourself). Safe to call more than once.
///
/// ```
/// labthings_http::init_tracing();
/// labthings_http::init_tracing(); // a second call changes nothing
/// ```
pub fn init_tracing() {
    install(Printer::Stderr);
}

/// [`init_tracing`] for tests, of a device crate or of labthings itself:
/// records are printed through the test harness, which shows them only for
/// a test that fails (and never in colour), so a passing run stays quiet.
/// Invocation logs are captured as usual.
///
/// ```
/// labthings_http::init_test_tracing();
/// ```
pub fn init_test_tracing() {
    install(Printer::TestHarness);
}

/// Where the console log goes.
enum Printer {
    /// Standard error, in colour on a terminal.
    Stderr,
    /// `print!`, which `cargo test` captures per test.
    TestHarness,
}

/// Install the global subscriber unless one is set.
fn install(printer: Printer) {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    use tracing_subscriber::prelude::*;
    let printed = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let layer = tracing_subscriber::fmt::layer();
    let layer = match printer {
        // Colours for a terminal; plain text for a log file or pipe.
        Printer::Stderr => layer
            .with_writer(tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr))
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        Printer::TestHarness => layer
            .with_writer(tracing_subscriber::fmt::writer::BoxMakeWriter::new(
                tracing_subscriber::fmt::TestWriter::new(),
            ))
            .with_ansi(false),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(printed))
        // What reaches the invocation logs: `info` and above, and `debug` on
        // a thread whose invocation keeps debug records (its action's or
        // the configuration's `log_level`), decided for each record (the
        // answer changes with the thread) before the record is built.
        .with(
            InvocationLogLayer.with_filter(
                tracing_subscriber::filter::dynamic_filter_fn(|meta, _| {
                    *meta.level() <= tracing::Level::INFO || labthings_core::log::captured_at(meta.level())
                })
                .with_max_level_hint(LevelFilter::DEBUG),
            ),
        )
        .try_init();
}
