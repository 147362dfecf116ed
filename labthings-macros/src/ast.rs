//! A checked model of a `#[thing]` impl block. Code generation reads only this.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, PathArguments, ReceiverKind,
    ReturnType, Type, Visibility,
};

use crate::attr::{self, ActionOptions, Constraints, LockArg, PropertyOptions, Role};

/// The whole Thing: the type and its affordances.
pub(crate) struct ThingModel {
    /// The type the impl block is for.
    pub self_ty: Type,
    /// Its last path segment, used to name generated types.
    pub type_ident: Ident,
    /// The impl block's doc comment.
    pub docs: Option<String>,
    /// Properties in declaration order.
    pub properties: Vec<Property>,
    /// Actions in declaration order.
    pub actions: Vec<Action>,
    /// `#[slot]` accessors: other Things this one uses.
    pub slots: Vec<Slot>,
    /// The `#[on_start]` hook.
    pub on_start: Option<Hook>,
    /// The `#[on_stop]` hook.
    pub on_stop: Option<Hook>,
    /// `#[stream]` accessors.
    pub streams: Vec<Accessor>,
    /// `#[event]` accessors, with the payload type.
    pub events: Vec<Accessor>,
}

/// A `#[stream]` or `#[event]` accessor.
pub(crate) struct Accessor {
    pub method: Ident,
    pub docs: Option<String>,
    /// The payload type of an event (unused for streams).
    pub payload: Option<Type>,
    pub cfgs: Vec<Attribute>,
}

/// A `#[slot] fn name(&self) -> &ThingSlot<Target>` accessor.
pub(crate) struct Slot {
    pub method: Ident,
    pub target: Type,
}

/// An `#[on_start]` or `#[on_stop]` method.
pub(crate) struct Hook {
    pub method: Ident,
    pub fallible: bool,
}

/// A property: a getter and maybe a setter.
pub(crate) struct Property {
    /// The affordance name (the method name unless renamed).
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The getter method.
    pub getter: Ident,
    pub docs: Option<String>,
    pub value_ty: Type,
    pub fallible: bool,
    pub setter: Option<Setter>,
    pub cfgs: Vec<Attribute>,
    /// A data property: the getter returns `&DataProperty<T>`.
    pub data: bool,
    /// The attribute's options.
    pub options: PropertyOptions,
}

impl Property {
    /// Whether clients may write it.
    pub(crate) fn writable(&self) -> bool {
        if self.data {
            self.options.read_only.is_none()
        } else {
            self.setter.is_some()
        }
    }
}

/// The setter of a property.
pub(crate) struct Setter {
    pub method: Ident,
    pub value_ty: Type,
    pub fallible: bool,
    /// The `#[setter(name)]` argument, for error spans.
    pub target: Ident,
}

/// An action method.
pub(crate) struct Action {
    /// The affordance name (the method name unless renamed).
    pub name: String,
    /// Where the name was written, for errors.
    pub name_span: Span,
    /// The method.
    pub method: Ident,
    pub vis: Visibility,
    pub docs: Option<String>,
    pub params: Vec<Param>,
    pub output: Output,
    pub retention_secs: Option<u64>,
    pub cfgs: Vec<Attribute>,
    pub lock: Option<LockArg>,
    pub reject_when_busy: bool,
}

/// What an action method returns.
pub(crate) enum Output {
    /// Nothing (`()`).
    Unit,
    /// A plain value of this type.
    Plain(Type),
    /// `Result<T, E>`: the `T`.
    Result(Type),
}

/// One parameter of an action method (after `&self`).
pub(crate) enum Param {
    /// Part of the input: becomes a field of the generated input struct.
    Input {
        name: Ident,
        ty: Box<Type>,
        default: Option<Box<Expr>>,
        constraints: Box<Constraints>,
    },
    /// A framework value handed in by the runtime (`CancelHook`, `InvocationHandle`).
    Injected { kind: Injected, by_ref: bool },
}

/// The framework types that are injected rather than read from the input.
#[derive(Clone, Copy)]
pub(crate) enum Injected {
    CancelHook,
    InvocationHandle,
}

/// Build the model from an impl block, collecting every problem in `errors`,
/// and strip the attributes `#[thing]` consumes from `item`.
pub(crate) fn parse(item: &mut ItemImpl, errors: &mut Vec<syn::Error>) -> Option<ThingModel> {
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

    let mut properties: Vec<Property> = Vec::new();
    let mut setters: Vec<Setter> = Vec::new();
    let mut actions: Vec<Action> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut on_start: Option<Hook> = None;
    let mut on_stop: Option<Hook> = None;
    let mut streams: Vec<Accessor> = Vec::new();
    let mut events: Vec<Accessor> = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let role = attr::role(&method.attrs, errors);
        // Strip our attributes even when they had errors, so they are not
        // expanded on their own ("only works inside #[thing]").
        let attrs = method.attrs.clone();
        method.attrs.retain(|a| !attr::is_role(a));
        let Some((role, role_span)) = role else {
            continue;
        };
        let docs = attr::docs(&attrs);
        let cfgs: Vec<Attribute> = attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect();
        check_signature(method, errors);
        match role {
            Role::Property(options) => {
                if let Some(p) = parse_getter(method, *options, docs, cfgs, role_span, errors) {
                    properties.push(p);
                }
            }
            Role::Setter(target) => {
                if let Some(s) = parse_setter(method, target, errors) {
                    setters.push(s);
                }
            }
            Role::OnStart | Role::OnStop => {
                let hook = parse_hook(method, errors);
                let (slot, which) = match role {
                    Role::OnStart => (&mut on_start, "on_start"),
                    _ => (&mut on_stop, "on_stop"),
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
            Role::Slot => slots.extend(parse_slot(method, errors)),
            Role::Stream => streams.extend(parse_accessor(method, "MjpegStream", docs, cfgs, errors)),
            Role::Event => events.extend(parse_accessor(method, "Event", docs, cfgs, errors)),
            Role::Action(ActionOptions {
                name,
                retention_secs,
                lock,
                reject_when_busy,
                when_busy_span,
            }) => {
                if reject_when_busy && lock.is_none() {
                    errors.push(syn::Error::new(
                        when_busy_span.unwrap_or(role_span),
                        "`when_busy` needs a lock: write `#[action(lock, when_busy = \"reject\")]`",
                    ));
                }
                let params = parse_params(method, errors);
                let (name, name_span) = affordance_name(name.as_ref(), &method.sig.ident);
                actions.push(Action {
                    name,
                    name_span,
                    method: method.sig.ident.clone(),
                    vis: method.vis.clone(),
                    docs,
                    params,
                    output: output_of(&method.sig.output),
                    retention_secs,
                    cfgs,
                    lock,
                    reject_when_busy,
                });
            }
        }
    }

    for setter in setters {
        match properties.iter_mut().find(|p| setter.target == p.name) {
            Some(property) if property.data => errors.push(syn::Error::new(
                setter.target.span(),
                format!(
                    "`{}` is a data property, which clients write directly: remove this setter (or make `{}` return a value instead of `&DataProperty<_>`)",
                    setter.target, setter.target
                ),
            )),
            Some(property) if property.setter.is_some() => errors.push(syn::Error::new(
                setter.target.span(),
                format!("property `{}` already has a setter", setter.target),
            )),
            Some(property) => property.setter = Some(setter),
            None => errors.push(syn::Error::new(
                setter.target.span(),
                format!(
                    "`#[setter({0})]` names no property: add a `#[property] fn {0}(&self) -> T` getter in this impl block",
                    setter.target
                ),
            )),
        }
    }
    for property in &properties {
        check_property_options(property, errors);
    }
    check_unique_names(&properties, &actions, &streams, &events, errors);

    Some(ThingModel {
        self_ty: (*item.self_ty).clone(),
        type_ident,
        docs: attr::docs(&item.attrs),
        properties,
        actions,
        slots,
        on_start,
        on_stop,
        streams,
        events,
    })
}

/// A `#[stream] fn x(&self) -> &MjpegStream` or `#[event] fn x(&self) -> &Event<T>`.
fn parse_accessor(
    method: &ImplItemFn,
    wrapper: &str,
    docs: Option<String>,
    cfgs: Vec<Attribute>,
    errors: &mut Vec<syn::Error>,
) -> Option<Accessor> {
    if let Some(arg) = method.sig.inputs.iter().nth(1) {
        errors.push(syn::Error::new(arg.span(), "this accessor takes only `&self`"));
        return None;
    }
    let ty = match &method.sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    let is_plain = |ty: &Type| match ty {
        Type::Reference(r) => {
            matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == wrapper))
        }
        _ => false,
    };
    let payload = ty.and_then(|ty| wrapped_type(ty, wrapper)).cloned();
    let ok = match wrapper {
        "Event" => payload.is_some(),
        _ => ty.is_some_and(is_plain),
    };
    if !ok {
        let example = if wrapper == "Event" {
            "&Event<Payload>"
        } else {
            "&MjpegStream"
        };
        let span = ty.map_or(method.sig.ident.span(), Spanned::span);
        errors.push(syn::Error::new(
            span,
            format!(
                "this accessor returns its field: `fn {}(&self) -> {example} {{ &self.{} }}`",
                method.sig.ident, method.sig.ident
            ),
        ));
        return None;
    }
    Some(Accessor {
        method: method.sig.ident.clone(),
        docs,
        payload,
        cfgs,
    })
}

/// Options that do not fit the kind of property they are on.
fn check_property_options(property: &Property, errors: &mut Vec<syn::Error>) {
    let options = &property.options;
    if let (Some(span), false) = (options.read_only, property.data) {
        errors.push(syn::Error::new(
            span,
            "`read_only` is for data properties (`-> &DataProperty<T>`); a getter without a `#[setter]` is already read-only",
        ));
    }
    if let (Some(span), false) = (options.setting, property.data || property.setter.is_some()) {
        errors.push(syn::Error::new(
            span,
            "a setting must be restorable: use a `&DataProperty<T>` accessor, or add a `#[setter(..)]` for this property",
        ));
    }
    if let Some((_, span)) = options.lock
        && !property.writable()
    {
        errors.push(syn::Error::new(
            span,
            "`lock` guards writes, and this property cannot be written over HTTP",
        ));
    }
}

/// The `T` of a `&DataProperty<T>` or `&ThingSlot<T>` return type.
fn wrapped_type<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Reference(reference) = ty else { return None };
    let Type::Path(path) = &*reference.elem else {
        return None;
    };
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

fn parse_hook(method: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Hook> {
    if let Some(arg) = method.sig.inputs.iter().nth(1) {
        errors.push(syn::Error::new(arg.span(), "a start or stop hook takes only `&self`"));
        return None;
    }
    let fallible = match output_of(&method.sig.output) {
        Output::Unit => false,
        Output::Result(_) => true,
        Output::Plain(ty) => {
            errors.push(syn::Error::new(
                ty.span(),
                "a start or stop hook returns nothing or `Result<(), E>`",
            ));
            return None;
        }
    };
    Some(Hook {
        method: method.sig.ident.clone(),
        fallible,
    })
}

fn parse_slot(method: &ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Slot> {
    if let Some(arg) = method.sig.inputs.iter().nth(1) {
        errors.push(syn::Error::new(arg.span(), "a `#[slot]` accessor takes only `&self`"));
        return None;
    }
    let target = match &method.sig.output {
        ReturnType::Type(_, ty) => wrapped_type(ty, "ThingSlot").cloned(),
        ReturnType::Default => None,
    };
    match target {
        Some(target) => Some(Slot {
            method: method.sig.ident.clone(),
            target,
        }),
        None => {
            let span = match &method.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => method.sig.ident.span(),
            };
            errors.push(syn::Error::new(
                span,
                format!(
                    "a `#[slot]` returns the slot field: `fn {}(&self) -> &ThingSlot<OtherThing> {{ &self.{} }}`",
                    method.sig.ident, method.sig.ident
                ),
            ));
            None
        }
    }
}

/// Problems any labthings method can have: async, generic, no `&self`.
fn check_signature(method: &ImplItemFn, errors: &mut Vec<syn::Error>) {
    let sig = &method.sig;
    if let Some(asyncness) = sig.asyncness {
        errors.push(syn::Error::new(
            asyncness.span(),
            "labthings methods cannot be `async`: actions already run on their own thread, so write a plain blocking `fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new(
            sig.generics.params.span(),
            "labthings methods cannot be generic: the input and output types must be known to build their JSON Schema",
        ));
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if matches!(r.kind, ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(r)) if matches!(r.kind, ReceiverKind::Reference(_, _, Some(_))) => errors.push(syn::Error::new(
            r.span(),
            "use `&self`, not `&mut self`: a Thing is shared between requests, so keep mutable state in a `Mutex` or an atomic",
        )),
        Some(FnArg::Receiver(r)) => errors.push(syn::Error::new(
            r.span(),
            "use `&self`: a Thing is shared between requests and cannot be taken by value",
        )),
        _ => errors.push(syn::Error::new(
            sig.ident.span(),
            format!("`{}` needs a `&self` receiver: write `fn {}(&self, ..)`", sig.ident, sig.ident),
        )),
    }
}

/// The affordance name: the `name = ".."` option, or the method name.
fn affordance_name(renamed: Option<&syn::LitStr>, method: &Ident) -> (String, Span) {
    match renamed {
        Some(lit) => (lit.value(), lit.span()),
        None => (method.to_string(), method.span()),
    }
}

fn parse_getter(
    method: &ImplItemFn,
    options: PropertyOptions,
    docs: Option<String>,
    cfgs: Vec<Attribute>,
    role_span: Span,
    errors: &mut Vec<syn::Error>,
) -> Option<Property> {
    for arg in method.sig.inputs.iter().skip(1) {
        errors.push(syn::Error::new(
            arg.span(),
            "a property getter takes only `&self`: to pass arguments make it an `#[action]`, or write a `#[setter(..)]` for the property",
        ));
    }
    let output = output_of(&method.sig.output);
    let (value_ty, fallible, data) = match output {
        Output::Plain(ty) => match wrapped_type(&ty, "DataProperty") {
            Some(inner) => (inner.clone(), false, true),
            None => (ty, false, false),
        },
        Output::Result(ty) => (ty, true, false),
        Output::Unit => {
            errors.push(syn::Error::new(
                role_span,
                format!(
                    "property getter `{}` must return the property's value, e.g. `fn {}(&self) -> u64`",
                    method.sig.ident, method.sig.ident
                ),
            ));
            return None;
        }
    };
    let (name, name_span) = affordance_name(options.name.as_ref(), &method.sig.ident);
    Some(Property {
        name,
        name_span,
        getter: method.sig.ident.clone(),
        docs,
        value_ty,
        fallible,
        setter: None,
        cfgs,
        data,
        options,
    })
}

fn parse_setter(method: &ImplItemFn, target: Ident, errors: &mut Vec<syn::Error>) -> Option<Setter> {
    let args: Vec<&FnArg> = method.sig.inputs.iter().skip(1).collect();
    let value_ty = match args.as_slice() {
        [FnArg::Typed(arg)] => (*arg.ty).clone(),
        _ => {
            errors.push(syn::Error::new(
                method.sig.inputs.span(),
                format!(
                    "a setter takes `&self` and the new value: `fn {}(&self, value: T)`",
                    method.sig.ident
                ),
            ));
            return None;
        }
    };
    let fallible = match output_of(&method.sig.output) {
        Output::Unit => false,
        Output::Result(_) => true,
        Output::Plain(ty) => {
            errors.push(syn::Error::new(
                ty.span(),
                "a setter returns nothing or `Result<(), E>`",
            ));
            false
        }
    };
    Some(Setter {
        method: method.sig.ident.clone(),
        value_ty,
        fallible,
        target,
    })
}

/// The parameters of an action; strips `#[default(..)]` from the method.
fn parse_params(method: &mut ImplItemFn, errors: &mut Vec<syn::Error>) -> Vec<Param> {
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

fn check_unique_names(
    properties: &[Property],
    actions: &[Action],
    streams: &[Accessor],
    events: &[Accessor],
    errors: &mut Vec<syn::Error>,
) {
    let mut seen: Vec<String> = Vec::new();
    let accessors = streams
        .iter()
        .chain(events)
        .map(|a| (a.method.to_string(), a.method.span()));
    let names = properties
        .iter()
        .map(|p| (p.name.clone(), p.name_span))
        .chain(actions.iter().map(|a| (a.name.clone(), a.name_span)))
        .chain(accessors);
    for (name, span) in names {
        if seen.contains(&name) {
            errors.push(syn::Error::new(
                span,
                format!(
                    "two affordances are named `{name}`: each property and action needs its own name (it is its URL)"
                ),
            ));
        } else {
            seen.push(name);
        }
    }
}
