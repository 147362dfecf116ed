//! Code generation for `#[model]`: the serde and schemars derives, through
//! the labthings facade, so a device crate needs no serde or schemars of
//! its own.

use proc_macro2::TokenStream;
use quote::quote;

use crate::context::Ctx;

/// Expand `#[model]` applied with arguments `args` to `item`.
pub(crate) fn expand_model(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        let error = syn::Error::new_spanned(
            &args,
            "`#[model]` takes no arguments: serde's and schemars' own attributes (`#[serde(rename = \"..\")]`, \
             `#[schemars(range(min = 0))]`, doc comments) still work on the type and its fields",
        )
        .to_compile_error();
        return quote!(#error #item);
    }
    let ctx = Ctx::new();
    let private = &ctx.private;
    let (serde_crate, schemars_crate) = (&ctx.serde_crate, &ctx.schemars_crate);
    quote! {
        #[derive(#private::serde::Serialize, #private::serde::Deserialize, #private::schemars::JsonSchema)]
        #[serde(crate = #serde_crate)]
        #[schemars(crate = #schemars_crate)]
        #item
    }
}
