//! Building, binding and running a server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labthings_core::{ActionManager, ManagerConfig, Thing, ThingInstance};
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::config::ServerConfig;
use crate::routes;
use crate::state::AppState;

/// Paths the server itself uses; no thing may be served under these names.
const RESERVED: [&str; 5] = ["action_invocations", "thing_descriptions", "things", "blob", "docs"];

/// Why a server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two things share a name.
    #[error("two things are served as `{0}`: each needs its own name")]
    DuplicateName(String),
    /// A name cannot be a URL path segment, or is one the server uses.
    #[error("`{0}` cannot name a thing: use letters, digits, `_` or `-`, and none of {RESERVED:?}")]
    BadName(String),
    /// A schema generated for a type did not compile.
    #[error("thing `{name}`: {source}")]
    Schema {
        /// The thing's name.
        name: String,
        /// What was wrong.
        source: labthings_core::validation::SchemaError,
    },
}

/// Collects things and settings; [`build`](Self::build) checks them.
#[derive(Default)]
pub struct ServerBuilder {
    things: Vec<Result<ThingInstance, BuildError>>,
    config: ServerConfig,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Serve `thing` at `/{name}/`.
    pub fn thing<T: Thing>(self, name: &str, thing: T) -> Self {
        self.shared_thing(name, Arc::new(thing))
    }

    /// Serve a thing that other code also holds.
    pub fn shared_thing<T: Thing>(mut self, name: &str, thing: Arc<T>) -> Self {
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !RESERVED.contains(&name);
        let instance = if valid {
            ThingInstance::new(name, thing).map_err(|source| BuildError::Schema {
                name: name.to_owned(),
                source,
            })
        } else {
            Err(BuildError::BadName(name.to_owned()))
        };
        self.things.push(instance);
        self
    }

    /// Use these settings instead of the defaults.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Check the things and assemble the server.
    pub fn build(self) -> Result<Server, BuildError> {
        let mut things: Vec<Arc<ThingInstance>> = Vec::new();
        for thing in self.things {
            let thing = thing?;
            if things.iter().any(|t| t.name() == thing.name()) {
                return Err(BuildError::DuplicateName(thing.name().to_owned()));
            }
            things.push(Arc::new(thing));
        }
        let manager = Arc::new(ActionManager::new(ManagerConfig {
            retention: self.config.retention,
            log_capacity: self.config.log_capacity,
        }));
        Ok(Server {
            state: Arc::new(AppState {
                things,
                manager,
                config: self.config,
            }),
        })
    }
}

/// A labthings HTTP server: the things, their routes and the action manager.
///
/// ```no_run
/// # use labthings_http::Server;
/// # async fn run(server: Server) -> std::io::Result<()> {
/// let listening = server.bind("127.0.0.1:0").await?;
/// println!("listening on {}", listening.url());
/// listening.serve_until(async { /* e.g. a test's end */ }).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Start describing a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The action manager that runs this server's invocations.
    pub fn manager(&self) -> &Arc<ActionManager> {
        &self.state.manager
    }

    /// The served things.
    pub fn things(&self) -> &[Arc<ThingInstance>] {
        &self.state.things
    }

    /// The axum router, for embedding in another application or testing
    /// without a socket.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Bind a TCP listener (`"127.0.0.1:0"` picks a free port).
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<Listening> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Listening { server: self, listener })
    }

    /// Bind `addr`, print `listening on http://HOST:PORT`, and serve until
    /// Ctrl-C or SIGTERM. Sets up logging with
    /// [`init_tracing`](labthings_core::init_tracing) if nothing else has.
    pub async fn run(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        labthings_core::init_tracing();
        let listening = self.bind(addr).await?;
        println!("listening on {}", listening.url());
        listening.serve_until(shutdown_signal()).await
    }
}

/// A server bound to a socket, ready to serve.
#[derive(Debug)]
pub struct Listening {
    server: Server,
    listener: TcpListener,
}

impl Listening {
    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `http://HOST:PORT` of the bound socket.
    pub fn url(&self) -> String {
        match self.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(_) => "http://(unknown address)".to_owned(),
        }
    }

    /// Serve until `shutdown` completes; then stop accepting, cancel running
    /// invocations and give them [`ServerConfig::shutdown_grace`] to finish.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.server.state.clone();
        let expiry = tokio::spawn(expire_periodically(state.manager.clone(), state.config.expiry_interval));
        let app = self.server.router();
        let result = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await;
        expiry.abort();
        let grace = state.config.shutdown_grace;
        let manager = state.manager.clone();
        let _ = tokio::task::spawn_blocking(move || finish_invocations(&manager, grace)).await;
        result
    }
}

async fn expire_periodically(manager: Arc<ActionManager>, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    loop {
        ticks.tick().await;
        manager.expire();
    }
}

/// Cancel every unfinished invocation and wait (bounded) for them to end.
fn finish_invocations(manager: &ActionManager, grace: Duration) {
    let running = manager.cancel_all();
    if running.is_empty() {
        return;
    }
    tracing::info!(count = running.len(), "cancelling running invocations before shutdown");
    let deadline = Instant::now() + grace;
    for invocation in running {
        let left = deadline.saturating_duration_since(Instant::now());
        if !invocation.wait(left).is_finished() {
            tracing::warn!(
                id = %invocation.id(),
                action = invocation.action(),
                "invocation did not stop within the shutdown grace period"
            );
        }
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
