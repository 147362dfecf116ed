//! `#[thing]` on an impl block: the input struct of each action and the
//! `Thing` implementation whose descriptor joins the struct's field table
//! with the getters, actions and hooks declared here.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::{PropertyCode, PropertyParts, lock_scope, property_descriptor, title_and_description};
use crate::attr::Constraints;
use crate::context::Ctx;
use crate::model::{Action, Endpoint, Hook, ImplModel, Injected, Output, Param, Property};

pub(super) fn generate(ctx: &Ctx, model: &ImplModel) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let input_structs = model
        .actions
        .iter()
        .map(|a| input_struct(ctx, InputParts::of_action(model, a)))
        .chain(
            model
                .endpoints
                .iter()
                .map(|e| input_struct(ctx, InputParts::of_endpoint(model, e))),
        );
    let properties = model.properties.iter().map(|p| property(ctx, model, p));
    let setter_checks = model.properties.iter().filter_map(setter_check);
    let name_checks = name_checks(ctx, model);
    let actions = model.actions.iter().map(|a| action(ctx, model, a));
    let endpoints = model.endpoints.iter().map(|e| endpoint(ctx, model, e));
    let on_start = hook(ctx, model, model.on_start.as_ref());
    let on_stop = hook(ctx, model, model.on_stop.as_ref());

    let client = super::client::for_impl(ctx, model);
    quote! {
        #(#input_structs)*
        #client

        const _: () = {
            #(#setter_checks)*
            #(#name_checks)*

            impl #private::Thing for #ty {
                fn descriptor() -> &'static #private::ThingDescriptor<Self> {
                    static DESCRIPTOR: #private::ThingDescriptor<#ty> = #private::ThingDescriptor {
                        fields: <#ty as #private::ThingStruct>::STRUCT,
                        properties: &[#(#properties),*],
                        actions: &[#(#actions),*],
                        endpoints: &[#(#endpoints),*],
                        on_start: #on_start,
                        on_stop: #on_stop,
                    };
                    &DESCRIPTOR
                }
            }
        };
    }
}

/// With errors, still implement `Thing` so uses of the type do not cascade
/// into "is not a Thing" errors.
pub(super) fn stub(ctx: &Ctx, model: &ImplModel) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    quote! {
        impl #private::Thing for #ty {
            fn descriptor() -> &'static #private::ThingDescriptor<Self> {
                ::core::unreachable!("this Thing did not compile")
            }
        }
    }
}

/// Compile-time checks that no getter or action reuses the name of an
/// affordance declared on a field (the two are in different items, so the
/// macro cannot compare them itself).
fn name_checks<'a>(ctx: &'a Ctx, model: &'a ImplModel) -> impl Iterator<Item = TokenStream> + 'a {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let properties = model.properties.iter().map(|p| (&p.name, p.name_span, &p.cfgs));
    let actions = model.actions.iter().map(|a| (&a.name, a.name_span, &a.cfgs));
    let endpoints = model.endpoints.iter().map(|e| (&e.name, e.name_span, &e.cfgs));
    properties.chain(actions).chain(endpoints).map(move |(name, span, cfgs)| {
        let message = format!(
            "two affordances are named `{name}`: a field of the struct already has this name, and each property, action, endpoint, stream and event needs its own (it is its URL)"
        );
        quote_spanned! {span=>
            #(#cfgs)*
            const _: () = ::core::assert!(
                !<#ty as #private::ThingStruct>::STRUCT.has_affordance(#name),
                #message
            );
        }
    })
}

/// `move_relative` → `MoveRelative`.
pub(super) fn pascal(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The generated input struct's name: `StageMoveRelativeInput`.
pub(crate) fn input_ident(model: &ImplModel, action: &Action) -> Ident {
    format_ident!("{}{}Input", model.type_ident, pascal(&action.name))
}

/// The generated parameter struct of an endpoint: `CameraHistogramParams`.
fn params_ident(model: &ImplModel, endpoint: &Endpoint) -> Ident {
    format_ident!("{}{}Params", model.type_ident, pascal(&endpoint.name))
}

/// A struct generated from a method's parameters: an action's input or an
/// endpoint's parameters.
struct InputParts<'a> {
    ident: Ident,
    vis: &'a syn::Visibility,
    cfgs: &'a [syn::Attribute],
    params: &'a [Param],
    doc: String,
}

impl<'a> InputParts<'a> {
    fn of_action(model: &ImplModel, action: &'a Action) -> Self {
        Self {
            ident: input_ident(model, action),
            vis: &action.vis,
            cfgs: &action.cfgs,
            params: &action.params,
            doc: format!(
                "The input of the `{}` action of [`{}`], generated by `#[thing]`.",
                action.name, model.type_ident
            ),
        }
    }

    fn of_endpoint(model: &ImplModel, endpoint: &'a Endpoint) -> Self {
        Self {
            ident: params_ident(model, endpoint),
            vis: &endpoint.vis,
            cfgs: &endpoint.cfgs,
            params: &endpoint.params,
            doc: format!(
                "The parameters of the `{}` endpoint of [`{}`], generated by `#[thing]`.",
                endpoint.name, model.type_ident
            ),
        }
    }
}

fn input_struct(ctx: &Ctx, parts: InputParts<'_>) -> TokenStream {
    let private = &ctx.private;
    let InputParts {
        ident,
        vis,
        cfgs,
        params,
        doc,
    } = parts;
    let mut fields = Vec::new();
    let mut defaults = Vec::new();
    for param in params {
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
    let impl_defaults = (!defaults.is_empty()).then(|| {
        quote! {
            #(#cfgs)*
            impl #ident { #(#defaults)* }
        }
    });
    let (serde_crate, schemars_crate) = (&ctx.serde_crate, &ctx.schemars_crate);
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[allow(missing_docs)]
        #[derive(::core::fmt::Debug, #private::serde::Deserialize, #private::serde::Serialize, #private::schemars::JsonSchema)]
        #[serde(crate = #serde_crate, deny_unknown_fields)]
        #[schemars(crate = #schemars_crate)]
        #vis struct #ident { #(#fields),* }
        #impl_defaults
    }
}

/// schemars attributes on an input field for `#[param(..)]` options: each
/// keyword added to the field's schema as written.
fn field_schema_attrs(constraints: &Constraints) -> TokenStream {
    let attrs = constraints
        .keywords
        .iter()
        .map(|(keyword, value)| quote!(#[schemars(extend(#keyword = #value))]));
    quote!(#(#attrs)*)
}

fn property(ctx: &Ctx, model: &ImplModel, property: &Property) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let name = &property.name;
    let getter = &property.getter;
    let value_ty = &property.value_ty;
    let cfgs = &property.cfgs;
    let get = completed(ctx, quote!(__thing.#getter()), property.getter_async);
    let read = if property.fallible {
        quote_spanned!(value_ty.span()=> #private::result_to_output(#get))
    } else {
        quote_spanned!(value_ty.span()=> {
            let __value: #value_ty = #get;
            #private::to_output(&__value)
        })
    };
    let write = match &property.setter {
        None => quote!(::core::option::Option::None),
        Some(setter) => {
            let method = &setter.method;
            let setter_ty = &setter.value_ty;
            let set = completed(ctx, quote!(__thing.#method(__value)), setter.is_async);
            let call = if setter.fallible {
                quote!(#private::result_to_unit(#set).map_err(#private::WriteError::Failed))
            } else {
                quote!({
                    #set;
                    ::core::result::Result::Ok(())
                })
            };
            quote! {
                ::core::option::Option::Some(|__thing: &#ty, __value: #private::serde_json::Value| {
                    let __value: #setter_ty = #private::serde_json::from_value(__value)
                        .map_err(#private::WriteError::Invalid)?;
                    #call
                })
            }
        }
    };
    let code = PropertyCode {
        read,
        write,
        data: quote!(::core::option::Option::None),
    };
    let parts = PropertyParts {
        ty,
        name,
        docs: property.docs.as_deref(),
        cfgs,
        value_ty,
        options: &property.options,
    };
    property_descriptor(ctx, parts, code)
}

fn hook(ctx: &Ctx, model: &ImplModel, hook: Option<&Hook>) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let Some(hook) = hook else {
        return quote!(::core::option::Option::None);
    };
    let method = &hook.method;
    let call = completed(ctx, quote!(__thing.#method()), hook.is_async);
    let body = if hook.fallible {
        quote!(#private::result_to_unit(#call))
    } else {
        quote!({
            #call;
            ::core::result::Result::Ok(())
        })
    };
    quote!(::core::option::Option::Some(|__thing: &#ty| #body))
}

/// `call` as blocking code sees it: an `async fn`'s future is driven to its
/// end on the server's runtime (getters, setters and hooks are called where
/// blocking code may wait).
fn completed(ctx: &Ctx, call: TokenStream, is_async: bool) -> TokenStream {
    let private = &ctx.private;
    if is_async {
        quote!(#private::block_on(#call))
    } else {
        call
    }
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

fn action(ctx: &Ctx, model: &ImplModel, action: &Action) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let name = &action.name;
    let method = &action.method;
    let input = input_ident(model, action);
    let (title, description) = title_and_description(action.docs.as_deref());
    let cfgs = &action.cfgs;
    let has_input = action.params.iter().any(|p| matches!(p, Param::Input { .. }));
    let args = action.params.iter().map(|param| match param {
        Param::Input { name, .. } => quote!(__args.#name),
        Param::Injected {
            kind: Injected::CancelHook,
            by_ref: false,
            ..
        } => quote!(__handle.cancel_hook()),
        Param::Injected {
            kind: Injected::CancelHook,
            by_ref: true,
            ..
        } => quote!(&__handle.cancel_hook()),
        // `typed()` gives the handle for the parameter's intermediate type
        // (inferred from the method's signature).
        Param::Injected {
            kind: Injected::InvocationHandle,
            by_ref: false,
            ..
        } => quote!(__handle.typed()),
        Param::Injected {
            kind: Injected::InvocationHandle,
            by_ref: true,
            ..
        } => quote!(&__handle.typed()),
    });
    let call = if action.is_async {
        quote!(__thing.#method(#(#args),*).await)
    } else {
        quote!(__thing.#method(#(#args),*))
    };
    let (output_schema, run) = match &action.output {
        Output::Unit => (
            quote!(#private::schema_of::<()>),
            quote!({
                #call;
                ::core::result::Result::Ok(#private::serde_json::Value::Null)
            }),
        ),
        Output::Plain(out) => (
            quote_spanned!(out.span()=> #private::schema_of::<#out>),
            quote_spanned!(out.span()=> {
                let __output: #out = #call;
                #private::to_output(&__output)
            }),
        ),
        Output::Result(out) => (
            quote_spanned!(out.span()=> #private::schema_of::<#out>),
            quote_spanned!(out.span()=> #private::result_to_output(#call)),
        ),
    };
    let intermediate_schema = match &action.intermediate {
        Some(ty) => quote_spanned!(ty.span()=> ::core::option::Option::Some(#private::schema_of::<#ty>)),
        None => quote!(::core::option::Option::None),
    };
    let input_pattern = if has_input { quote!(__args) } else { quote!(_) };
    let prepare = if action.is_async {
        // The future owns the thing (an `Arc`) and the handle it lends.
        let handles_cancel = action.params.iter().any(|p| {
            matches!(
                p,
                Param::Injected {
                    kind: Injected::CancelHook,
                    ..
                }
            )
        });
        quote! {
            |__thing: ::std::sync::Arc<#ty>, __value: #private::serde_json::Value| {
                #private::prepare_async_call(
                    __value,
                    #handles_cancel,
                    move |#input_pattern: #input, __handle: #private::InvocationHandle| async move {
                        let __thing: &#ty = &__thing;
                        let __handle = &__handle;
                        let _ = __handle;
                        #run
                    },
                )
            }
        }
    } else {
        quote! {
            |__thing: ::std::sync::Arc<#ty>, __value: #private::serde_json::Value| {
                #private::prepare_call(__value, move |#input_pattern: #input, __handle: &#private::InvocationHandle| {
                    let __thing: &#ty = &__thing;
                    let _ = __handle;
                    #run
                })
            }
        }
    };
    let when_busy = if action.reject_when_busy {
        quote!(#private::WhenBusy::Reject)
    } else {
        quote!(#private::WhenBusy::Wait)
    };
    let scope = lock_scope(ctx, action.lock);
    let declared = action.lock.is_some();
    let lock = quote!(#private::LockPolicy { scope: #scope, when_busy: #when_busy, declared: #declared });
    let approval = action.approval;
    let retention = match action.retention_secs {
        Some(secs) => quote!(::core::option::Option::Some(::core::time::Duration::from_secs(#secs))),
        None => quote!(::core::option::Option::None),
    };
    let log_level = match action
        .log_level
        .as_ref()
        .and_then(|lit| crate::attr::LOG_LEVELS.iter().find(|(name, _)| *name == lit.value()))
    {
        Some((_, variant)) => {
            let variant = quote::format_ident!("{}", variant);
            quote!(::core::option::Option::Some(#private::LogLevel::#variant))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #(#cfgs)*
        #private::ActionDescriptor {
            name: #name,
            title: #title,
            description: #description,
            input_schema: |__generator| __generator.root_schema_for::<#input>(),
            output_schema: #output_schema,
            intermediate_schema: #intermediate_schema,
            prepare: #prepare,
            retention: #retention,
            log_level: #log_level,
            lock: #lock,
            approval: #approval,
        }
    }
}

fn endpoint(ctx: &Ctx, model: &ImplModel, endpoint: &Endpoint) -> TokenStream {
    let private = &ctx.private;
    let ty = &model.self_ty;
    let name = &endpoint.name;
    let method = &endpoint.method;
    let params = params_ident(model, endpoint);
    let (title, description) = title_and_description(endpoint.docs.as_deref());
    let cfgs = &endpoint.cfgs;
    let request_method = &endpoint.request_method;
    let mut args: Vec<TokenStream> = endpoint
        .params
        .iter()
        .filter_map(|p| match p {
            Param::Input { name, .. } => Some(quote!(__args.#name)),
            Param::Injected { .. } => None,
        })
        .collect();
    let args_pattern = if args.is_empty() { quote!(_) } else { quote!(__args) };
    let (body_schema, read_body) = match &endpoint.body {
        Some(body) => {
            let body_ty = &body.ty;
            args.insert(body.position.min(args.len()), quote!(#private::Json(__body)));
            (
                quote!(::core::option::Option::Some(|__generator| __generator.root_schema_for::<#body_ty>())),
                quote!(let __body: #body_ty = #private::serde_json::from_value(__body)?;),
            )
        }
        None => (quote!(::core::option::Option::None), quote!(let _ = __body;)),
    };
    let out = &endpoint.output;
    let answer = quote_spanned! {out.span()=>
        <#out as #private::EndpointOutput>::into_raw(__thing.#method(#(#args),*))
    };
    let output_schema = quote_spanned! {out.span()=>
        <#out as #private::EndpointOutput>::output_schema
    };
    quote! {
        #(#cfgs)*
        #private::EndpointDescriptor {
            name: #name,
            title: #title,
            description: #description,
            method: #request_method,
            params_schema: |__generator| __generator.root_schema_for::<#params>(),
            body_schema: #body_schema,
            output_schema: #output_schema,
            call: |__thing: &#ty, __value: #private::serde_json::Value, __body: #private::serde_json::Value| {
                let #args_pattern: #params = #private::serde_json::from_value(__value)?;
                #read_body
                ::core::result::Result::Ok(#answer)
            },
        }
    }
}
