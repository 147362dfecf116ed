//! The attribute macros of [labthings](https://crates.io/crates/labthings).
//! Use them through the `labthings` facade: `use labthings::prelude::*;`.
//!
//! `#[thing]` goes on an inherent `impl` block. Inside it, `#[property]` marks
//! a getter, `#[setter(name)]` its setter, and `#[action]` a method run as a
//! tracked invocation. For each action it generates a public input struct
//! named `{Type}{Action}Input` (e.g. `StageMoveRelativeInput`) and, for the
//! type, an implementation of `labthings::Thing` holding a static table of
//! every affordance. The labthings facade's documentation has a full example.

mod ast;
mod attr;
mod expand;
#[cfg(test)]
mod snapshot_tests;

use proc_macro::TokenStream;

/// Serve an impl block's `#[property]` and `#[action]` methods as a Web of
/// Things Thing. See the `labthings` crate documentation.
#[proc_macro_attribute]
pub fn thing(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}

/// Mark a getter as a property. Only meaningful inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn property(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("property", item)
}

/// Mark a method as the setter of a property. Only meaningful inside a
/// `#[thing]` impl block.
#[proc_macro_attribute]
pub fn setter(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("setter", item)
}

/// Mark a method as an action. Only meaningful inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn action(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("action", item)
}

/// Mark a method run before the server accepts requests. Only meaningful
/// inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn on_start(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("on_start", item)
}

/// Mark a method run on graceful shutdown. Only meaningful inside a
/// `#[thing]` impl block.
#[proc_macro_attribute]
pub fn on_stop(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("on_stop", item)
}

/// Mark the accessor of a `ThingSlot<T>` field. Only meaningful inside a
/// `#[thing]` impl block.
#[proc_macro_attribute]
pub fn slot(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("slot", item)
}

/// Mark the accessor of an `MjpegStream` field. Only meaningful inside a
/// `#[thing]` impl block.
#[proc_macro_attribute]
pub fn stream(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("stream", item)
}

/// Mark the accessor of an `Event<T>` field. Only meaningful inside a
/// `#[thing]` impl block.
#[proc_macro_attribute]
pub fn event(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("event", item)
}

/// Schema options of an action parameter (`minimum`, `maximum`, `unit`,
/// `description`). Only meaningful on a parameter inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn param(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("param", item)
}

/// The error for an inner attribute used without `#[thing]` on its impl block.
fn outside_thing(name: &str, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let message = format!(
        "`#[{name}]` only works on a method inside an impl block marked `#[thing]`: add `#[thing]` above the `impl`"
    );
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote::quote!(#error #item).into()
}
