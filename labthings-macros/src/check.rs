//! Checks that need more than one attribute or item: signatures every
//! labthings method must have, options that fit their property, unique names.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItemFn, ReceiverKind};

use crate::model::{FieldProperty, Property};

/// Problems any labthings method can have: generic, no `&self`.
pub(crate) fn signature(method: &ImplItemFn, errors: &mut Vec<syn::Error>) {
    let sig = &method.sig;
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

/// Options that do not fit a computed property (a getter method).
pub(crate) fn method_property_options(property: &Property, errors: &mut Vec<syn::Error>) {
    let options = &property.options;
    if let Some(span) = options.read_only
        && !property.has_set_method
    {
        errors.push(syn::Error::new(
            span,
            format!(
                "`read_only` has no effect: `{0}` has no `set_{0}` method, so clients cannot write it already",
                property.getter
            ),
        ));
    }
    if let (Some(span), None) = (options.setting, &property.setter) {
        errors.push(syn::Error::new(
            span,
            format!(
                "a setting must be restorable: add a `fn set_{}(&self, value: T)` method, or make it a `#[property(setting)]` `DataProperty<T>` field of the struct",
                property.getter
            ),
        ));
    }
    if let (Some((_, span)), None) = (options.lock, &property.setter) {
        errors.push(syn::Error::new(
            span,
            "`lock` guards writes, and clients cannot write this property",
        ));
    }
    if let Some(method) = &options.on_set {
        errors.push(syn::Error::new(
            method.span(),
            format!(
                "`on_set` is for `DataProperty<T>` fields: check the value in `set_{}` itself",
                property.getter
            ),
        ));
    }
}

/// Options that do not fit a data property (a `DataProperty<T>` field).
pub(crate) fn field_property_options(property: &FieldProperty, errors: &mut Vec<syn::Error>) {
    let options = &property.options;
    if let Some(ms) = &options.poll_ms {
        errors.push(syn::Error::new(
            ms.span(),
            "`poll_ms` is for getter methods: a data property announces every change itself",
        ));
    }
    if let (Some(method), Some(_)) = (&options.on_set, options.read_only) {
        errors.push(syn::Error::new(
            method.span(),
            "`on_set` checks what clients write, and a `read_only` property cannot be written by clients",
        ));
    }
    if let (Some((_, span)), Some(_)) = (options.lock, options.read_only) {
        errors.push(syn::Error::new(
            span,
            "`lock` guards writes, and a `read_only` property cannot be written by clients",
        ));
    }
}

/// Names a Thing's URL already uses for itself: `ws`, its observation
/// WebSocket.
const RESERVED: &[&str] = &["ws"];

/// Each affordance name may be used once, and not for a URL the Thing
/// already has; `names` are in declaration order.
pub(crate) fn unique_names(names: impl Iterator<Item = (String, Span)>, errors: &mut Vec<syn::Error>) {
    let mut seen: Vec<String> = Vec::new();
    for (name, span) in names {
        if RESERVED.contains(&name.as_str()) {
            errors.push(syn::Error::new(
                span,
                format!("`{name}` is taken by the Thing's observation WebSocket (`/{{thing}}/{name}`): rename it with `name = \"..\"`"),
            ));
        } else if seen.contains(&name) {
            errors.push(syn::Error::new(
                span,
                format!(
                    "two affordances are named `{name}`: each property, action, endpoint, stream and event needs its own name (it is its URL)"
                ),
            ));
        } else {
            seen.push(name);
        }
    }
}

/// An `#[endpoint]` cannot be `async` (actions, getters, setters and hooks can).
pub(crate) fn endpoint_not_async(method: &ImplItemFn, errors: &mut Vec<syn::Error>) {
    if let Some(asyncness) = method.sig.asyncness {
        errors.push(syn::Error::new(
            asyncness.span(),
            "an `#[endpoint]` cannot be `async`: it answers from a blocking thread, so write a plain `fn` (actions, property getters and setters, and start/stop hooks may be `async fn`)",
        ));
    }
}
