//! Parsing the attributes `#[thing]` understands inside its impl block.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, LitInt, LitStr, Meta};

/// Which labthings attribute marks a field or a method.
pub(crate) enum Role {
    /// `#[property(..)]`: a `DataProperty<T>` field, or a getter method.
    Property(Box<PropertyOptions>),
    /// `#[action(..)]`.
    Action(ActionOptions),
    /// `#[endpoint(..)]`: an extra resource answering raw bytes.
    Endpoint(EndpointOptions),
    /// `#[on_start]`: run before the server accepts requests.
    OnStart,
    /// `#[on_stop]`: run on graceful shutdown.
    OnStop,
    /// `#[slot]` or `#[slot(default = "name")]`: a `ThingSlot<T>`,
    /// `OptionalSlot<T>` or `ThingSlots<T>` field.
    Slot(Option<LitStr>),
    /// `#[stream]`: an `MjpegStream` field.
    Stream,
    /// `#[event]`: an `Event<T>` field.
    Event,
}

/// Where an attribute is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// On a field of a `#[thing]` struct.
    Field,
    /// On a method of a `#[thing]` impl block.
    Method,
}

/// One attribute `#[thing]` understands: its name, where it may be
/// written, and what to say when it is written elsewhere.
pub(crate) struct RoleSpec {
    /// The attribute's name.
    pub name: &'static str,
    /// On a field.
    pub field: bool,
    /// On a method.
    pub method: bool,
    /// The advice when it is written where it does not belong.
    pub misplaced: &'static str,
}

/// Every attribute `#[thing]` consumes inside a struct or an impl block.
pub(crate) const ROLES: &[RoleSpec] = &[
    RoleSpec {
        name: "property",
        field: true,
        method: true,
        misplaced: "",
    },
    RoleSpec {
        name: "action",
        field: false,
        method: true,
        misplaced: "`#[action]` goes on a method in the `#[thing] impl` block",
    },
    RoleSpec {
        name: "endpoint",
        field: false,
        method: true,
        misplaced: "`#[endpoint]` goes on a method in the `#[thing] impl` block that returns `Raw`",
    },
    RoleSpec {
        name: "on_start",
        field: false,
        method: true,
        misplaced: "`#[on_start]` goes on a method in the `#[thing] impl` block",
    },
    RoleSpec {
        name: "on_stop",
        field: false,
        method: true,
        misplaced: "`#[on_stop]` goes on a method in the `#[thing] impl` block",
    },
    RoleSpec {
        name: "slot",
        field: true,
        method: false,
        misplaced: "`#[slot]` goes on the `ThingSlot<T>` (or `OptionalSlot<T>`, `ThingSlots<T>`) field of the `#[thing]` struct: remove this accessor and mark the field",
    },
    RoleSpec {
        name: "stream",
        field: true,
        method: false,
        misplaced: "`#[stream]` goes on the `MjpegStream` field of the `#[thing]` struct: remove this accessor and mark the field",
    },
    RoleSpec {
        name: "event",
        field: true,
        method: false,
        misplaced: "`#[event]` goes on the `Event<T>` field of the `#[thing]` struct: remove this accessor and mark the field",
    },
    RoleSpec {
        name: "setter",
        field: false,
        method: false,
        misplaced: "setters are found by name: call the setter of property `x` `set_x` and remove `#[setter(..)]`",
    },
];

/// The list of role names for messages: "`#[property]`, `#[action]`, …".
fn role_list(place: Place) -> String {
    ROLES
        .iter()
        .filter(|r| match place {
            Place::Field => r.field,
            Place::Method => r.method,
        })
        .map(|r| format!("`#[{}]`", r.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which hardware lock an option names.
#[derive(Clone, Copy)]
pub(crate) enum LockArg {
    Thing,
    Server,
    /// `lock = "none"`: opt out of the server's default lock.
    Unlocked,
}

/// The options of `#[property(..)]`.
#[derive(Default)]
pub(crate) struct PropertyOptions {
    pub name: Option<LitStr>,
    /// `read_only`: clients may not write the property (a data property
    /// field, or a getter that has a `set_` method for device code only).
    pub read_only: Option<Span>,
    /// `setting`: saved to disk and restored at start.
    pub setting: Option<Span>,
    /// `lock` / `lock = "server"`: writes need the hardware lock (409 while held).
    pub lock: Option<(LockArg, Span)>,
    /// `poll_ms = N`: a getter read every N ms while observed, so it is
    /// observable.
    pub poll_ms: Option<LitInt>,
    /// `state`: part of the Thing's state (metadata for measurements).
    pub state: bool,
    /// `on_set = "method"`: a data property's check of each value a client
    /// writes, which may refuse it or return the value to store instead.
    pub on_set: Option<LitStr>,
    pub constraints: Constraints,
}

/// The schema keywords an attribute may add: (option name, JSON Schema
/// keyword). `description` is for parameters only (properties have doc
/// comments).
pub(crate) const SCHEMA_KEYWORDS: &[(&str, &str)] = &[
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("exclusive_minimum", "exclusiveMinimum"),
    ("exclusive_maximum", "exclusiveMaximum"),
    ("multiple_of", "multipleOf"),
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("pattern", "pattern"),
    ("unit", "unit"),
    ("description", "description"),
];

/// JSON Schema keywords added from attributes, in the order written: each
/// a JSON Schema keyword of [`SCHEMA_KEYWORDS`] and its value.
#[derive(Default)]
pub(crate) struct Constraints {
    pub keywords: Vec<(&'static str, Expr)>,
}

/// The options of `#[action(..)]`.
#[derive(Default)]
pub(crate) struct ActionOptions {
    pub name: Option<LitStr>,
    /// `log_level = "debug"`: the least severe records its invocations keep.
    pub log_level: Option<LitStr>,
    pub retention_secs: Option<u64>,
    pub lock: Option<LockArg>,
    /// `when_busy = "reject"`: 409 instead of waiting for the lock.
    pub reject_when_busy: bool,
    /// Where `when_busy` was written, for errors.
    pub when_busy_span: Option<Span>,
    /// `approval`: calls by agents wait for an operator's approval.
    pub approval: bool,
}

/// The request methods an `#[endpoint]` may name.
pub(crate) const ENDPOINT_METHODS: &[&str] = &["get", "post", "put", "delete"];

/// The options of `#[endpoint(..)]`.
#[derive(Default)]
pub(crate) struct EndpointOptions {
    pub name: Option<LitStr>,
    /// `method = "post"`; `get` when absent.
    pub method: Option<LitStr>,
}

/// Whether `attr` is one of ours (`#[property]`, `#[action]`, …).
pub(crate) fn is_role(attr: &Attribute) -> bool {
    ROLES.iter().any(|r| attr.path().is_ident(r.name))
}

/// Read the role of a field or method from its attributes. At most one role
/// is allowed, and only where it belongs.
pub(crate) fn role(attrs: &[Attribute], place: Place, errors: &mut Vec<syn::Error>) -> Option<(Role, Span)> {
    let mut found: Option<(Role, Span)> = None;
    for attr in attrs {
        let Some(spec) = ROLES.iter().find(|r| attr.path().is_ident(r.name)) else {
            continue;
        };
        let allowed = match place {
            Place::Field => spec.field,
            Place::Method => spec.method,
        };
        if !allowed {
            errors.push(syn::Error::new(attr.span(), spec.misplaced));
            continue;
        }
        let parsed = match spec.name {
            "property" => parse_property(attr),
            "action" => parse_action(attr),
            "endpoint" => parse_endpoint(attr),
            "slot" => parse_slot(attr),
            name => {
                let role = match name {
                    "on_start" => Role::OnStart,
                    "on_stop" => Role::OnStop,
                    "stream" => Role::Stream,
                    _ => Role::Event,
                };
                match &attr.meta {
                    Meta::Path(_) => Ok(role),
                    other => Err(syn::Error::new(other.span(), "this attribute takes no arguments")),
                }
            }
        };
        match parsed {
            Ok(role) if found.is_none() => found = Some((role, attr.span())),
            Ok(_) => errors.push(syn::Error::new(
                attr.span(),
                format!("only one labthings attribute is allowed here: {}", role_list(place)),
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

/// Parse `lock` or `lock = "thing" | "server"`.
fn parse_lock(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<LockArg> {
    if meta.input.peek(syn::Token![=]) {
        let lit: LitStr = meta.value()?.parse()?;
        match lit.value().as_str() {
            "thing" => Ok(LockArg::Thing),
            "server" => Ok(LockArg::Server),
            "none" => Ok(LockArg::Unlocked),
            _ => Err(syn::Error::new(
                lit.span(),
                "expected `lock = \"thing\"`, `lock = \"server\"` or `lock = \"none\"` (no lock, whatever the server's default)",
            )),
        }
    } else {
        Ok(LockArg::Thing)
    }
}

/// Parse one schema keyword of [`SCHEMA_KEYWORDS`] (`description` only
/// for parameters); `Ok(false)` if `meta` is none of them.
fn parse_constraint(meta: &syn::meta::ParseNestedMeta<'_>, c: &mut Constraints, params: bool) -> syn::Result<bool> {
    let found = SCHEMA_KEYWORDS
        .iter()
        .find(|(option, _)| meta.path.is_ident(option) && (params || *option != "description"));
    let Some((option, keyword)) = found else {
        return Ok(false);
    };
    let value: Expr = meta.value()?.parse()?;
    if c.keywords.iter().any(|(k, _)| k == keyword) {
        return Err(meta.error(format!("`{option}` is given twice")));
    }
    if *option == "pattern" {
        check_pattern(&value)?;
    }
    c.keywords.push((keyword, value));
    Ok(true)
}

/// A `pattern` must be a string literal of a regular expression.
fn check_pattern(value: &Expr) -> syn::Result<()> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) if !lit.value().is_empty() => Ok(()),
        other => Err(syn::Error::new(
            other.span(),
            "`pattern` takes a regular expression as a string literal, e.g. `pattern = \"^[A-Z]{2}[0-9]+$\"`",
        )),
    }
}

fn parse_property(attr: &Attribute) -> syn::Result<Role> {
    let mut options = PropertyOptions::default();
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Property(Box::new(options)));
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            options.name = Some(parse_name(&meta)?);
        } else if meta.path.is_ident("read_only") {
            options.read_only = Some(meta.path.span());
        } else if meta.path.is_ident("setting") {
            options.setting = Some(meta.path.span());
        } else if meta.path.is_ident("lock") {
            options.lock = Some((parse_lock(&meta)?, meta.path.span()));
        } else if meta.path.is_ident("state") {
            options.state = true;
        } else if meta.path.is_ident("on_set") {
            let method: LitStr = meta.value()?.parse()?;
            if syn::parse_str::<syn::Ident>(&method.value()).is_err() {
                return Err(syn::Error::new(
                    method.span(),
                    "`on_set` names a method of the thing: `on_set = \"check_gain\"`",
                ));
            }
            options.on_set = Some(method);
        } else if meta.path.is_ident("poll_ms") {
            let lit: LitInt = meta.value()?.parse()?;
            match lit.base10_parse::<u64>() {
                Ok(ms) if ms >= 10 => options.poll_ms = Some(lit),
                _ => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`poll_ms` is how often the getter is read while observed: a whole number of milliseconds, at least 10",
                    ));
                }
            }
        } else if !parse_constraint(&meta, &mut options.constraints, false)? {
            return Err(meta.error(
                "unknown `#[property]` option; the supported ones are `name = \"..\"`, `read_only`, `setting`, `state`, `lock`, `poll_ms = N`, `on_set = \"method\"`, `unit = \"..\"` and the schema keywords `minimum`, `maximum`, `exclusive_minimum`, `exclusive_maximum`, `multiple_of`, `min_length`, `max_length`, `pattern`",
            ));
        }
        Ok(())
    })?;
    Ok(Role::Property(Box::new(options)))
}

fn parse_slot(attr: &Attribute) -> syn::Result<Role> {
    let mut default = None;
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Slot(default));
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("default") {
            default = Some(parse_name(&meta)?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown `#[slot]` option; the supported one is `default = \"name\"`: the thing to use when several of its type are served",
            ))
        }
    })?;
    Ok(Role::Slot(default))
}

/// The `log_level`s an action may ask for, and the `LogLevel` variant of each.
pub(crate) const LOG_LEVELS: &[(&str, &str)] = &[
    ("debug", "Debug"),
    ("info", "Info"),
    ("warning", "Warning"),
    ("error", "Error"),
];

fn parse_action(attr: &Attribute) -> syn::Result<Role> {
    let mut options = ActionOptions::default();
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Action(options));
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("retention_secs") {
            let lit: LitInt = meta.value()?.parse()?;
            options.retention_secs = Some(lit.base10_parse()?);
        } else if meta.path.is_ident("name") {
            options.name = Some(parse_name(&meta)?);
        } else if meta.path.is_ident("log_level") {
            let lit: LitStr = meta.value()?.parse()?;
            if !LOG_LEVELS.iter().any(|(name, _)| *name == lit.value()) {
                return Err(syn::Error::new(
                    lit.span(),
                    "expected `log_level = \"debug\"`, `\"info\"` (the default), `\"warning\"` or `\"error\"`",
                ));
            }
            options.log_level = Some(lit);
        } else if meta.path.is_ident("lock") {
            options.lock = Some(parse_lock(&meta)?);
        } else if meta.path.is_ident("approval") {
            options.approval = true;
        } else if meta.path.is_ident("when_busy") {
            options.when_busy_span = Some(meta.path.span());
            let lit: LitStr = meta.value()?.parse()?;
            options.reject_when_busy = match lit.value().as_str() {
                "reject" => true,
                "wait" => false,
                _ => return Err(syn::Error::new(lit.span(), "expected `when_busy = \"wait\"` or `\"reject\"`")),
            };
        } else {
            return Err(meta.error(
                "unknown `#[action]` option; the supported ones are `name = \"..\"`, `retention_secs = N`, `log_level = \"debug\"`, `lock`, `lock = \"server\"`, `lock = \"none\"`, `when_busy = \"reject\"` and `approval`",
            ));
        }
        Ok(())
    })?;
    Ok(Role::Action(options))
}

fn parse_endpoint(attr: &Attribute) -> syn::Result<Role> {
    let mut options = EndpointOptions::default();
    if let Meta::Path(_) = attr.meta {
        return Ok(Role::Endpoint(options));
    }
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("name") {
            options.name = Some(parse_name(&meta)?);
        } else if meta.path.is_ident("method") {
            let lit: LitStr = meta.value()?.parse()?;
            if !ENDPOINT_METHODS.contains(&lit.value().as_str()) {
                return Err(syn::Error::new(
                    lit.span(),
                    "expected `method = \"get\"` (the default), `\"post\"`, `\"put\"` or `\"delete\"`",
                ));
            }
            options.method = Some(lit);
        } else {
            return Err(meta.error(
                "unknown `#[endpoint]` option; the supported ones are `name = \"..\"` and `method = \"get\" | \"post\" | \"put\" | \"delete\"`",
            ));
        }
        Ok(())
    })?;
    Ok(Role::Endpoint(options))
}

/// The options of a `#[param(..)]` parameter attribute.
pub(crate) fn param_constraints(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Constraints {
    let mut constraints = Constraints::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("param")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if parse_constraint(&meta, &mut constraints, true)? {
                Ok(())
            } else {
                Err(meta.error(
                    "unknown `#[param]` option; the supported ones are `unit = \"..\"`, `description = \"..\"` and the schema keywords `minimum`, `maximum`, `exclusive_minimum`, `exclusive_maximum`, `multiple_of`, `min_length`, `max_length`, `pattern`",
                ))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    constraints
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
