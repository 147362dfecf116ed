//! Who may use each path, when the server has users: the access level every
//! endpoint declares (`binding.rs`: [`ThingKind::ACCESS`](crate::binding::ThingKind::ACCESS)),
//! and the pages anyone may load ([`PAGES`]), in one table made when the
//! server is built. A request is looked up in it with the same kind of
//! router axum matches routes with, so the credential check never takes a
//! path apart itself.

use axum::http::Method;
use uuid::Uuid;

use crate::binding::{Access, Endpoint, INVOCATIONS, PAGES};

/// What a request is about, for a user limited to some things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// No thing in particular (the server's lists, a blob, a page).
    Server,
    /// Thing number `.0`.
    Thing(usize),
    /// The thing of invocation `.0`.
    Invocation(Uuid),
}

/// One endpoint of a path: its method, access level and thing.
#[derive(Debug, Clone)]
struct Entry {
    method: Method,
    access: Access,
    thing: Option<usize>,
}

/// The access level of every endpoint and page, by path and method.
#[derive(Debug, Default)]
pub(crate) struct AccessTable {
    paths: matchit::Router<Vec<Entry>>,
}

impl AccessTable {
    /// The table of `endpoints`, the server's pages, and `observed`: the
    /// paths of other bindings (the MCP endpoint) that any user who may
    /// observe may use with any method (the binding checks what each call
    /// needs).
    pub(crate) fn new(endpoints: &[Endpoint], observed: &[String]) -> Self {
        let mut by_path: Vec<(String, Vec<Entry>)> = Vec::new();
        let entries = endpoints
            .iter()
            .map(|e| {
                let entry = Entry {
                    method: e.method.clone(),
                    access: e.access,
                    thing: e.thing,
                };
                (e.path.clone(), entry)
            })
            .chain(PAGES.iter().map(|page| {
                let entry = Entry {
                    method: Method::GET,
                    access: Access::Public,
                    thing: None,
                };
                ((*page).to_owned(), entry)
            }))
            .chain(observed.iter().flat_map(|path| {
                [Method::GET, Method::POST, Method::DELETE].map(|method| {
                    let entry = Entry {
                        method,
                        access: Access::Observe,
                        thing: None,
                    };
                    (path.clone(), entry)
                })
            }));
        for (path, entry) in entries {
            match by_path.iter_mut().find(|(p, _)| *p == path) {
                Some((_, list)) => list.push(entry),
                None => by_path.push((path, vec![entry])),
            }
        }
        let mut paths = matchit::Router::new();
        for (path, list) in by_path {
            // The binding's paths are axum routes, so they are valid here; a
            // conflict would have stopped the router being built first.
            if let Err(e) = paths.insert(path.clone(), list) {
                tracing::error!("the access table cannot hold {path}: {e}");
            }
        }
        Self { paths }
    }

    /// The access level `method` on `path` needs and what it is about;
    /// `None` for a path no endpoint or page serves. A method the path does
    /// not serve (it will be answered 405) needs what its kind of method
    /// does: reads observe, anything else operates.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<(Access, Target)> {
        let matched = self.paths.at(path).ok()?;
        let wanted = if *method == Method::HEAD { &Method::GET } else { method };
        let entry = matched.value.iter().find(|e| e.method == *wanted);
        let access = match entry {
            Some(entry) => entry.access,
            None if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => Access::Observe,
            None => Access::Operate,
        };
        let thing = entry
            .and_then(|e| e.thing)
            .or_else(|| matched.value.iter().find_map(|e| e.thing));
        let target = match thing {
            Some(t) => Target::Thing(t),
            None => match (
                path.trim_start_matches('/').starts_with(INVOCATIONS),
                matched.params.get("id"),
            ) {
                (true, Some(id)) => id.parse().map_or(Target::Server, Target::Invocation),
                _ => Target::Server,
            },
        };
        Some((access, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::endpoints;

    #[test]
    fn each_endpoint_needs_what_its_kind_declares() {
        let table = AccessTable::new(&endpoints(std::iter::empty(), false), &["/mcp".to_owned()]);
        let id = Uuid::new_v4();
        let invocation = format!("/action_invocations/{id}");
        let cases = [
            (Method::GET, "/", Some((Access::Public, Target::Server))),
            (Method::POST, "/mcp", Some((Access::Observe, Target::Server))),
            (Method::GET, "/_panel/panel.js", Some((Access::Public, Target::Server))),
            (
                Method::GET,
                "/docs/swagger-ui.css",
                Some((Access::Public, Target::Server)),
            ),
            (Method::GET, "/openapi.json", Some((Access::Public, Target::Server))),
            (Method::HEAD, "/openapi.json", Some((Access::Public, Target::Server))),
            (Method::POST, "/", Some((Access::Operate, Target::Server))),
            (Method::GET, "/things/", Some((Access::Observe, Target::Server))),
            (
                Method::GET,
                &invocation,
                Some((Access::Observe, Target::Invocation(id))),
            ),
            (
                Method::DELETE,
                &invocation,
                Some((Access::Operate, Target::Invocation(id))),
            ),
            (
                Method::GET,
                "/action_invocations/not-an-id",
                Some((Access::Observe, Target::Server)),
            ),
            (Method::GET, "/nowhere", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(table.find(&method, path), expected, "{method} {path}");
        }
    }
}
