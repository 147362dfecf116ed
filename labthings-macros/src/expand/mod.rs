//! Code generation for `#[thing]`: on a struct, its field table; on an impl
//! block, the input structs and the Thing's descriptor.

mod client;
mod derives;
mod methods;
mod structure;

pub(crate) use derives::expand_model;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Item;

use crate::attr::{self, Constraints, LockArg, PropertyOptions};
use crate::context::Ctx;
use crate::parse;

/// Expand `#[thing]` applied with arguments `args` to `item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let ctx = Ctx::new();
    let mut errors = Vec::new();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[thing]` takes no arguments: document the Thing with a doc comment on its struct",
        ));
    }
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(mut item)) => {
            let model = parse::structure(&mut item, &mut errors);
            let generated = match combine(errors) {
                None => structure::generate(&ctx, &model),
                Some(error) => {
                    let error = error.to_compile_error();
                    let stub = structure::stub(&ctx, &model);
                    quote!(#error #stub)
                }
            };
            quote!(#item #generated)
        }
        Ok(Item::Impl(mut item)) => {
            let model = parse::impl_block(&mut item, &mut errors);
            let generated = match (model, combine(errors)) {
                (Some(model), None) => methods::generate(&ctx, &model),
                (model, error) => {
                    let error = error.map(|e| e.to_compile_error());
                    let stub = model.map(|m| methods::stub(&ctx, &m));
                    quote!(#error #stub)
                }
            };
            quote!(#item #generated)
        }
        _ => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[thing]` goes on a struct and on its impl block: `#[thing] struct MyDevice { .. }` and `#[thing] impl MyDevice { .. }`",
            )
            .to_compile_error();
            quote!(#item #error)
        }
    }
}

fn combine(errors: Vec<syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    })
}

fn opt_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// The TD title (first paragraph of the doc comment) and description.
fn title_and_description(docs: Option<&str>) -> (TokenStream, TokenStream) {
    (opt_str(docs.map(attr::title).as_deref()), opt_str(docs))
}

/// How generated code reads, writes and stores one property: the closures
/// that differ between a data property field and a getter method.
struct PropertyCode {
    /// The body of `read: |__thing: &T| ..`.
    read: TokenStream,
    /// `Option<WriteFn<T>>`.
    write: TokenStream,
    /// `Option<DataFn<T>>`.
    data: TokenStream,
}

/// What a property descriptor is made of, wherever it was declared.
struct PropertyParts<'a> {
    /// The Thing's type.
    ty: &'a dyn quote::ToTokens,
    name: &'a str,
    docs: Option<&'a str>,
    cfgs: &'a [syn::Attribute],
    value_ty: &'a syn::Type,
    options: &'a PropertyOptions,
}

/// The `PropertyDescriptor` of a property declared on a field or a method.
fn property_descriptor(ctx: &Ctx, parts: PropertyParts<'_>, code: PropertyCode) -> TokenStream {
    let private = &ctx.private;
    let PropertyParts {
        ty,
        name,
        docs,
        cfgs,
        value_ty,
        options,
    } = parts;
    let PropertyCode { read, write, data } = code;
    let (title, description) = title_and_description(docs);
    let setting = options.setting.is_some();
    let state = options.state;
    let poll_ms = match &options.poll_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    let write_lock = lock_scope(ctx, options.lock.map(|(lock, _)| lock));
    let schema = schema_fn(ctx, value_ty, &options.constraints);
    quote! {
        #(#cfgs)*
        #private::PropertyDescriptor {
            name: #name,
            title: #title,
            description: #description,
            schema: #schema,
            read: |__thing: &#ty| #read,
            write: #write,
            data: #data,
            setting: #setting,
            write_lock: #write_lock,
            poll_ms: #poll_ms,
            state: #state,
        }
    }
}

/// The schema function of a property: the type's schema plus the keywords
/// of the attribute (`minimum`, `unit`, `pattern`, ...).
fn schema_fn(ctx: &Ctx, value_ty: &syn::Type, constraints: &Constraints) -> TokenStream {
    let private = &ctx.private;
    if constraints.keywords.is_empty() {
        return quote!(#private::schema_of::<#value_ty>);
    }
    let keywords = constraints
        .keywords
        .iter()
        .map(|(keyword, value)| quote!(__schema.insert(#keyword.into(), #private::serde_json::json!(#value));));
    quote!(|__generator| {
        let mut __schema = #private::schema_of::<#value_ty>(__generator);
        #(#keywords)*
        __schema
    })
}

/// The `LockScope` for an optional lock option.
fn lock_scope(ctx: &Ctx, lock: Option<LockArg>) -> TokenStream {
    let private = &ctx.private;
    match lock {
        None | Some(LockArg::Unlocked) => quote!(#private::LockScope::None),
        Some(LockArg::Thing) => quote!(#private::LockScope::Thing),
        Some(LockArg::Server) => quote!(#private::LockScope::Server),
    }
}
