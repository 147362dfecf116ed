//! The attribute macros of [labthings](https://crates.io/crates/labthings).
//! Use them through the `labthings` facade: `use labthings::prelude::*;`.
//!
//! `#[thing]` goes on a device's struct and on its inherent `impl` block.
//! On the struct's fields, `#[property]` marks a `DataProperty<T>`,
//! `#[slot]` a `ThingSlot<T>`, `#[stream]` an `MjpegStream` and `#[event]`
//! an `Event<T>`; the struct's doc comment is the Thing's title and
//! description. In the impl block, `#[property]` marks a getter (a method
//! `set_{getter}` is its setter), `#[action]` a method run as a tracked
//! invocation, `#[endpoint]` an extra resource answering raw bytes, and
//! `#[on_start]`/`#[on_stop]` the lifecycle hooks. Actions, getters, setters
//! and hooks may be `async fn` (run on the server's tokio runtime); an
//! action's `&InvocationHandle<T>` parameter declares the type `T` of its
//! intermediate results. For each action it
//! generates an input struct named `{Type}{Action}Input` (e.g.
//! `StageMoveRelativeInput`), for each endpoint a parameter struct
//! `{Type}{Endpoint}Params`, with the method's visibility.
//!
//! The crate is three steps: `parse` reads the syntax into the `model`
//! (with `attr` reading the attributes from one table of roles, and
//! `check` finding mistakes), then `expand` emits code. Every path into the
//! runtime comes from one `context::Ctx`.

mod attr;
mod check;
mod context;
mod expand;
mod model;
mod parse;
#[cfg(test)]
mod snapshot_tests;

use proc_macro::TokenStream;

/// Serve a struct and its impl block as a Web of Things Thing: put it on
/// both. See the `labthings` crate documentation.
#[proc_macro_attribute]
pub fn thing(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}

/// Make a type a value clients can be sent and send: derive serde's
/// `Serialize` and `Deserialize` and schemars' `JsonSchema` for it through
/// labthings, so the device crate needs neither serde nor schemars as a
/// dependency. Put it above any `#[derive(..)]`; serde's and schemars'
/// attributes keep working on the type and its fields.
#[proc_macro_attribute]
pub fn model(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand_model(args.into(), item.into()).into()
}

/// Mark a `DataProperty<T>` field or a getter method as a property. Only
/// meaningful inside a `#[thing]` struct or impl block.
#[proc_macro_attribute]
pub fn property(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("property", item)
}

/// Mark a method as an action. Only meaningful inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn action(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("action", item)
}

/// Mark a method as an extra resource of the Thing (a raw download, a small
/// HTML page) that answers `Raw` bytes at once, with its parameters from the
/// query string. Options: `name = ".."`, `method = "get" | "post" | "put" |
/// "delete"`. Only meaningful inside a `#[thing]` impl block.
#[proc_macro_attribute]
pub fn endpoint(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("endpoint", item)
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

/// Mark a `ThingSlot<T>` field. Only meaningful inside a `#[thing]` struct.
#[proc_macro_attribute]
pub fn slot(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("slot", item)
}

/// Mark an `MjpegStream` field. Only meaningful inside a `#[thing]` struct.
#[proc_macro_attribute]
pub fn stream(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("stream", item)
}

/// Mark an `Event<T>` field. Only meaningful inside a `#[thing]` struct.
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

/// The error for an inner attribute used without `#[thing]` on its item.
fn outside_thing(name: &str, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let message = format!(
        "`#[{name}]` only works inside a struct or an impl block marked `#[thing]`: add `#[thing]` above the `struct` or `impl`"
    );
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote::quote!(#error #item).into()
}
