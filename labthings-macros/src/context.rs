//! The one value every code generator receives: where the runtime lives.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Paths into the labthings facade, built once per expansion.
pub(crate) struct Ctx {
    /// The hidden module generated code refers to, named for this macro
    /// crate's version (`::labthings::__private_0_1_0`), so a macro crate
    /// and a runtime of different versions fail with "could not find
    /// `__private_0_1_0` in `labthings`" instead of a confusing type error.
    pub private: TokenStream,
    /// The same path as a string, for `#[serde(crate = "..")]`.
    pub serde_crate: String,
    /// The same path as a string, for `#[schemars(crate = "..")]`.
    pub schemars_crate: String,
}

impl Ctx {
    /// The paths for the `labthings` facade crate.
    pub(crate) fn new() -> Self {
        let module = private_module_name();
        let ident = format_ident!("{module}");
        Self {
            private: quote!(::labthings::#ident),
            serde_crate: format!("::labthings::{module}::serde"),
            schemars_crate: format!("::labthings::{module}::schemars"),
        }
    }
}

/// `__private_` and this crate's version with `.` as `_`.
pub(crate) fn private_module_name() -> String {
    let version: String = env!("CARGO_PKG_VERSION")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__private_{version}")
}
