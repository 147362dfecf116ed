//! From syntax to the model: a `#[thing]` struct's fields and a `#[thing]`
//! impl block's methods. Every problem is collected in `errors`, and the
//! attributes `#[thing]` consumes are stripped from the item either way.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    Attribute, Fields, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, ItemStruct, Pat, PathArguments,
    ReturnType, Type,
};

use crate::attr::{self, ActionOptions, EndpointOptions, LockArg, Place, PropertyOptions, Role};
use crate::check;
use crate::model::{
    Action, Endpoint, EndpointBody, Field, FieldProperty, Hook, ImplModel, Injected, Output, Param, Property, Setter,
    SlotField, StructModel,
};

/// Read a `#[thing]` struct.
pub(crate) fn structure(item: &mut ItemStruct, errors: &mut Vec<syn::Error>) -> StructModel {
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new(
            item.generics.params.span(),
            "`#[thing]` does not support generic structs: declare a concrete type",
        ));
    }
    let mut model = StructModel {
        ident: item.ident.clone(),
        vis: item.vis.clone(),
        docs: attr::docs(&item.attrs),
        properties: Vec::new(),
        slots: Vec::new(),
        streams: Vec::new(),
        events: Vec::new(),
    };
    let named = matches!(item.fields, Fields::Named(_));
    for field in item.fields.iter_mut() {
        let role = attr::role(&field.attrs, Place::Field, errors);
        let attrs = field.attrs.clone();
        field.attrs.retain(|a| !attr::is_role(a));
        let Some((role, role_span)) = role else {
            continue;
        };
        let Some(member) = field.ident.clone().filter(|_| named) else {
            errors.push(syn::Error::new(
                role_span,
                "an affordance is named after its field: give the struct named fields",
            ));
            continue;
        };
        let cfgs = cfgs(&attrs);
        let docs = attr::docs(&attrs);
        let wrapped = |wrapper: &str, example: &str, errors: &mut Vec<syn::Error>| {
            let inner = wrapped_type(&field.ty, wrapper).cloned();
            if inner.is_none() {
                errors.push(syn::Error::new(
                    field.ty.span(),
                    format!("a `#[{example}]` field has the type `{wrapper}<..>`"),
                ));
            }
            inner
        };
        let make = |inner: Type, renamed: Option<&syn::LitStr>| {
            let (name, name_span) = affordance_name(renamed, &member);
            Field {
                member: member.clone(),
                name,
                name_span,
                docs: docs.clone(),
                inner,
                cfgs: cfgs.clone(),
            }
        };
        match role {
            Role::Property(options) => {
                let inner = wrapped_type(&field.ty, "DataProperty").cloned();
                let Some(inner) = inner else {
                    errors.push(syn::Error::new(
                        field.ty.span(),
                        format!(
                            "a `#[property]` field holds a `DataProperty<T>`; for a value computed by code, write a getter `#[property] fn {member}(&self) -> T` in the `#[thing] impl` block"
                        ),
                    ));
                    continue;
                };
                let property = FieldProperty {
                    field: make(inner, options.name.as_ref()),
                    options: *options,
                };
                check::field_property_options(&property, errors);
                model.properties.push(property);
            }
            Role::Slot(default) => {
                let inner = ["ThingSlot", "OptionalSlot", "ThingSlots"]
                    .into_iter()
                    .find_map(|wrapper| wrapped_type(&field.ty, wrapper).cloned());
                match inner {
                    Some(inner) => model.slots.push(SlotField {
                        field: make(inner, None),
                        ty: field.ty.clone(),
                        default,
                    }),
                    None => errors.push(syn::Error::new(
                        field.ty.span(),
                        "a `#[slot]` field has the type `ThingSlot<..>` (exactly one thing), `OptionalSlot<..>` (one or none) or `ThingSlots<..>` (every thing of the type)",
                    )),
                }
            }
            Role::Event => model
                .events
                .extend(wrapped("Event", "event", errors).map(|t| make(t, None))),
            Role::Stream => {
                if is_named(&field.ty, "MjpegStream") {
                    model.streams.push(make(syn::parse_quote!(()), None));
                } else {
                    errors.push(syn::Error::new(
                        field.ty.span(),
                        "a `#[stream]` field has the type `MjpegStream`",
                    ));
                }
            }
            // attr::role refuses method roles on fields.
            Role::Action(_) | Role::Endpoint(_) | Role::OnStart | Role::OnStop => {}
        }
    }
    let names = model
        .properties
        .iter()
        .map(|p| &p.field)
        .chain(&model.streams)
        .chain(&model.events)
        .map(|f| (f.name.clone(), f.name_span));
    check::unique_names(names, errors);
    model
}

/// Read a `#[thing]` impl block; `None` if its type cannot be named.
pub(crate) fn impl_block(item: &mut ItemImpl, errors: &mut Vec<syn::Error>) -> Option<ImplModel> {
    if let Some((path, _)) = &item.trait_ {
        errors.push(syn::Error::new(
            path.span(),
            "`#[thing]` goes on an inherent impl block (`impl MyDevice { .. }`), not on a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new(
            item.generics.params.span(),
            "`#[thing]` does not support generic impl blocks: implement it for a concrete type",
        ));
    }
    let type_ident = match &*item.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    };
    let Some(type_ident) = type_ident else {
        errors.push(syn::Error::new(
            item.self_ty.span(),
            "`#[thing]` needs a named type, e.g. `impl Stage { .. }`",
        ));
        return None;
    };

    let mut model = ImplModel {
        self_ty: (*item.self_ty).clone(),
        type_ident,
        properties: Vec::new(),
        actions: Vec::new(),
        endpoints: Vec::new(),
        on_start: None,
        on_stop: None,
    };
    // Methods without a role: candidates for `set_` setters.
    let mut plain: Vec<usize> = Vec::new();
    for (position, impl_item) in item.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let role = attr::role(&method.attrs, Place::Method, errors);
        // Strip our attributes even when they had errors, so they are not
        // expanded on their own ("only works inside #[thing]").
        let attrs = method.attrs.clone();
        method.attrs.retain(|a| !attr::is_role(a));
        let Some((role, role_span)) = role else {
            if !attrs.iter().any(attr::is_role) {
                plain.push(position);
            }
            continue;
        };
        let docs = attr::docs(&attrs);
        let cfgs = cfgs(&attrs);
        check::signature(method, errors);
        match role {
            Role::Property(options) => model
                .properties
                .extend(getter(method, *options, docs, cfgs, role_span, errors)),
            Role::OnStart | Role::OnStop => {
                let hook = hook(method, errors);
                let (slot, which) = match role {
                    Role::OnStart => (&mut model.on_start, "on_start"),
                    _ => (&mut model.on_stop, "on_stop"),
                };
                if slot.is_some() {
                    errors.push(syn::Error::new(
                        role_span,
                        format!("only one `#[{which}]` method is allowed"),
                    ));
                } else {
                    *slot = hook;
                }
            }
            Role::Action(options) => model
                .actions
                .push(action(method, options, docs, cfgs, role_span, errors)),
            Role::Endpoint(options) => {
                check::endpoint_not_async(method, errors);
                model
                    .endpoints
                    .extend(endpoint(method, options, docs, cfgs, role_span, errors));
            }
            // attr::role refuses field roles on methods.
            Role::Slot(_) | Role::Stream | Role::Event => {}
        }
    }
    for position in plain {
        let Some(ImplItem::Fn(method)) = item.items.get(position) else {
            continue;
        };
        let name = method.sig.ident.to_string();
        let Some(target) = name.strip_prefix("set_") else {
            continue;
        };
        let Some(property) = model.properties.iter_mut().find(|p| p.getter == target) else {
            continue;
        };
        property.has_set_method = true;
        if property.options.read_only.is_none() {
            check::signature(method, errors);
            property.setter = setter(method, errors);
        }
    }
    for property in &model.properties {
        check::method_property_options(property, errors);
    }
    let names = model
        .properties
        .iter()
        .map(|p| (p.name.clone(), p.name_span))
        .chain(model.actions.iter().map(|a| (a.name.clone(), a.name_span)))
        .chain(model.endpoints.iter().map(|e| (e.name.clone(), e.name_span)));
    check::unique_names(names, errors);
    Some(model)
}

fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect()
}

fn action(
    method: &mut ImplItemFn,
    options: ActionOptions,
    docs: Option<String>,
    cfgs: Vec<Attribute>,
    role_span: Span,
    errors: &mut Vec<syn::Error>,
) -> Action {
    let ActionOptions {
        name,
        retention_secs,
        log_level,
        lock,
        reject_when_busy,
        when_busy_span,
        approval,
    } = options;
    if reject_when_busy && !matches!(lock, Some(LockArg::Thing | LockArg::Server)) {
        errors.push(syn::Error::new(
            when_busy_span.unwrap_or(role_span),
            "`when_busy` needs a lock: write `#[action(lock, when_busy = \"reject\")]`",
        ));
    }
    let params = params(method, errors);
    let intermediate = method.sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Typed(arg) => intermediate_type(&arg.ty),
        FnArg::Receiver(_) => None,
    });
    let (name, name_span) = affordance_name(name.as_ref(), &method.sig.ident);
    Action {
        name,
        name_span,
        method: method.sig.ident.clone(),
        vis: method.vis.clone(),
        docs,
        params,
        output: output_of(&method.sig.output),
        retention_secs,
        log_level,
        cfgs,
        lock,
        reject_when_busy,
        approval,
        intermediate,
        is_async: method.sig.asyncness.is_some(),
    }
}

/// `T` of an `InvocationHandle<T>` (or `&InvocationHandle<T>`) parameter.
fn intermediate_type(ty: &Type) -> Option<Type> {
    let ty = match ty {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "InvocationHandle" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn endpoint(
    method: &mut ImplItemFn,
    options: EndpointOptions,
    docs: Option<String>,
    cfgs: Vec<Attribute>,
    role_span: Span,
    errors: &mut Vec<syn::Error>,
) -> Option<Endpoint> {
    let mut params = params(method, errors);
    for param in &params {
        if let Param::Injected { span, .. } = param {
            errors.push(syn::Error::new(
                *span,
                "an endpoint is answered at once, not run as an invocation, so it has no cancel hook or invocation handle: make it an `#[action]` to run long work",
            ));
        }
    }
    let request_method = options.method.map_or_else(|| "get".to_owned(), |m| m.value());
    let body = endpoint_body(&mut params, &request_method, errors);
    let output = match &method.sig.output {
        ReturnType::Type(_, ty) if !matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()) => (**ty).clone(),
        _ => {
            errors.push(syn::Error::new(
                role_span,
                format!(
                    "endpoint `{}` must return what it answers: `-> Raw` (bytes with their media type), `-> Json<T>` (a typed value), or a `Result` of either",
                    method.sig.ident
                ),
            ));
            return None;
        }
    };
    let (name, name_span) = affordance_name(options.name.as_ref(), &method.sig.ident);
    Some(Endpoint {
        name,
        name_span,
        method: method.sig.ident.clone(),
        vis: method.vis.clone(),
        docs,
        params,
        body,
        request_method,
        output,
        cfgs,
    })
}

/// Take an endpoint's `Json<T>` parameter, its request body, out of its
/// parameters. There is at most one, without `#[default]` or `#[param]`
/// (its type says what it accepts), and a GET request has none.
fn endpoint_body(params: &mut Vec<Param>, request_method: &str, errors: &mut Vec<syn::Error>) -> Option<EndpointBody> {
    let mut body = None;
    let mut position = 0;
    params.retain(|param| {
        let here = position;
        position += 1;
        let Param::Input {
            ty,
            default,
            constraints,
            ..
        } = param
        else {
            return true;
        };
        let Some(inner) = wrapped_type(ty, "Json") else {
            return true;
        };
        if body.is_some() {
            errors.push(syn::Error::new(
                ty.span(),
                "an endpoint takes at most one `Json<T>` parameter: it is the request's body; put the values in one struct",
            ));
        } else if request_method == "get" {
            errors.push(syn::Error::new(
                ty.span(),
                "a `Json<T>` parameter is the request's body, and a GET request has none: declare `#[endpoint(method = \"post\")]` (or `put`, `delete`)",
            ));
        }
        if default.is_some() || !constraints.keywords.is_empty() {
            errors.push(syn::Error::new(
                ty.span(),
                "the `Json<T>` body takes neither `#[default]` nor `#[param]`: its type says what it accepts (use `Json<Option<T>>` for a body that may be left out)",
            ));
        }
        body.get_or_insert(EndpointBody {
            position: here,
            ty: inner.clone(),
        });
        false
    });
    body
}

/// The `T` of a `Wrapper<T>` type (by its last path segment).
fn wrapped_type<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// Whether `ty` is the plain type `name` (by its last path segment).
fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_none()))
}

fn hook(method: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Hook> {
    if let Some(arg) = method.sig.inputs.iter().nth(1) {
        errors.push(syn::Error::new(arg.span(), "a start or stop hook takes only `&self`"));
        return None;
    }
    let fallible = unit_or_result(method, "a start or stop hook", errors)?;
    Some(Hook {
        method: method.sig.ident.clone(),
        fallible,
        is_async: method.sig.asyncness.is_some(),
    })
}

/// The affordance name: the `name = ".."` option, or the field or method name.
fn affordance_name(renamed: Option<&syn::LitStr>, ident: &Ident) -> (String, Span) {
    match renamed {
        Some(lit) => (lit.value(), lit.span()),
        None => (ident.to_string(), ident.span()),
    }
}

fn getter(
    method: &ImplItemFn,
    options: PropertyOptions,
    docs: Option<String>,
    cfgs: Vec<Attribute>,
    role_span: Span,
    errors: &mut Vec<syn::Error>,
) -> Option<Property> {
    let ident = &method.sig.ident;
    for arg in method.sig.inputs.iter().skip(1) {
        errors.push(syn::Error::new(
            arg.span(),
            format!(
                "a property getter takes only `&self`: to pass arguments make it an `#[action]`, or write a `set_{ident}` method to let clients write it"
            ),
        ));
    }
    let (value_ty, fallible) = match output_of(&method.sig.output) {
        Output::Plain(Type::Reference(r)) if wrapped_type(&r.elem, "DataProperty").is_some() => {
            errors.push(syn::Error::new(
                r.span(),
                format!(
                    "a data property is declared on its field: mark the `{ident}` field of the `#[thing]` struct `#[property]` and remove this accessor"
                ),
            ));
            return None;
        }
        Output::Plain(ty) => (ty, false),
        Output::Result(ty) => (ty, true),
        Output::Unit => {
            errors.push(syn::Error::new(
                role_span,
                format!("property getter `{ident}` must return the property's value, e.g. `fn {ident}(&self) -> u64`"),
            ));
            return None;
        }
    };
    let (name, name_span) = affordance_name(options.name.as_ref(), ident);
    Some(Property {
        name,
        name_span,
        getter: ident.clone(),
        getter_async: method.sig.asyncness.is_some(),
        docs,
        value_ty,
        fallible,
        setter: None,
        has_set_method: false,
        cfgs,
        options,
    })
}

fn setter(method: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Setter> {
    let args: Vec<&FnArg> = method.sig.inputs.iter().skip(1).collect();
    let ident = &method.sig.ident;
    let value_ty = match args.as_slice() {
        [FnArg::Typed(arg)] => (*arg.ty).clone(),
        _ => {
            errors.push(syn::Error::new(
                method.sig.inputs.span(),
                format!(
                    "`{ident}` is the setter of a property, so it takes `&self` and the new value: `fn {ident}(&self, value: T)`; to keep it from clients, mark the getter `#[property(read_only)]`"
                ),
            ));
            return None;
        }
    };
    let what = format!("`{ident}` is the setter of a property, so it");
    let fallible = unit_or_result(method, &what, errors)?;
    Some(Setter {
        method: ident.clone(),
        value_ty,
        fallible,
        is_async: method.sig.asyncness.is_some(),
    })
}

/// The parameters of an action; strips `#[default(..)]` and `#[param(..)]`.
fn params(method: &mut ImplItemFn, errors: &mut Vec<syn::Error>) -> Vec<Param> {
    let mut params = Vec::new();
    for arg in method.sig.inputs.iter_mut().skip(1) {
        let FnArg::Typed(arg) = arg else { continue };
        let default = attr::param_default(&arg.attrs, errors);
        let constraints = attr::param_constraints(&arg.attrs, errors);
        arg.attrs
            .retain(|a| !a.path().is_ident("default") && !a.path().is_ident("param"));
        if let Some(kind) = injected(&arg.ty) {
            if default.is_some() {
                errors.push(syn::Error::new(
                    arg.ty.span(),
                    "an injected parameter cannot have a default",
                ));
            }
            params.push(Param::Injected {
                kind,
                by_ref: matches!(&*arg.ty, Type::Reference(_)),
                span: arg.ty.span(),
            });
            continue;
        }
        if let Type::ImplTrait(t) = &*arg.ty {
            errors.push(syn::Error::new(
                t.span(),
                "`impl Trait` parameters are generic, which actions cannot be: use a concrete type",
            ));
            continue;
        }
        match &*arg.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => params.push(Param::Input {
                name: p.ident.clone(),
                ty: arg.ty.clone(),
                default: default.map(Box::new),
                constraints: Box::new(constraints),
            }),
            pat => errors.push(syn::Error::new(
                pat.span(),
                "unsupported parameter pattern: action parameters become named input fields, so write `name: Type`",
            )),
        }
    }
    params
}

/// Whether a parameter type is one the runtime injects (by its last path segment).
fn injected(ty: &Type) -> Option<Injected> {
    let ty = match ty {
        Type::Reference(r) => &*r.elem,
        other => other,
    };
    let Type::Path(p) = ty else { return None };
    match p.path.segments.last()?.ident.to_string().as_str() {
        "CancelHook" => Some(Injected::CancelHook),
        "InvocationHandle" => Some(Injected::InvocationHandle),
        _ => None,
    }
}

/// Whether a method that must return nothing or `Result<(), E>` returns a
/// `Result`; `None` (with an error "`what` returns nothing or …") otherwise.
fn unit_or_result(method: &ImplItemFn, what: &str, errors: &mut Vec<syn::Error>) -> Option<bool> {
    match output_of(&method.sig.output) {
        Output::Unit => Some(false),
        Output::Result(_) => Some(true),
        Output::Plain(ty) => {
            errors.push(syn::Error::new(
                ty.span(),
                format!("{what} returns nothing or `Result<(), E>`"),
            ));
            None
        }
    }
}

/// Classify a return type: nothing, `Result<T, ..>` or a plain value.
fn output_of(ret: &ReturnType) -> Output {
    let ty = match ret {
        ReturnType::Default => return Output::Unit,
        ReturnType::Type(_, ty) => &**ty,
    };
    if let Type::Tuple(t) = ty
        && t.elems.is_empty()
    {
        return Output::Unit;
    }
    if let Type::Path(p) = ty
        && let Some(last) = p.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(GenericArgument::Type(ok)) = args.args.first()
    {
        return Output::Result(ok.clone());
    }
    Output::Plain(ty.clone())
}
