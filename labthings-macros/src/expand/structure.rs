//! `#[thing]` on a struct: the Thing's title and the affordances declared on
//! its fields, as a `ThingStruct` implementation.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{PropertyCode, PropertyParts, property_descriptor, title_and_description};
use crate::attr;
use crate::context::Ctx;
use crate::model::{Field, FieldProperty, SlotField, StructModel};

pub(super) fn generate(ctx: &Ctx, model: &StructModel) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let type_name = ty.to_string();
    let title = model
        .docs
        .as_deref()
        .map(attr::title)
        .unwrap_or_else(|| type_name.clone());
    let description = super::opt_str(model.docs.as_deref());
    let properties = model.properties.iter().map(|p| property(ctx, model, p));
    let slots = model.slots.iter().map(|s| slot(ctx, model, s));
    let streams = model.streams.iter().map(|s| stream(ctx, model, s));
    let events = model.events.iter().map(|e| event(ctx, model, e));
    let client = super::client::for_struct(ctx, model);
    quote! {
        #client

        const _: () = {
            impl #private::ThingStruct for #ty {
                const STRUCT: &'static #private::StructDescriptor<Self> = &#private::StructDescriptor {
                    type_name: #type_name,
                    title: #title,
                    description: #description,
                    properties: &[#(#properties),*],
                    slots: &[#(#slots),*],
                    streams: &[#(#streams),*],
                    events: &[#(#events),*],
                };
            }
        };
    }
}

/// With errors, still implement `ThingStruct` so uses of the type do not
/// cascade into "is not a `#[thing]` struct" errors.
pub(super) fn stub(ctx: &Ctx, model: &StructModel) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let type_name = ty.to_string();
    let client = super::client::stub_for_struct(ctx, model);
    quote! {
        #client
        impl #private::ThingStruct for #ty {
            const STRUCT: &'static #private::StructDescriptor<Self> = &#private::StructDescriptor {
                type_name: #type_name,
                title: #type_name,
                description: ::core::option::Option::None,
                properties: &[],
                slots: &[],
                streams: &[],
                events: &[],
            };
        }
    }
}

fn property(ctx: &Ctx, model: &StructModel, property: &FieldProperty) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let Field {
        member,
        name,
        inner,
        cfgs,
        docs,
        ..
    } = &property.field;
    let data_ty = quote_spanned!(inner.span()=> #private::DataProperty<#inner>);
    let write = match (&property.options.read_only, &property.options.on_set) {
        (Some(_), _) => quote!(::core::option::Option::None),
        (None, None) => quote! {
            ::core::option::Option::Some(|__thing: &#ty, __value: #private::serde_json::Value| {
                #private::DataCell::set_json(&__thing.#member, __value).map_err(#private::WriteError::Invalid)
            })
        },
        // The hook sees the decoded value and returns the one to store (or
        // refuses it) before anything is stored or announced.
        (None, Some(method)) => {
            let method = syn::Ident::new(&method.value(), method.span());
            quote! {
                ::core::option::Option::Some(|__thing: &#ty, __value: #private::serde_json::Value| {
                    let __value: #inner = #private::serde_json::from_value(__value).map_err(#private::WriteError::Invalid)?;
                    let __value = #private::on_set_result(#ty::#method(__thing, __value)).map_err(#private::WriteError::Failed)?;
                    #private::DataProperty::set(&__thing.#member, __value);
                    ::core::result::Result::Ok(())
                })
            }
        }
    };
    let code = PropertyCode {
        read: quote!(#private::DataCell::to_json(&__thing.#member)),
        write,
        data: quote! {
            ::core::option::Option::Some(|__thing: &#ty| -> &dyn #private::DataCell {
                let __data: &#data_ty = &__thing.#member;
                __data
            })
        },
    };
    let parts = PropertyParts {
        ty,
        name,
        docs: docs.as_deref(),
        cfgs,
        value_ty: inner,
        options: &property.options,
    };
    property_descriptor(ctx, parts, code)
}

fn slot(ctx: &Ctx, model: &StructModel, slot: &SlotField) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let SlotField {
        field:
            Field {
                member,
                name,
                inner,
                cfgs,
                ..
            },
        ty: field_ty,
        default,
    } = slot;
    let target_name = compact_type_name(&quote!(#inner).to_string());
    let default = match default {
        Some(name) => quote!(::core::option::Option::Some(#name)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #(#cfgs)*
        #private::SlotDescriptor {
            name: #name,
            target_type: #target_name,
            target_id: ::core::any::TypeId::of::<#inner>,
            kind: <#field_ty as #private::Slot>::KIND,
            default: #default,
            connect: |__thing: &#ty, __target| #private::Slot::connect_any(&__thing.#member, __target),
        }
    }
}

fn stream(ctx: &Ctx, model: &StructModel, stream: &Field) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let Field {
        member,
        name,
        cfgs,
        docs,
        ..
    } = stream;
    let (title, description) = title_and_description(docs.as_deref());
    quote! {
        #(#cfgs)*
        #private::StreamDescriptor {
            name: #name,
            title: #title,
            description: #description,
            get: |__thing: &#ty| &__thing.#member,
        }
    }
}

fn event(ctx: &Ctx, model: &StructModel, event: &Field) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.ident;
    let Field {
        member,
        name,
        inner,
        cfgs,
        docs,
        ..
    } = event;
    let (title, description) = title_and_description(docs.as_deref());
    quote! {
        #(#cfgs)*
        #private::EventDescriptor {
            name: #name,
            title: #title,
            description: #description,
            schema: #private::schema_of::<#inner>,
            get: |__thing: &#ty| -> &dyn #private::EventSource { &__thing.#member },
        }
    }
}

/// A type's tokens as Rust writes the type: spaces only between two words
/// (`dyn Stage`, `Vec<u8>`, `std::sync::Arc<T>`).
fn compact_type_name(tokens: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = tokens.chars().collect();
    let mut name = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = name.chars().last().is_some_and(word);
            let after = chars.get(i + 1).is_some_and(|&n| word(n));
            if !(before && after) {
                continue;
            }
        }
        name.push(c);
    }
    name
}

#[cfg(test)]
mod tests {
    #[test]
    fn type_names_keep_spaces_between_words_only() {
        assert_eq!(super::compact_type_name("dyn Stage"), "dyn Stage");
        assert_eq!(super::compact_type_name("Vec < u8 >"), "Vec<u8>");
        assert_eq!(
            super::compact_type_name("std :: sync :: Arc < dyn Stage >"),
            "std::sync::Arc<dyn Stage>"
        );
        assert_eq!(super::compact_type_name("Stage"), "Stage");
    }
}
