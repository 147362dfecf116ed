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
    /// (with users configured, 401 and 403 are added to every secured one).
    pub(crate) errors: &'static [u16],
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

fn endpoint(path: String, method: Method, serves: Serves, errors: &'static [u16]) -> Endpoint {
    Endpoint {
        path,
        method,
        serves,
        documented: true,
        errors,
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
        &[],
    ));
    all.push(Endpoint {
        documented: false,
        ..endpoint(
            format!("/{name}"),
            Method::GET,
            Serves::Thing(t, OnThing::ThingDescription),
            &[],
        )
    });
    all.push(endpoint(
        format!("/{name}/ws"),
        Method::GET,
        Serves::Thing(t, OnThing::WebSocket),
        &[],
    ));

    for (p, property) in thing.properties().iter().enumerate() {
        let path = format!("/{name}/{}", property.name);
        let ops: &'static [Operation] = if property.writable {
            &[Operation::ReadProperty, Operation::WriteProperty]
        } else {
            &[Operation::ReadProperty]
        };
        let mut read = endpoint(
            path.clone(),
            Method::GET,
            Serves::Thing(t, OnThing::ReadProperty(p)),
            &[500, 503, 504],
        );
        read.forms.push(form(t, Affordance::Property(p), path.clone(), ops));
        all.push(read);
        if property.writable {
            const WRITE_ERRORS: [u16; 10] = [400, 403, 408, 409, 413, 415, 422, 500, 503, 504];
            all.push(endpoint(
                path.clone(),
                Method::PUT,
                Serves::Thing(t, OnThing::WriteProperty(p)),
                &WRITE_ERRORS,
            ));
            if property.data {
                all.push(endpoint(
                    format!("{path}/reset"),
                    Method::POST,
                    Serves::Thing(t, OnThing::ResetProperty(p)),
                    &[409, 500, 503, 504],
                ));
            }
        }
        if property.observable() {
            let observe = format!("{path}/observe");
            let mut sse = endpoint(
                observe.clone(),
                Method::GET,
                Serves::Thing(t, OnThing::ObserveProperty(p)),
                &[],
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
        const INVOKE_ERRORS: [u16; 9] = [400, 403, 408, 409, 413, 415, 422, 500, 503];
        let mut invoke = endpoint(
            path.clone(),
            Method::POST,
            Serves::Thing(t, OnThing::InvokeAction(a)),
            &INVOKE_ERRORS,
        );
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
            &[422],
        ));
    }

    for (e, event) in thing.events().iter().enumerate() {
        let path = format!("/{name}/{}", event.name);
        let mut sse = endpoint(
            path.clone(),
            Method::GET,
            Serves::Thing(t, OnThing::SubscribeEvent(e)),
            &[],
        );
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
        let mut mjpeg = endpoint(path.clone(), Method::GET, Serves::Thing(t, OnThing::Stream(s)), &[422]);
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
        let mut endpoint = endpoint(
            path.clone(),
            method.clone(),
            Serves::Thing(t, OnThing::Endpoint(e)),
            &[422, 500, 503, 504],
        );
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
        &[],
    ));
    all.push(endpoint(
        "/thing_descriptions/".into(),
        Method::GET,
        Serves::Server(OnServer::ThingDescriptions),
        &[],
    ));
    let mut list = endpoint(
        "/action_invocations".into(),
        Method::GET,
        Serves::Server(OnServer::AllInvocations),
        &[422],
    );
    let mut query = endpoint(
        "/action_invocations/{id}".into(),
        Method::GET,
        Serves::Server(OnServer::Invocation),
        &[404, 422],
    );
    let mut cancel = endpoint(
        "/action_invocations/{id}".into(),
        Method::DELETE,
        Serves::Server(OnServer::CancelInvocation),
        &[404, 422, 503],
    );
    for (t, thing) in things.into_iter().enumerate() {
        list.forms.push(Form {
            method_name: true,
            additional: Some("invocationList"),
            ..form(
                t,
                Affordance::Thing,
                format!("action_invocations?thing={}", thing.name()),
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
                    "/action_invocations/{id}".into(),
                    &[Operation::QueryAction],
                )
            });
            cancel.forms.push(Form {
                method_name: true,
                json: false,
                ..form(
                    t,
                    Affordance::Action(a),
                    "/action_invocations/{id}".into(),
                    &[Operation::CancelAction],
                )
            });
        }
    }
    all.extend([list, query, cancel]);
    all.push(endpoint(
        "/action_invocations/{id}/output".into(),
        Method::GET,
        Serves::Server(OnServer::InvocationOutput),
        &[404, 422, 503],
    ));
    all.push(endpoint(
        "/action_invocations/{id}/observe".into(),
        Method::GET,
        Serves::Server(OnServer::ObserveInvocation),
        &[404, 422],
    ));
    all.push(endpoint(
        "/blob/{id}".into(),
        Method::GET,
        Serves::Server(OnServer::Blob),
        &[404, 422],
    ));
    all.push(endpoint(
        "/settings_warnings".into(),
        Method::GET,
        Serves::Server(OnServer::SettingsWarnings),
        &[],
    ));
    all.push(endpoint(
        "/openapi.json".into(),
        Method::GET,
        Serves::Server(OnServer::OpenApi),
        &[],
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
