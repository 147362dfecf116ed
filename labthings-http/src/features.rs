//! What a program built without one of the optional parts says when its
//! configuration asks for that part.

/// The refusal when the configuration asks for what the cargo feature
/// `feature` of labthings builds in: `cannot` says what the program cannot
/// do (`"serve HTTPS"`), and the way out is named.
///
/// ```text
/// this program was built without the `tls` feature of labthings, so it cannot serve HTTPS;
/// add it to the `labthings` dependency's features
/// ```
#[cfg_attr(
    all(
        feature = "tls",
        feature = "auth",
        feature = "mqtt",
        feature = "mcp",
        feature = "discovery",
        feature = "remote-blobs"
    ),
    allow(dead_code)
)]
pub(crate) fn missing(feature: &str, cannot: &str) -> String {
    format!(
        "this program was built without the `{feature}` feature of labthings, so it cannot {cannot}; add it to \
         the `labthings` dependency's features"
    )
}
