//! Parsing the attributes `#[thing]` understands inside its impl block.

use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitInt, LitStr, Meta};

/// Which labthings attribute marks a method.
pub(crate) enum Role {
    /// `#[property]` or `#[property(name = "..")]`: a getter.
    Property { name: Option<LitStr> },
    /// `#[setter(name)]`: the setter of property `name`.
    Setter(Ident),
    /// `#[action]`, with optional `name = ".."` and `retention_secs = N`.
    Action {
        name: Option<LitStr>,
        retention_secs: Option<u64>,
    },
}

/// The names of the method attributes `#[thing]` consumes.
const ROLE_NAMES: [&str; 3] = ["property", "setter", "action"];

/// Whether `attr` is one of ours (`#[property]`, `#[setter(..)]`, `#[action]`).
pub(crate) fn is_role(attr: &Attribute) -> bool {
    ROLE_NAMES.iter().any(|n| attr.path().is_ident(n))
}

/// Read the role of a method from its attributes. At most one role is allowed.
pub(crate) fn role(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Option<(Role, proc_macro2::Span)> {
    let mut found: Option<(Role, proc_macro2::Span)> = None;
    for attr in attrs.iter().filter(|a| is_role(a)) {
        let parsed = if attr.path().is_ident("property") {
            parse_property(attr)
        } else if attr.path().is_ident("setter") {
            attr.parse_args::<Ident>().map(Role::Setter).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the name of the property this method sets, e.g. `#[setter(step_delay_ms)]`",
                )
            })
        } else {
            parse_action(attr)
        };
        match parsed {
            Ok(role) if found.is_none() => found = Some((role, attr.span())),
            Ok(_) => errors.push(syn::Error::new(
                attr.span(),
                "a method can have only one of `#[property]`, `#[setter(..)]` and `#[action]`",
            )),
            Err(e) => errors.push(e),
        }
    }
    found
}

/// Parse `name = "segment"`, checking it is usable as a URL path segment.
fn parse_name(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let lit: LitStr = meta.value()?.parse()?;
    let value = lit.value();
    let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(lit)
    } else {
        Err(syn::Error::new(
            lit.span(),
            "a name becomes a URL path segment: use only letters, digits, `_` and `-`",
        ))
    }
}

fn parse_property(attr: &Attribute) -> syn::Result<Role> {
    let mut name = None;
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Property { name });
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            name = Some(parse_name(&meta)?);
            Ok(())
        } else {
            Err(meta.error("unknown `#[property]` option; the supported one is `name = \"..\"`"))
        }
    })?;
    Ok(Role::Property { name })
}

fn parse_action(attr: &Attribute) -> syn::Result<Role> {
    let mut name = None;
    let mut retention_secs = None;
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Action { name, retention_secs });
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("retention_secs") {
            let lit: LitInt = meta.value()?.parse()?;
            retention_secs = Some(lit.base10_parse()?);
            Ok(())
        } else if meta.path.is_ident("name") {
            name = Some(parse_name(&meta)?);
            Ok(())
        } else {
            Err(meta
                .error("unknown `#[action]` option; the supported ones are `name = \"..\"` and `retention_secs = N`"))
        }
    })?;
    Ok(Role::Action { name, retention_secs })
}

/// The expression of a `#[default(expr)]` parameter attribute, if present.
pub(crate) fn param_default(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Option<Expr> {
    let mut default = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("default")) {
        match attr.parse_args::<Expr>() {
            Ok(expr) if default.is_none() => default = Some(expr),
            Ok(_) => errors.push(syn::Error::new(attr.span(), "duplicate `#[default(..)]`")),
            Err(_) => errors.push(syn::Error::new(
                attr.span(),
                "expected a default value, e.g. `#[default(0)] y: i64`",
            )),
        }
    }
    default
}

/// The doc comment lines of an item, trimmed, joined with newlines.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// A short title from a doc comment: its first paragraph on one line.
pub(crate) fn title(docs: &str) -> String {
    docs.split("\n\n")
        .next()
        .unwrap_or(docs)
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}
