//! The HTTP binding in one place: for the served things, every endpoint the
//! server has (path, method, what serves it, the error statuses it can
//! answer) and the Thing Description forms that describe it (href, WoT
//! operations, subprotocol, additional responses).
//!
//! The router (`routes/mod.rs`), each TD's forms (`td.rs`) and the OpenAPI
//! document (`openapi.rs`) are all built from [`endpoints`], so a route is
//! declared exactly once, here, and the three cannot drift apart. A second
//! protocol binding would be a second table of the same kind.

use axum::http::Method;
use labthings_core::ThingInstance;
use labthings_td::Operation;

/// What serves an endpoint (the router maps each to its handler; the
/// OpenAPI document to its request and success response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serves {
    /// Something of thing number `.0` (in the served order).
    Thing(usize, OnThing),
    /// One of the server's own resources.
    Server(OnServer),
}

/// What a thing's endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnThing {
    /// The thing's Thing Description.
    ThingDescription,
    /// Read property number `.0`.
    ReadProperty(usize),
    /// Write property number `.0`.
    WriteProperty(usize),
    /// Reset data property number `.0` to its default.
    ResetProperty(usize),
    /// Server-sent events: each new value of data property number `.0`.
    ObserveProperty(usize),
    /// Invoke action number `.0` (201 with the invocation, or the output).
    InvokeAction(usize),
    /// The invocations of action number `.0`.
    ActionInvocations(usize),
    /// Server-sent events: each payload of event number `.0`.
    SubscribeEvent(usize),
    /// The MJPEG stream number `.0`.
    Stream(usize),
    /// The observation WebSocket of the thing.
    WebSocket,
    /// The extra resource (`#[endpoint]`) number `.0`.
    Endpoint(usize),
}

/// What one of the server's own endpoints serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnServer {
    /// Each thing's URL.
    Things,
    /// Every thing's TD.
    ThingDescriptions,
    /// Settings files that could not be restored.
    SettingsWarnings,
    /// Every invocation (filtered by thing and action).
    AllInvocations,
    /// One invocation.
    Invocation,
    /// Cancel one invocation.
    CancelInvocation,
    /// The output of one invocation.
    InvocationOutput,
    /// Server-sent events: one invocation each time it changes, until it ends.
    ObserveInvocation,
    /// A blob's bytes.
    Blob,
    /// The OpenAPI document.
    OpenApi,
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

impl Serves {
    /// The error statuses the endpoint can answer (besides those of the
    /// checks every request passes), as the OpenAPI document lists them.
    pub(crate) fn errors(self) -> &'static [u16] {
        match self {
            Self::Thing(_, on) => on.errors(),
            Self::Server(on) => on.errors(),
        }
    }

    /// Who may use the endpoint on `method`.
    pub(crate) fn access(self, method: &Method) -> Access {
        match self {
            Self::Thing(_, on) => on.access(method),
            Self::Server(on) => on.access(),
        }
    }

    /// The thing the endpoint is about, if it names one by its number.
    pub(crate) fn thing(self) -> Option<usize> {
        match self {
            Self::Thing(t, _) => Some(t),
            Self::Server(_) => None,
        }
    }
}

impl OnThing {
    fn errors(self) -> &'static [u16] {
        match self {
            Self::ThingDescription | Self::ObserveProperty(_) | Self::SubscribeEvent(_) | Self::WebSocket => &[],
            Self::ReadProperty(_) => &[500, 503, 504],
            Self::WriteProperty(_) => &[400, 403, 408, 409, 413, 415, 422, 500, 503, 504],
            Self::ResetProperty(_) => &[409, 500, 503, 504],
            Self::InvokeAction(_) => &[400, 403, 408, 409, 413, 415, 422, 500, 503],
            Self::ActionInvocations(_) | Self::Stream(_) => &[422],
            Self::Endpoint(_) => &[422, 500, 503, 504],
        }
    }

    fn access(self, method: &Method) -> Access {
        match self {
            Self::WriteProperty(_) | Self::ResetProperty(_) | Self::InvokeAction(_) => Access::Operate,
            // An `#[endpoint]` changes the thing unless it is read with GET.
            Self::Endpoint(_) if *method != Method::GET => Access::Operate,
            _ => Access::Observe,
        }
    }
}

impl OnServer {
    fn errors(self) -> &'static [u16] {
        match self {
            Self::Things | Self::ThingDescriptions | Self::SettingsWarnings | Self::OpenApi => &[],
            Self::AllInvocations => &[422],
            Self::Invocation | Self::ObserveInvocation | Self::Blob => &[404, 422],
            Self::CancelInvocation | Self::InvocationOutput => &[404, 422, 503],
        }
    }

    fn access(self) -> Access {
        match self {
            // It declares how to authenticate.
            Self::OpenApi => Access::Public,
            Self::CancelInvocation => Access::Operate,
            _ => Access::Observe,
        }
    }
}

/// Pages served beside the endpoints, for people rather than programs, that
/// hold no data: the control panel and its files, the API docs (route
/// patterns; `routes/panel.rs` and `routes/docs.rs` serve them). Anyone may
/// load them: the panel asks for credentials itself.
pub(crate) const PAGES: [&str; 5] = ["/", "/_panel/{*file}", "/docs", "/docs/", "/docs/{*file}"];

/// The first path segment of the server's invocations (`/action_invocations/{id}`).
pub(crate) const INVOCATIONS: &str = "action_invocations";

/// The first path segment of the server's blobs (`/blob/{id}`).
pub(crate) const BLOBS: &str = "blob";

/// The first path segments the server itself uses, which no thing, folder
/// or route of the program's own may take: from the server's endpoints and
/// its pages.
pub(crate) fn reserved_segments() -> Vec<String> {
    let mut endpoints = Vec::new();
    server_endpoints(std::iter::empty(), &mut endpoints);
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

/// One endpoint: a path and method, what serves it, and how it is described.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The route path (axum syntax: `{id}` for a path parameter).
    pub(crate) path: String,
    /// The method.
    pub(crate) method: Method,
    /// What serves it (and which thing it belongs to, if any).
    pub(crate) serves: Serves,
    /// Whether the OpenAPI document lists it (a second path for the same
    /// thing, `/{thing}` beside `/{thing}/`, is not).
    pub(crate) documented: bool,
    /// The error statuses it can answer that the OpenAPI document lists
    /// (with users configured, 401 and 403 are added to every secured one):
    /// [`Serves::errors`].
    pub(crate) errors: &'static [u16],
    /// Who may use it when the server has users: [`Serves::access`].
    pub(crate) access: Access,
    /// The TD forms describing it.
    pub(crate) forms: Vec<Form>,
}

/// Every endpoint of a server serving `things`, in the order their forms
/// appear in the TDs: each thing's own, then the server's.
pub(crate) fn endpoints<'a>(things: impl IntoIterator<Item = &'a ThingInstance> + Clone) -> Vec<Endpoint> {
    let mut all = Vec::new();
    for (index, thing) in things.clone().into_iter().enumerate() {
        thing_endpoints(index, thing, &mut all);
    }
    server_endpoints(things, &mut all);
    all
}

fn endpoint(path: String, method: Method, serves: Serves) -> Endpoint {
    Endpoint {
        access: serves.access(&method),
        errors: serves.errors(),
        path,
        method,
        serves,
        documented: true,
        forms: Vec::new(),
    }
}

fn form(thing: usize, affordance: Affordance, href: String, ops: &'static [Operation]) -> Form {
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

/// The endpoints of one thing.
fn thing_endpoints(t: usize, thing: &ThingInstance, all: &mut Vec<Endpoint>) {
    let name = thing.name();
    all.push(endpoint(
        format!("/{name}/"),
        Method::GET,
        Serves::Thing(t, OnThing::ThingDescription),
    ));
    all.push(Endpoint {
        documented: false,
        ..endpoint(
            format!("/{name}"),
            Method::GET,
            Serves::Thing(t, OnThing::ThingDescription),
        )
    });
    all.push(endpoint(
        format!("/{name}/ws"),
        Method::GET,
        Serves::Thing(t, OnThing::WebSocket),
    ));

    for (p, property) in thing.properties().iter().enumerate() {
        let path = format!("/{name}/{}", property.name);
        let ops: &'static [Operation] = if property.writable {
            &[Operation::ReadProperty, Operation::WriteProperty]
        } else {
            &[Operation::ReadProperty]
        };
        let mut read = endpoint(path.clone(), Method::GET, Serves::Thing(t, OnThing::ReadProperty(p)));
        read.forms.push(form(t, Affordance::Property(p), path.clone(), ops));
        all.push(read);
        if property.writable {
            all.push(endpoint(
                path.clone(),
                Method::PUT,
                Serves::Thing(t, OnThing::WriteProperty(p)),
            ));
            if property.data {
                all.push(endpoint(
                    format!("{path}/reset"),
                    Method::POST,
                    Serves::Thing(t, OnThing::ResetProperty(p)),
                ));
            }
        }
        if property.observable() {
            let observe = format!("{path}/observe");
            let mut sse = endpoint(
                observe.clone(),
                Method::GET,
                Serves::Thing(t, OnThing::ObserveProperty(p)),
            );
            sse.forms.push(Form {
                subprotocol: Some("sse"),
                ..form(
                    t,
                    Affordance::Property(p),
                    observe,
                    &[Operation::ObserveProperty, Operation::UnobserveProperty],
                )
            });
            all.push(sse);
        }
    }

    for (a, action) in thing.actions().iter().enumerate() {
        let path = format!("/{name}/{}", action.name);
        let mut invoke = endpoint(path.clone(), Method::POST, Serves::Thing(t, OnThing::InvokeAction(a)));
        // The form that waits and answers the output comes first: generic
        // WoT clients take the first form, and the TD promises the output.
        invoke.forms.push(Form {
            method_name: true,
            ..form(
                t,
                Affordance::Action(a),
                format!("{path}?return=output"),
                &[Operation::InvokeAction],
            )
        });
        // LabThings-FastAPI's own: 201 at once with the invocation.
        invoke.forms.push(Form {
            method_name: true,
            additional: Some("invocation"),
            ..form(t, Affordance::Action(a), path.clone(), &[Operation::InvokeAction])
        });
        all.push(invoke);
        all.push(endpoint(
            path,
            Method::GET,
            Serves::Thing(t, OnThing::ActionInvocations(a)),
        ));
    }

    for (e, event) in thing.events().iter().enumerate() {
        let path = format!("/{name}/{}", event.name);
        let mut sse = endpoint(path.clone(), Method::GET, Serves::Thing(t, OnThing::SubscribeEvent(e)));
        sse.forms.push(Form {
            subprotocol: Some("sse"),
            ..form(
                t,
                Affordance::Event(e),
                path,
                &[Operation::SubscribeEvent, Operation::UnsubscribeEvent],
            )
        });
        all.push(sse);
    }

    for (s, stream) in thing.streams().iter().enumerate() {
        let path = format!("/{name}/{}", stream.name);
        let mut mjpeg = endpoint(path.clone(), Method::GET, Serves::Thing(t, OnThing::Stream(s)));
        mjpeg.forms.push(form(t, Affordance::Stream(s), path, &[]));
        all.push(mjpeg);
    }

    for (e, extra) in thing.endpoints().iter().enumerate() {
        let path = format!("/{name}/{}", extra.name);
        let method = match extra.method {
            "post" => Method::POST,
            "put" => Method::PUT,
            "delete" => Method::DELETE,
            _ => Method::GET,
        };
        let mut endpoint = endpoint(path.clone(), method.clone(), Serves::Thing(t, OnThing::Endpoint(e)));
        if method == Method::GET {
            endpoint.forms.push(form(t, Affordance::Endpoint(e), path, &[]));
        }
        all.push(endpoint);
    }
}

/// The endpoints every server has, with the forms each thing's TD gives them.
fn server_endpoints<'a>(things: impl IntoIterator<Item = &'a ThingInstance>, all: &mut Vec<Endpoint>) {
    all.push(endpoint(
        "/things/".into(),
        Method::GET,
        Serves::Server(OnServer::Things),
    ));
    all.push(endpoint(
        "/thing_descriptions/".into(),
        Method::GET,
        Serves::Server(OnServer::ThingDescriptions),
    ));
    let mut list = endpoint(
        format!("/{INVOCATIONS}"),
        Method::GET,
        Serves::Server(OnServer::AllInvocations),
    );
    let mut query = endpoint(
        format!("/{INVOCATIONS}/{{id}}"),
        Method::GET,
        Serves::Server(OnServer::Invocation),
    );
    let mut cancel = endpoint(
        format!("/{INVOCATIONS}/{{id}}"),
        Method::DELETE,
        Serves::Server(OnServer::CancelInvocation),
    );
    for (t, thing) in things.into_iter().enumerate() {
        list.forms.push(Form {
            method_name: true,
            additional: Some("invocationList"),
            ..form(
                t,
                Affordance::Thing,
                format!("{INVOCATIONS}?thing={}", thing.name()),
                &[Operation::QueryAllActions],
            )
        });
        for a in 0..thing.actions().len() {
            query.forms.push(Form {
                method_name: true,
                additional: Some("invocation"),
                ..form(
                    t,
                    Affordance::Action(a),
                    format!("/{INVOCATIONS}/{{id}}"),
                    &[Operation::QueryAction],
                )
            });
            cancel.forms.push(Form {
                method_name: true,
                json: false,
                ..form(
                    t,
                    Affordance::Action(a),
                    format!("/{INVOCATIONS}/{{id}}"),
                    &[Operation::CancelAction],
                )
            });
        }
    }
    all.extend([list, query, cancel]);
    all.push(endpoint(
        format!("/{INVOCATIONS}/{{id}}/output"),
        Method::GET,
        Serves::Server(OnServer::InvocationOutput),
    ));
    all.push(endpoint(
        format!("/{INVOCATIONS}/{{id}}/observe"),
        Method::GET,
        Serves::Server(OnServer::ObserveInvocation),
    ));
    all.push(endpoint(
        format!("/{BLOBS}/{{id}}"),
        Method::GET,
        Serves::Server(OnServer::Blob),
    ));
    all.push(endpoint(
        "/settings_warnings".into(),
        Method::GET,
        Serves::Server(OnServer::SettingsWarnings),
    ));
    all.push(endpoint(
        "/openapi.json".into(),
        Method::GET,
        Serves::Server(OnServer::OpenApi),
    ));
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
