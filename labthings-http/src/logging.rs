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
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    use tracing_subscriber::prelude::*;
    let printed = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours for a terminal; plain text for a log file or pipe.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(printed),
        )
        .with(InvocationLogLayer.with_filter(LevelFilter::INFO))
        .try_init();
}
