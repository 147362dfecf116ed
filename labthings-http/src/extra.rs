//! What a server serves beside the generated routes: a folder of static
//! files (a web app) and routes of the program's own. Both are checked when
//! the server is built, so they can never shadow a generated route.

use std::path::PathBuf;

use axum::Router;
use axum::routing::MethodRouter;
use tower_http::services::ServeDir;

/// Static folders and extra routes, in the order they were added.
#[derive(Default)]
pub(crate) struct Extras {
    /// `(mount, folder)`: the files under the folder at `/{mount}/...`.
    pub(crate) folders: Vec<(String, PathBuf)>,
    /// `(path, route)`: a route of the program's own.
    pub(crate) routes: Vec<(String, MethodRouter)>,
}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extras")
            .field("folders", &self.folders)
            .field("routes", &self.routes.iter().map(|(p, _)| p).collect::<Vec<_>>())
            .finish()
    }
}

impl Extras {
    /// Whether `path` lies in a static folder (served to anyone, like the
    /// control panel: a web app's files hold no data).
    #[cfg(feature = "auth")]
    pub(crate) fn is_static(&self, path: &str) -> bool {
        self.folders.iter().any(|(mount, _)| {
            path == mount
                || path
                    .strip_prefix(mount.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// The first segment of each of the program's own paths.
    #[cfg(feature = "mcp")]
    pub(crate) fn first_segments(&self) -> impl Iterator<Item = &str> {
        self.folders
            .iter()
            .map(|(p, _)| p.as_str())
            .chain(self.routes.iter().map(|(p, _)| p.as_str()))
            .map(|path| path.split('/').nth(1).unwrap_or_default())
    }

    /// Check every path against the generated ones (`things` are the served
    /// names; the server's own first segments come from its endpoint table)
    /// and each other.
    pub(crate) fn check(&self, things: &[&str]) -> Result<(), crate::BuildError> {
        use crate::server::RouteProblem;
        let reserved = crate::binding::reserved_segments();
        let mut seen: Vec<&str> = Vec::new();
        let paths = self
            .folders
            .iter()
            .map(|(p, _)| (p.as_str(), true))
            .chain(self.routes.iter().map(|(p, _)| (p.as_str(), false)));
        for (path, static_folder) in paths {
            let refused = |problem| crate::BuildError::Route {
                path: path.to_owned(),
                static_folder,
                problem,
            };
            if !crate::paths::plain_path(path) {
                return Err(refused(RouteProblem::NotPlain));
            }
            let first = path.split('/').nth(1).unwrap_or_default();
            if things.contains(&first) || reserved.iter().any(|r| r == first) {
                return Err(refused(RouteProblem::Shadows {
                    segment: first.to_owned(),
                }));
            }
            if seen.contains(&path) {
                return Err(refused(RouteProblem::GivenTwice));
            }
            seen.push(path);
        }
        Ok(())
    }

    /// Add the folders and routes to `router`.
    pub(crate) fn mount<S: Clone + Send + Sync + 'static>(&self, mut router: Router<S>) -> Router<S> {
        for (mount, folder) in &self.folders {
            router = router.nest_service(mount, ServeDir::new(folder).append_index_html_on_directories(true));
        }
        for (path, route) in &self.routes {
            router = router.route_service(path, route.clone());
        }
        router
    }
}
