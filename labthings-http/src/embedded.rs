//! A server served by a program of its own: its things started, its routes
//! mounted in the program's axum application, its hardware stopped when the
//! program says.

use std::net::SocketAddr;
use std::sync::Arc;

use labthings_core::companion::Running;

use crate::routes;
use crate::server::Server;
use crate::state::AppState;

/// A server whose things have started, for a program that serves HTTP
/// itself (an axum application with routes of its own): mount
/// [`router`](Self::router) in it, and call [`stop`](Self::stop) when the
/// program ends so the hardware is left stopped. Made by [`Server::start`].
///
/// The program's own server owns the connections, so the limits on
/// connections (`max_connections`, per address, header time-outs) are its
/// business; every request still passes the lab's checks of host, origin,
/// credentials and body size. For a server that listens by itself, use
/// [`Server::bind`] or [`Server::listen_on`] instead.
#[must_use = "a started server must be stopped, or its things' stop hooks never run"]
pub struct Started {
    state: Arc<AppState>,
    companions: Vec<(&'static str, Running)>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("things", &self.state.lab.things().len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Run every Thing's `#[on_start]` hook (in the order they were added)
    /// and start what runs beside the routes (invocation expiry, and the
    /// MQTT binding and discovery if configured), for a program that serves
    /// the [`Started::router`] on `local`, the address it listens on (links
    /// are built on it unless `public_base_url` is set). Prints nothing and
    /// installs nothing global.
    ///
    /// If a start hook fails, the things already started are stopped and the
    /// error names the thing. A server made by [`Server::failed`] has nothing
    /// to start: its error is returned.
    ///
    /// ```no_run
    /// # async fn embed(server: labthings_http::Server) -> std::io::Result<()> {
    /// use labthings_http::axum;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
    /// let lab = server.start(listener.local_addr()?).await?;
    /// let app = axum::Router::new()
    ///     .route("/hello", axum::routing::get(|| async { "the program's own route" }))
    ///     .merge(lab.router());
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(labthings_http::shutdown_signal())
    ///     .await?;
    /// lab.stop().await
    /// # }
    /// ```
    pub async fn start(self, local: SocketAddr) -> std::io::Result<Started> {
        if let Some(failure) = self.failed_with() {
            return Err(std::io::Error::other(failure));
        }
        let state = self.state().clone();
        crate::server::open_records(&state).await?;
        state.lab.start_things().await.map_err(std::io::Error::other)?;
        let companions = crate::server::begin_serving(&state, local);
        Ok(Started { state, companions })
    }
}

impl Started {
    /// Every route of the lab (things, invocations, blobs, the control
    /// panel, the API docs), under the configured `api_prefix`, as an axum
    /// router to merge into the program's own. Paths the lab does not serve
    /// answer its JSON 404, so merge the program's routes beside it (axum
    /// tries them first) rather than nest the lab under a path: give it an
    /// `api_prefix` instead, so its links carry the path.
    pub fn router(&self) -> axum::Router {
        let front = crate::front::Front::new(self.state.clone(), routes::router(self.state.clone())).serving_api();
        axum::Router::new().fallback_service(front)
    }

    /// Shut down so that the hardware is left stopped: refuse new
    /// invocations (503), end the pending ones as `cancelled` and cancel the
    /// running ones, end live streams, give running invocations
    /// [`Limits::shutdown_grace`](crate::Limits::shutdown_grace) to finish,
    /// run the `#[on_stop]` hooks in reverse order (each within its share of
    /// the time left) and stop the MQTT binding and discovery. An error
    /// says which stop hook failed, panicked or did not return in time.
    pub async fn stop(self) -> std::io::Result<()> {
        // The program's own server owns the connections: nothing to drain.
        crate::server::wind_down(&self.state, self.companions, |_| async {}).await
    }
}
