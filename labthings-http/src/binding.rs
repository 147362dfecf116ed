//! The HTTP binding in one place: for the served things, every endpoint the
//! server has and the Thing Description forms that describe it.
//!
//! Each kind of endpoint is one type, declared beside its handler in
//! `routes/` ([`ThingKind`] for a thing's, [`ServerKind`] for the server's
//! own): its path, method, error statuses, access level, TD forms, handler
//! and OpenAPI operation. [`endpoints`] lists which endpoints the served
//! things have, in the order their forms appear in the TDs; the router
//! (`routes/mod.rs`), each TD's forms (`td.rs`), the OpenAPI document
//! (`openapi.rs`) and the credential check (`access.rs`) are all built from
//! that one list, made once when the server is built, so they cannot drift
//! apart. A second protocol binding is a crate of its own (`labthings-mqtt`).

use std::any::TypeId;
use std::sync::Arc;

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use labthings_core::ThingInstance;
use labthings_td::Operation;
use serde_json::{Map, Value};

use crate::openapi::Schemas;
use crate::state::AppState;

/// What serves an endpoint: its handler on the endpoint's method.
pub(crate) type Route = MethodRouter<Arc<AppState>>;

/// An endpoint kind's OpenAPI operation, for the served things.
type OperationOf = fn(&[Arc<ThingInstance>], &Endpoint, &mut Schemas) -> Map<String, Value>;

/// One kind of a thing's endpoint (reading a property, invoking an
/// action, ...), everything about it in one place. `item` numbers the
/// affordance the endpoint is for among the thing's properties, actions,
/// events, streams or `#[endpoint]`s (0 for the thing's own endpoints).
pub(crate) trait ThingKind: 'static {
    /// The method (unless [`ThingKind::method`] says otherwise for an item).
    const METHOD: Method = Method::GET;
    /// The error statuses it can answer besides those of the checks every
    /// request passes, as the OpenAPI document lists them (with users
    /// configured, 401 and 403 are added to every secured one).
    const ERRORS: &'static [u16];
    /// Who may use it when the server has users.
    const ACCESS: Access = Access::Observe;
    /// The route's path for the thing named `thing` and the affordance
    /// named `item` (axum syntax).
    fn path(thing: &str, item: &str) -> String;
    /// The method of item number `item`.
    fn method(_thing: &ThingInstance, _item: usize) -> Method {
        Self::METHOD
    }
    /// The TD forms (or links) that describe it, in the order clients
    /// should prefer them, for thing number `t` whose endpoint is at `path`.
    fn forms(_thing: &ThingInstance, _t: usize, _item: usize, _path: &str) -> Vec<Form> {
        Vec::new()
    }
    /// Its handler on `method`.
    fn handler(thing: &Arc<ThingInstance>, item: usize, method: MethodFilter) -> Route;
    /// Its OpenAPI operation, without the error answers ([`ThingKind::ERRORS`]).
    fn operation(thing: &ThingInstance, item: usize, schemas: &mut Schemas) -> Map<String, Value>;
}

/// One kind of the server's own endpoints (the invocations, blobs, the
/// lists of things), everything about it in one place.
pub(crate) trait ServerKind: 'static {
    /// The method.
    const METHOD: Method = Method::GET;
    /// The error statuses it can answer besides those of the checks every
    /// request passes (see [`ThingKind::ERRORS`]).
    const ERRORS: &'static [u16];
    /// Who may use it when the server has users.
    const ACCESS: Access = Access::Observe;
    /// The route's path (axum syntax).
    fn path() -> String;
    /// The forms each thing's TD gives it.
    fn forms(_things: &[&ThingInstance]) -> Vec<Form> {
        Vec::new()
    }
    /// Its handler on `method`.
    fn handler(method: MethodFilter) -> Route;
    /// Its OpenAPI operation, without the error answers.
    fn operation() -> Map<String, Value>;
}

/// Who may use an endpoint when the server has users (`auth`): anyone, a
/// user who may observe (the thing), or one who may operate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone, without credentials: pages that hold no data.
    Public,
    /// Reads and watches.
    Observe,
    /// Changes: writes, invocations, cancellations.
    Operate,
}

/// Pages served beside the endpoints, for people rather than programs, that
/// hold no data: the control panel and its files, the API docs (route
/// patterns; `routes/panel.rs` and `routes/docs.rs` serve them). Anyone may
/// load them: the panel asks for credentials itself.
pub(crate) const PAGES: [&str; 5] = ["/", "/_panel/{*file}", "/docs", "/docs/", "/docs/{*file}"];

/// The first path segment of the server's invocations (`/action_invocations/{id}`).
pub(crate) const INVOCATIONS: &str = "action_invocations";

/// The first path segment of the record of invocations (`/records`).
#[cfg(feature = "records")]
pub(crate) const RECORDS: &str = "records";

/// The first path segment of the server's blobs (`/blob/{id}`).
pub(crate) const BLOBS: &str = "blob";

/// The first path segments the server itself uses, which no thing, folder
/// or route of the program's own may take: from the server's endpoints and
/// its pages.
pub(crate) fn reserved_segments() -> Vec<String> {
    let mut endpoints = Vec::new();
    server_endpoints(&[], true, &mut endpoints);
    let paths = endpoints.iter().map(|e| e.path.as_str()).chain(PAGES);
    let mut segments: Vec<String> = Vec::new();
    for path in paths {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if !first.is_empty() && !segments.iter().any(|s| s == first) {
            segments.push(first.to_owned());
        }
    }
    segments
}

/// Which affordance of a thing a form belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affordance {
    /// The thing itself (top-level `forms`).
    Thing,
    /// Property number `.0`.
    Property(usize),
    /// Action number `.0`.
    Action(usize),
    /// Event number `.0`.
    Event(usize),
    /// Stream number `.0` (a TD `links` entry rather than a form).
    Stream(usize),
    /// Endpoint number `.0` (a TD `links` entry, for one read with GET).
    Endpoint(usize),
}

/// One TD form (or, for streams, link) describing an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    /// Index of the thing (in the served order) whose TD holds the form.
    pub(crate) thing: usize,
    /// The affordance it belongs to.
    pub(crate) affordance: Affordance,
    /// The form's href: relative to the TD's `base` (starting with `/`), or
    /// for top-level forms absolute once `base` is put in front; may hold
    /// a query and `{id}`.
    pub(crate) href: String,
    /// The WoT operations (`readproperty`, `invokeaction`, ...).
    pub(crate) ops: &'static [Operation],
    /// `sse` for event streams.
    pub(crate) subprotocol: Option<&'static str>,
    /// Whether the form says `htv:methodName` (when the method is not the
    /// default for its operation, and always for actions).
    pub(crate) method_name: bool,
    /// Whether the form says `contentType: application/json`.
    pub(crate) json: bool,
    /// The `schemaDefinitions` entry of an additional success response.
    pub(crate) additional: Option<&'static str>,
}

/// One endpoint: a path and method, its kind, and how it is described.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The route path (axum syntax: `{id}` for a path parameter).
    pub(crate) path: String,
    /// The method.
    pub(crate) method: Method,
    /// The thing it belongs to (its number in the served order), if any.
    pub(crate) thing: Option<usize>,
    /// The affordance it is for, numbered among its thing's affordances of
    /// the kind's sort (0 for the thing's own and the server's endpoints).
    pub(crate) item: usize,
    /// Whether the OpenAPI document lists it (a second path for the same
    /// thing, `/{thing}` beside `/{thing}/`, is not).
    pub(crate) documented: bool,
    /// The kind's error statuses ([`ThingKind::ERRORS`]).
    pub(crate) errors: &'static [u16],
    /// Who may use it when the server has users ([`ThingKind::ACCESS`]).
    pub(crate) access: Access,
    /// The TD forms describing it.
    pub(crate) forms: Vec<Form>,
    /// The kind's type.
    kind: TypeId,
    /// The kind's handler, for the served things.
    route: fn(&[Arc<ThingInstance>], &Endpoint) -> Option<Route>,
    /// The kind's OpenAPI operation, for the served things.
    operation: OperationOf,
}

impl Endpoint {
    /// Whether the endpoint is of kind `K`.
    pub(crate) fn is<K: 'static>(&self) -> bool {
        self.kind == TypeId::of::<K>()
    }

    /// Its handler, when `things` are the things it was listed for.
    pub(crate) fn route(&self, things: &[Arc<ThingInstance>]) -> Option<Route> {
        (self.route)(things, self)
    }

    /// Its OpenAPI operation (without its error answers), when `things`
    /// are the things it was listed for.
    pub(crate) fn operation(&self, things: &[Arc<ThingInstance>], schemas: &mut Schemas) -> Map<String, Value> {
        (self.operation)(things, self, schemas)
    }

    /// The method as a filter for a method router.
    fn filter(&self) -> MethodFilter {
        MethodFilter::try_from(self.method.clone()).unwrap_or(MethodFilter::GET)
    }
}

/// Every endpoint of a server serving `things`, in the order their forms
/// appear in the TDs: each thing's own, then the server's (`/records` only
/// when the server keeps `records`).
pub(crate) fn endpoints<'a>(things: impl IntoIterator<Item = &'a ThingInstance>, records: bool) -> Vec<Endpoint> {
    let things: Vec<&ThingInstance> = things.into_iter().collect();
    let mut all = Vec::new();
    for (index, thing) in things.iter().enumerate() {
        thing_endpoints(index, thing, &mut all);
    }
    server_endpoints(&things, records, &mut all);
    all
}

/// The endpoint of kind `K` for item number `item` (named `name`) of
/// `thing`, number `t`.
fn on_thing<K: ThingKind>(t: usize, thing: &ThingInstance, item: usize, name: &str) -> Endpoint {
    let path = K::path(thing.name(), name);
    Endpoint {
        forms: K::forms(thing, t, item, &path),
        method: K::method(thing, item),
        path,
        thing: Some(t),
        item,
        documented: true,
        errors: K::ERRORS,
        access: K::ACCESS,
        kind: TypeId::of::<K>(),
        route: |things, endpoint| {
            let thing = things.get(endpoint.thing?)?;
            Some(K::handler(thing, endpoint.item, endpoint.filter()))
        },
        operation: |things, endpoint, schemas| match endpoint.thing.and_then(|t| things.get(t)) {
            Some(thing) => K::operation(thing, endpoint.item, schemas),
            None => Map::new(),
        },
    }
}

/// The endpoint of kind `K`, with the forms the TDs of `things` give it.
fn on_server<K: ServerKind>(things: &[&ThingInstance]) -> Endpoint {
    Endpoint {
        path: K::path(),
        method: K::METHOD,
        thing: None,
        item: 0,
        documented: true,
        errors: K::ERRORS,
        access: K::ACCESS,
        forms: K::forms(things),
        kind: TypeId::of::<K>(),
        route: |_, endpoint| Some(K::handler(endpoint.filter())),
        operation: |_, _, _| K::operation(),
    }
}

/// A form of thing number `thing`'s `affordance` for `ops` at `href`, of
/// JSON, with the default method of its operation.
pub(crate) fn form(thing: usize, affordance: Affordance, href: String, ops: &'static [Operation]) -> Form {
    Form {
        thing,
        affordance,
        href,
        ops,
        subprotocol: None,
        method_name: false,
        json: true,
        additional: None,
    }
}

/// The endpoints of thing number `t`: which it has, given its affordances.
fn thing_endpoints(t: usize, thing: &ThingInstance, all: &mut Vec<Endpoint>) {
    use crate::routes::{actions, endpoints, observe, properties, streams, things, websocket};
    all.push(on_thing::<things::Description>(t, thing, 0, ""));
    all.push(Endpoint {
        path: format!("/{}", thing.name()),
        documented: false,
        ..on_thing::<things::Description>(t, thing, 0, "")
    });
    all.push(on_thing::<websocket::WebSocket>(t, thing, 0, ""));
    for (p, property) in thing.properties().iter().enumerate() {
        all.push(on_thing::<properties::Read>(t, thing, p, property.name));
        if property.writable {
            all.push(on_thing::<properties::Write>(t, thing, p, property.name));
            if property.data {
                all.push(on_thing::<properties::Reset>(t, thing, p, property.name));
            }
        }
        if property.observable() {
            all.push(on_thing::<observe::ObserveProperty>(t, thing, p, property.name));
        }
    }
    for (a, action) in thing.actions().iter().enumerate() {
        all.push(on_thing::<actions::Invoke>(t, thing, a, action.name));
        all.push(on_thing::<actions::Invocations>(t, thing, a, action.name));
    }
    for (e, event) in thing.events().iter().enumerate() {
        all.push(on_thing::<observe::SubscribeEvent>(t, thing, e, event.name));
    }
    for (s, stream) in thing.streams().iter().enumerate() {
        all.push(on_thing::<streams::Stream>(t, thing, s, stream.name));
    }
    for (e, extra) in thing.endpoints().iter().enumerate() {
        all.push(match extra.method {
            "post" | "put" | "delete" => on_thing::<endpoints::Change>(t, thing, e, extra.name),
            _ => on_thing::<endpoints::Read>(t, thing, e, extra.name),
        });
    }
}

/// The endpoints every server has, with the forms each thing's TD gives them.
fn server_endpoints(things: &[&ThingInstance], records: bool, all: &mut Vec<Endpoint>) {
    use crate::routes::{blobs, docs, invocations, things as listing};
    all.extend([
        on_server::<listing::Things>(things),
        on_server::<listing::Descriptions>(things),
        on_server::<invocations::List>(things),
        on_server::<invocations::One>(things),
        on_server::<invocations::Cancel>(things),
        on_server::<invocations::Approve>(things),
        on_server::<invocations::Reject>(things),
        on_server::<invocations::Output>(things),
        on_server::<invocations::Observe>(things),
        on_server::<blobs::Blob>(things),
        on_server::<listing::SettingsWarnings>(things),
        on_server::<docs::OpenApi>(things),
    ]);
    #[cfg(feature = "records")]
    if records {
        all.extend([
            on_server::<crate::routes::records::List>(things),
            on_server::<crate::routes::records::Export>(things),
            on_server::<crate::routes::records::EventModel>(things),
        ]);
    }
    #[cfg(not(feature = "records"))]
    let _ = records;
}

/// The forms of `thing` (its index) for `affordance`, each with its
/// endpoint, in the order clients should prefer them.
pub(crate) fn forms_of<'a>(
    endpoints: &'a [Endpoint],
    thing: usize,
    affordance: Affordance,
) -> impl Iterator<Item = (&'a Endpoint, &'a Form)> + 'a {
    endpoints
        .iter()
        .flat_map(|e| e.forms.iter().map(move |f| (e, f)))
        .filter(move |(_, f)| f.thing == thing && f.affordance == affordance)
}
