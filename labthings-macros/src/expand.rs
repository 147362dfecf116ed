//! Code generation for `#[thing]`: input structs and the descriptor table.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemImpl};

use crate::ast::{self, Accessor, Action, Hook, Injected, Output, Param, Property, Slot, ThingModel};
use crate::attr::{self, Constraints, LockArg};

/// Expand `#[thing]` applied with arguments `args` to `item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "`#[thing]` takes no arguments: document the Thing with a doc comment on the impl block",
        ));
    }
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[thing]` goes on an impl block: `#[thing] impl MyDevice { .. }`",
            );
            let error = error.to_compile_error();
            return quote! { #item #error };
        }
    };
    let model = ast::parse(&mut item, &mut errors);
    match (model, combine(errors)) {
        (Some(model), None) => generate(&item, &model),
        (model, error) => {
            let error = error.map(|e| e.to_compile_error());
            let stub = model.map(|m| stub(&m));
            quote! { #item #error #stub }
        }
    }
}

fn combine(errors: Vec<syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    })
}

/// With errors, still implement `Thing` so uses of the type do not cascade
/// into "is not a Thing" errors.
fn stub(model: &ThingModel) -> TokenStream {
    let ty = &model.self_ty;
    quote! {
        impl ::labthings::__private::Thing for #ty {
            fn descriptor() -> &'static ::labthings::__private::ThingDescriptor<Self> {
                ::core::unreachable!("this Thing did not compile")
            }
        }
    }
}

fn opt_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn generate(item: &ItemImpl, model: &ThingModel) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let type_name = model.type_ident.to_string();
    let title = model
        .docs
        .as_deref()
        .map(attr::title)
        .unwrap_or_else(|| type_name.clone());
    let description = opt_str(model.docs.as_deref());

    let input_structs = model.actions.iter().map(|a| input_struct(model, a));
    let properties = model.properties.iter().map(|p| property_entry(model, p));
    let setter_checks = model.properties.iter().filter_map(setter_check);
    let actions = model.actions.iter().map(|a| action_entry(model, a));
    let slots = model.slots.iter().map(|s| slot_entry(model, s));
    let streams = model.streams.iter().map(|s| stream_entry(model, s));
    let events = model.events.iter().map(|e| event_entry(model, e));
    let on_start = hook_entry(model, model.on_start.as_ref());
    let on_stop = hook_entry(model, model.on_stop.as_ref());

    quote! {
        #item

        #(#input_structs)*

        const _: () = {
            #(#setter_checks)*

            impl #private::Thing for #ty {
                fn descriptor() -> &'static #private::ThingDescriptor<Self> {
                    static DESCRIPTOR: #private::ThingDescriptor<#ty> = #private::ThingDescriptor {
                        type_name: #type_name,
                        title: #title,
                        description: #description,
                        properties: &[#(#properties),*],
                        actions: &[#(#actions),*],
                        slots: &[#(#slots),*],
                        streams: &[#(#streams),*],
                        events: &[#(#events),*],
                        on_start: #on_start,
                        on_stop: #on_stop,
                    };
                    &DESCRIPTOR
                }
            }
        };
    }
}

/// The generated input struct's name: `StageMoveRelativeInput`.
pub(crate) fn input_ident(model: &ThingModel, action: &Action) -> Ident {
    let pascal: String = action
        .name
        .split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format_ident!("{}{}Input", model.type_ident, pascal)
}

fn input_struct(model: &ThingModel, action: &Action) -> TokenStream {
    let ident = input_ident(model, action);
    let vis = &action.vis;
    let cfgs = &action.cfgs;
    let doc = format!(
        "The input of the `{}` action of [`{}`], generated by `#[thing]`.",
        action.name, model.type_ident
    );
    let mut fields = Vec::new();
    let mut defaults = Vec::new();
    for param in &action.params {
        let Param::Input {
            name,
            ty,
            default,
            constraints,
        } = param
        else {
            continue;
        };
        let schema_attrs = field_schema_attrs(constraints);
        let serde_default = default.as_ref().map(|expr| {
            let fn_name = format_ident!("__default_{}", name);
            let path = format!("{ident}::{fn_name}");
            defaults.push(quote_spanned! {expr.span()=>
                fn #fn_name() -> #ty { #expr }
            });
            quote!(#[serde(default = #path)])
        });
        fields.push(quote! {
            #serde_default
            #schema_attrs
            #vis #name: #ty
        });
    }
    let private = quote!(::labthings::__private);
    let impl_defaults = (!defaults.is_empty()).then(|| {
        quote! {
            #(#cfgs)*
            impl #ident { #(#defaults)* }
        }
    });
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[allow(missing_docs)]
        #[derive(::core::fmt::Debug, #private::serde::Deserialize, #private::serde::Serialize, #private::schemars::JsonSchema)]
        #[serde(crate = "::labthings::__private::serde", deny_unknown_fields)]
        #[schemars(crate = "::labthings::__private::schemars")]
        #vis struct #ident { #(#fields),* }
        #impl_defaults
    }
}

fn property_entry(model: &ThingModel, property: &Property) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let name = &property.name;
    let getter = &property.getter;
    let value_ty = &property.value_ty;
    let title = opt_str(property.docs.as_deref().map(attr::title).as_deref());
    let description = opt_str(property.docs.as_deref());
    let cfgs = &property.cfgs;
    let read = if property.data {
        quote!(::labthings::__private::DataCell::to_json(__thing.#getter()))
    } else if property.fallible {
        quote_spanned!(value_ty.span()=> ::labthings::__private::result_to_output(__thing.#getter()))
    } else {
        quote_spanned!(value_ty.span()=> {
            let __value: #value_ty = __thing.#getter();
            ::labthings::__private::to_output(&__value)
        })
    };
    let some_write = |body: TokenStream| {
        quote! {
            ::core::option::Option::Some(|__thing: &#ty, __value: #private::serde_json::Value| { #body })
        }
    };
    let write = match &property.setter {
        None if property.data && property.writable() => some_write(quote! {
            #private::DataCell::set_json(__thing.#getter(), __value).map_err(#private::WriteError::Invalid)
        }),
        None => quote!(::core::option::Option::None),
        Some(setter) => {
            let method = &setter.method;
            let setter_ty = &setter.value_ty;
            let call = if setter.fallible {
                quote!(#private::result_to_unit(__thing.#method(__value)).map_err(#private::WriteError::Failed))
            } else {
                quote!({
                    __thing.#method(__value);
                    ::core::result::Result::Ok(())
                })
            };
            some_write(quote! {
                let __value: #setter_ty = #private::serde_json::from_value(__value)
                    .map_err(#private::WriteError::Invalid)?;
                #call
            })
        }
    };
    let data = if property.data {
        let data_ty = quote_spanned!(value_ty.span()=> ::labthings::__private::DataProperty<#value_ty>);
        quote! {
            ::core::option::Option::Some(|__thing: &#ty| -> &dyn #private::DataCell {
                let __data: &#data_ty = __thing.#getter();
                __data
            })
        }
    } else {
        quote!(::core::option::Option::None)
    };
    let setting = property.options.setting.is_some();
    let write_lock = lock_scope(property.options.lock.map(|(lock, _)| lock));
    let schema = schema_fn(value_ty, &property.options.constraints);
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
        }
    }
}

/// The schema function of a property: the type's schema plus any
/// `minimum`/`maximum`/`unit` from the attribute.
fn schema_fn(value_ty: &syn::Type, constraints: &Constraints) -> TokenStream {
    let private = quote!(::labthings::__private);
    let keywords: Vec<TokenStream> = [
        ("minimum", constraints.minimum.as_ref().map(|e| quote!(#e))),
        ("maximum", constraints.maximum.as_ref().map(|e| quote!(#e))),
        ("unit", constraints.unit.as_ref().map(|u| quote!(#u))),
    ]
    .into_iter()
    .filter_map(|(key, value)| {
        value.map(|value| quote!(__schema.insert(#key.into(), #private::serde_json::json!(#value));))
    })
    .collect();
    if keywords.is_empty() {
        quote!(|__generator| __generator.root_schema_for::<#value_ty>())
    } else {
        quote!(|__generator| {
            let mut __schema = __generator.root_schema_for::<#value_ty>();
            #(#keywords)*
            __schema
        })
    }
}

/// schemars attributes on an input field for `#[param(..)]` options.
fn field_schema_attrs(constraints: &Constraints) -> TokenStream {
    let mut attrs = Vec::new();
    let range: Vec<TokenStream> = [
        constraints.minimum.as_ref().map(|e| quote!(min = #e)),
        constraints.maximum.as_ref().map(|e| quote!(max = #e)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !range.is_empty() {
        attrs.push(quote!(#[schemars(range(#(#range),*))]));
    }
    if let Some(unit) = &constraints.unit {
        attrs.push(quote!(#[schemars(extend("unit" = #unit))]));
    }
    if let Some(description) = &constraints.description {
        attrs.push(quote!(#[schemars(description = #description)]));
    }
    quote!(#(#attrs)*)
}

/// The `LockScope` for an optional lock option.
fn lock_scope(lock: Option<LockArg>) -> TokenStream {
    match lock {
        None => quote!(::labthings::__private::LockScope::None),
        Some(LockArg::Thing) => quote!(::labthings::__private::LockScope::Thing),
        Some(LockArg::Server) => quote!(::labthings::__private::LockScope::Server),
    }
}

fn slot_entry(model: &ThingModel, slot: &Slot) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let method = &slot.method;
    let target = &slot.target;
    let name = method.to_string();
    let target_name = quote!(#target).to_string().replace(' ', "");
    quote! {
        #private::SlotDescriptor {
            name: #name,
            target_type: #target_name,
            target_id: ::core::any::TypeId::of::<#target>,
            connect: |__thing: &#ty, __target| __thing.#method().connect_any(__target),
        }
    }
}

fn stream_entry(model: &ThingModel, stream: &Accessor) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let method = &stream.method;
    let name = method.to_string();
    let title = opt_str(stream.docs.as_deref().map(attr::title).as_deref());
    let description = opt_str(stream.docs.as_deref());
    let cfgs = &stream.cfgs;
    quote! {
        #(#cfgs)*
        #private::StreamDescriptor {
            name: #name,
            title: #title,
            description: #description,
            get: |__thing: &#ty| __thing.#method(),
        }
    }
}

fn event_entry(model: &ThingModel, event: &Accessor) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let method = &event.method;
    let name = method.to_string();
    let title = opt_str(event.docs.as_deref().map(attr::title).as_deref());
    let description = opt_str(event.docs.as_deref());
    let cfgs = &event.cfgs;
    let payload = match &event.payload {
        Some(payload) => quote!(#payload),
        None => quote!(()),
    };
    quote! {
        #(#cfgs)*
        #private::EventDescriptor {
            name: #name,
            title: #title,
            description: #description,
            schema: |__generator| __generator.root_schema_for::<#payload>(),
            get: |__thing: &#ty| -> &dyn #private::EventSource { __thing.#method() },
        }
    }
}

fn hook_entry(model: &ThingModel, hook: Option<&Hook>) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let Some(hook) = hook else {
        return quote!(::core::option::Option::None);
    };
    let method = &hook.method;
    let body = if hook.fallible {
        quote!(#private::result_to_unit(__thing.#method()))
    } else {
        quote!({
            __thing.#method();
            ::core::result::Result::Ok(())
        })
    };
    quote!(::core::option::Option::Some(|__thing: &#ty| #body))
}

/// A compile-time check that a setter takes the type its getter returns,
/// reported on the setter's parameter type.
fn setter_check(property: &Property) -> Option<TokenStream> {
    let setter = property.setter.as_ref()?;
    let getter_ty = &property.value_ty;
    let setter_ty = &setter.value_ty;
    let check = format_ident!("__labthings_setter_takes_getter_type_{}", setter.method);
    let cfgs = &property.cfgs;
    Some(quote_spanned! {setter_ty.span()=>
        #(#cfgs)*
        #[allow(dead_code, non_snake_case)]
        fn #check(value: #setter_ty) -> #getter_ty { value }
    })
}

fn action_entry(model: &ThingModel, action: &Action) -> TokenStream {
    let private = quote!(::labthings::__private);
    let ty = &model.self_ty;
    let name = &action.name;
    let method = &action.method;
    let input = input_ident(model, action);
    let title = opt_str(action.docs.as_deref().map(attr::title).as_deref());
    let description = opt_str(action.docs.as_deref());
    let cfgs = &action.cfgs;
    let has_input = action.params.iter().any(|p| matches!(p, Param::Input { .. }));
    let args = action.params.iter().map(|param| match param {
        Param::Input { name, .. } => quote!(__args.#name),
        Param::Injected {
            kind: Injected::CancelHook,
            by_ref: false,
        } => quote!(__handle.cancel_hook()),
        Param::Injected {
            kind: Injected::CancelHook,
            by_ref: true,
        } => quote!(&__handle.cancel_hook()),
        Param::Injected {
            kind: Injected::InvocationHandle,
            by_ref: false,
        } => quote!(__handle.clone()),
        Param::Injected {
            kind: Injected::InvocationHandle,
            by_ref: true,
        } => quote!(__handle),
    });
    let call = quote!(__thing.#method(#(#args),*));
    let (output_ty, run) = match &action.output {
        Output::Unit => (
            quote!(()),
            quote!({
                #call;
                ::core::result::Result::Ok(#private::serde_json::Value::Null)
            }),
        ),
        Output::Plain(out) => (
            quote!(#out),
            quote_spanned!(out.span()=> {
                let __output: #out = #call;
                ::labthings::__private::to_output(&__output)
            }),
        ),
        Output::Result(out) => (
            quote!(#out),
            quote_spanned!(out.span()=> ::labthings::__private::result_to_output(#call)),
        ),
    };
    let input_pattern = if has_input { quote!(__args) } else { quote!(_) };
    let when_busy = if action.reject_when_busy {
        quote!(#private::WhenBusy::Reject)
    } else {
        quote!(#private::WhenBusy::Wait)
    };
    let scope = lock_scope(action.lock);
    let lock = quote!(#private::LockPolicy { scope: #scope, when_busy: #when_busy });
    let retention = match action.retention_secs {
        Some(secs) => quote!(::core::option::Option::Some(::core::time::Duration::from_secs(#secs))),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #(#cfgs)*
        #private::ActionDescriptor {
            name: #name,
            title: #title,
            description: #description,
            input_schema: |__generator| __generator.root_schema_for::<#input>(),
            output_schema: |__generator| __generator.root_schema_for::<#output_ty>(),
            prepare: |__thing: ::std::sync::Arc<#ty>, __value: #private::serde_json::Value| {
                #private::prepare_call(__value, move |#input_pattern: #input, __handle: &#private::InvocationHandle| {
                    let __thing: &#ty = &__thing;
                    let _ = __handle;
                    #run
                })
            },
            retention: #retention,
            lock: #lock,
        }
    }
}
