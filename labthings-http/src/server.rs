//! Building, binding and running a server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use labthings_core::companion::Running;
use labthings_core::lock::HardwareLock;
use labthings_core::{ActionManager, Lab, LabError, Provides, Thing, ThingInstance};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::connections::accept_loop;
use crate::routes;
use crate::state::AppState;

/// Why a server could not be built: each variant holds what a program may
/// match on, and its message names the configuration key as a
/// configuration file spells it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A name cannot be a URL path segment, or is one the server uses.
    #[error(
        "`{0}` cannot name a thing: use letters, digits, `_` or `-`, and none of the server's own path segments {reserved:?}",
        reserved = crate::binding::reserved_segments()
    )]
    BadName(String),
    /// The things cannot be served together (a name twice, a slot unfilled).
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The configuration asks for a part this program was built without.
    #[error(
        "this program was built without the `{feature}` feature of labthings, so it cannot {cannot}; add it to \
         the `labthings` dependency's features"
    )]
    MissingFeature {
        /// The cargo feature of `labthings` that builds the part in (`tls`, `mqtt`, ...).
        feature: &'static str,
        /// What the program cannot do without it (`serve HTTPS`).
        cannot: &'static str,
    },
    /// The `api_prefix` is not a path of plain segments.
    #[error(
        "api_prefix `{prefix}` is not a path of plain segments: write it like `/lab` or `/api/v2` (letters, digits, \
         `-`, `_`, `.`, `~`; no trailing `/`)"
    )]
    BadPrefix {
        /// The prefix as given.
        prefix: String,
    },
    /// A static folder or route of the program's own cannot be served
    /// beside the generated routes.
    #[error("the {} `{path}` {problem}", if *.static_folder { "static folder" } else { "route" })]
    Route {
        /// The path as given.
        path: String,
        /// Whether it is a static folder (`static_files`) rather than a route.
        static_folder: bool,
        /// What is wrong with it.
        problem: RouteProblem,
    },
    /// A value of the configuration cannot be used (two users with one
    /// token, a certificate that cannot be read, a broker URL that is not
    /// one): `key` names it as a configuration file does (`auth.users`,
    /// `tls`, `remote_blobs[0]`, `mqtt`), `message` says what is wrong.
    #[error("{key}: {message}")]
    Invalid {
        /// The configuration key, as a file spells it.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A schema generated for a type did not compile.
    #[error("thing `{name}`: {source}")]
    Schema {
        /// The thing's name.
        name: String,
        /// What was wrong.
        source: labthings_core::validation::SchemaError,
    },
}

impl BuildError {
    /// The error for the value at `key` of the configuration.
    #[cfg_attr(
        not(any(feature = "auth", feature = "tls", feature = "mqtt", feature = "remote-blobs")),
        allow(dead_code)
    )]
    pub(crate) fn invalid(key: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// What is wrong with a path of the program's own ([`BuildError::Route`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteProblem {
    /// Not `/` followed by plain segments.
    #[error("is not a path of plain segments: start with `/` and use letters, digits, `-`, `_`, `.` or `~`")]
    NotPlain,
    /// Its first segment is a thing's name or one of the server's own.
    #[error("would shadow the server's own `/{segment}`: choose another first segment")]
    Shadows {
        /// The segment it would take.
        segment: String,
    },
    /// The same path is given twice.
    #[error("is given twice")]
    GivenTwice,
}

/// Collects things and settings; [`build`](Self::build) checks them.
#[derive(Default)]
pub struct ServerBuilder {
    things: Vec<Result<ThingInstance, BuildError>>,
    connections: Vec<(String, String, String)>,
    provides: Vec<Provides>,
    /// The names of the things served simulated.
    simulated: Vec<String>,
    config: ServerConfig,
    server_lock: Arc<HardwareLock>,
    extras: crate::extra::Extras,
    companions: crate::companions::Companions,
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
            && !crate::binding::reserved_segments().iter().any(|r| r == name);
        let instance = if valid {
            ThingInstance::new(name, thing, self.server_lock.clone()).map_err(|source| BuildError::Schema {
                name: name.to_owned(),
                source,
            })
        } else {
            Err(BuildError::BadName(name.to_owned()))
        };
        self.things.push(instance);
        self
    }

    /// Serve `thing`, a simulated stand-in for an instrument (no hardware),
    /// at `/{name}/`: as [`thing`](Self::thing), with its TD saying so
    /// (`"lt:simulated": true`), so nobody takes its data for real.
    pub fn simulated_thing<T: Thing>(mut self, name: &str, thing: T) -> Self {
        self.simulated.push(name.to_owned());
        self.thing(name, thing)
    }

    /// Fill `thing`'s slot `slot` with the Thing served as `target` (needed
    /// only when several Things of the slot's type are served).
    pub fn connect(mut self, thing: &str, slot: &str, target: &str) -> Self {
        self.connections
            .push((thing.to_owned(), slot.to_owned(), target.to_owned()));
        self
    }

    /// Let Things of type `T` fill slots of type `U`, a trait they
    /// implement (`ThingSlot<dyn Stage>`), seen as one through `upcast`
    /// (`|thing| thing`: the compiler checks that `T` implements it). Then
    /// an autofocus with a `#[slot] stage: ThingSlot<dyn Stage>` takes
    /// whichever stage is served:
    /// `.provides::<Sangaboard, dyn Stage>(|stage| stage)` (tested in
    /// `tests/trait_slots.rs`).
    pub fn provides<T: Thing, U: ?Sized + Send + Sync + 'static>(self, upcast: fn(Arc<T>) -> Arc<U>) -> Self {
        self.provides_all(&[Provides::new(upcast)])
    }

    /// [`provides`](Self::provides) for declarations already made (a
    /// [`ThingCatalog`](crate::ThingCatalog)'s).
    pub(crate) fn provides_all(mut self, provides: &[Provides]) -> Self {
        self.provides.extend_from_slice(provides);
        self
    }

    /// Serve the files under `folder` at `mount` (e.g. `"/app"`): a web app
    /// beside the generated API. GET and HEAD only, `index.html` for a
    /// folder, nothing outside `folder`; open to anyone, like the control
    /// panel, since a web app's files hold no data (its requests to the API
    /// carry credentials as any client's do). The build fails if `mount`
    /// would shadow a thing or the server's own paths.
    pub fn static_files(mut self, mount: &str, folder: impl Into<std::path::PathBuf>) -> Self {
        self.extras.folders.push((mount.to_owned(), folder.into()));
        self
    }

    /// Serve a route of the program's own at `path` (e.g. `"/status"`),
    /// built with axum (re-exported as `labthings::http::axum`). It passes
    /// the same host and origin checks and needs the same credentials as
    /// the generated routes; the build fails if `path` would shadow a thing
    /// or the server's own paths.
    ///
    /// ```
    /// use labthings_http::{Server, axum::routing::get};
    /// let server = Server::builder().route("/hello", get(|| async { "hello" })).build();
    /// assert!(server.is_ok());
    /// assert!(Server::builder().route("/docs", get(|| async { "" })).build().is_err());
    /// ```
    pub fn route(mut self, path: &str, route: axum::routing::MethodRouter) -> Self {
        self.extras.routes.push((path.to_owned(), route));
        self
    }

    /// Use these settings instead of the defaults.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Run `companion` beside the server: started once the things have
    /// started, stopped after they have stopped, its forms added to every
    /// TD (see [`Companion`](labthings_core::companion::Companion)).
    pub fn companion(mut self, companion: impl labthings_core::companion::Companion) -> Self {
        self.companions.0.push(Arc::new(companion));
        self
    }

    /// Check the things and assemble the server.
    pub fn build(self) -> Result<Server, BuildError> {
        let mut things = self.things.into_iter().collect::<Result<Vec<_>, _>>()?;
        for thing in &mut things {
            thing.add_provides(&self.provides);
            if self.simulated.iter().any(|name| name == thing.name()) {
                thing.set_simulated();
            }
        }
        let lab = Lab::new(
            things,
            &self.connections,
            self.config.settings_dir.as_deref(),
            self.config.invocations.clone(),
        )?
        .with_device(self.config.device.clone())
        .with_approval(self.config.approval.clone());
        let lab = trust_remote_blobs(lab, &self.config.remote_blobs)?;
        check_prefix(&self.config.api_prefix)?;
        let names: Vec<&str> = lab.things().iter().map(|t| t.name()).collect();
        self.extras.check(&names)?;
        let auth = crate::auth::Authenticator::new(&self.config.auth, self.config.auth.sign_in_burst)?;
        #[cfg(feature = "mcp")]
        let mcp = self
            .config
            .mcp
            .clone()
            .map(|config| Arc::new(labthings_mcp::Mcp::new(config)));
        #[cfg(feature = "mcp")]
        let own = match &mcp {
            Some(mcp) => {
                crate::companions::check_mcp_path(&mcp.config().path, &names, &self.extras)?;
                self.companions.with(mcp.clone())
            }
            None => self.companions,
        };
        #[cfg(not(feature = "mcp"))]
        let own = self.companions;
        let companions = crate::companions::configured(&self.config, own)?;
        let tls = match &self.config.tls {
            Some(tls) => Some(crate::state::Tls(crate::tls::acceptor(tls)?)),
            None => None,
        };
        #[cfg(feature = "records")]
        let records = self
            .config
            .records
            .folder(self.config.settings_dir.as_deref())
            .is_some();
        #[cfg(not(feature = "records"))]
        let records = false;
        let endpoints = crate::binding::endpoints(lab.things().iter().map(|t| &**t), records);
        #[cfg(feature = "mcp")]
        let other_paths: Vec<String> = mcp.iter().map(|m| m.config().path.clone()).collect();
        #[cfg(not(feature = "mcp"))]
        let other_paths: Vec<String> = Vec::new();
        Ok(Server {
            failed: None,
            state: Arc::new(AppState {
                access: crate::access::AccessTable::new(&endpoints, &other_paths),
                endpoints,
                auth,
                tls,
                lab,
                connections: Arc::new(Semaphore::new(self.config.limits.max_connections.max(1))),
                allowed: crate::guard::Allowed::new(&self.config),
                config: self.config,
                closing: CancellationToken::new(),
                extras: self.extras,
                companions,
                #[cfg(feature = "mcp")]
                mcp,
                documents: crate::state::Documents::default(),
                #[cfg(feature = "records")]
                exports: crate::routes::records::Exports::default(),
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
    /// Why the server could not be made (a configuration or a thing that
    /// could not be built): served as the fallback page instead.
    failed: Option<String>,
}

impl Server {
    /// Start describing a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A server with no things that answers every request 503 with
    /// `failure` (a page for browsers): for a program asked for the
    /// [`fallback`](ServerConfig::fallback) whose configuration or things
    /// could not be built, so a headless instrument says what is wrong
    /// where someone will look. `config` says where and how to listen.
    pub fn failed(config: ServerConfig, failure: impl Into<String>) -> Result<Self, BuildError> {
        let mut server = Server::builder().config(config).build()?;
        server.failed = Some(failure.into());
        Ok(server)
    }

    /// Why the server could not be made, when it only serves the fallback page.
    pub(crate) fn failed_with(&self) -> Option<String> {
        self.failed.clone()
    }

    /// The server's shared state.
    pub(crate) fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The action manager that runs this server's invocations.
    pub fn manager(&self) -> &Arc<ActionManager> {
        self.state.lab.manager()
    }

    /// The served things.
    pub fn things(&self) -> &[Arc<ThingInstance>] {
        self.state.lab.things()
    }

    /// The axum router, for embedding in another application or testing
    /// without a socket.
    pub fn router(&self) -> axum::Router {
        let front = crate::front::Front::new(self.state.clone(), routes::router(self.state.clone())).serving_api();
        axum::Router::new().fallback_service(front)
    }

    /// Bind a TCP listener (`"127.0.0.1:0"` picks a free port).
    ///
    /// An address other than loopback (`0.0.0.0`, a LAN address) is refused
    /// when no users are configured, unless the configuration says
    /// [`insecure`](crate::Security::insecure): anyone on the network could
    /// otherwise drive the instrument. The error says how to add a user.
    ///
    /// When the address cannot be had (already in use, not an address of
    /// this computer, a port that needs privileges), the error names the
    /// address and what to do about it.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<Listening> {
        self.listen_on(bind_listener(addr).await?)
    }

    /// Serve on a listener the program made itself (as axum's
    /// `serve(listener, app)`), with the same check as [`bind`](Self::bind)
    /// of who may reach it. Nothing is printed and nothing global is set
    /// up: the program logs and stops as it likes, through
    /// [`Listening::serve_until`].
    ///
    /// ```no_run
    /// # async fn serve(server: labthings_http::Server) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let listening = server.listen_on(listener)?;
    /// eprintln!("serving on {}", listening.url());
    /// listening.serve_until(async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    pub fn listen_on(self, listener: TcpListener) -> std::io::Result<Listening> {
        let local = listener.local_addr()?;
        let config = &self.state.config;
        if !local.ip().is_loopback() && !config.auth.enabled() && !config.security.insecure {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "refusing to serve on {local} without credentials: anyone who can reach this address could \
                     drive the instrument. Add a user (a `[[auth.users]]` table in the configuration file, \
                     e.g. with `token_env = \"LABTHINGS_TOKEN\"`; `--new-token` makes a token), or listen on \
                     127.0.0.1, or, on a network where everyone may operate the instrument, pass `--insecure` \
                     (`insecure = true` in `[security]`)"
                ),
            ));
        }
        if !local.ip().is_loopback() && config.auth.enabled() && config.tls.is_none() {
            tracing::warn!(
                "serving on {local} over plain HTTP: passwords and tokens cross the network readable; \
                 configure [tls] or a reverse proxy that terminates TLS"
            );
        }
        Ok(Listening { server: self, listener })
    }

    /// What stops the hardware at once, without the orderly shutdown: for
    /// a program that exits on a second Ctrl-C (`labthings::cli::run`).
    pub fn stop_now_handle(&self) -> StopNow {
        StopNow {
            state: self.state.clone(),
        }
    }
}

/// Stops a server's hardware at once ([`Server::stop_now_handle`]).
#[derive(Clone)]
pub struct StopNow {
    state: Arc<AppState>,
}

impl std::fmt::Debug for StopNow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopNow").finish_non_exhaustive()
    }
}

impl StopNow {
    /// Refuse new invocations, cancel the running ones and run the stop
    /// hooks that have not run, on a thread of their own, waiting at most
    /// `within` for them; whether they finished. For a program about to
    /// exit without the orderly shutdown of [`Listening::serve_until`].
    pub fn stop_now(&self, within: Duration) -> bool {
        let (done, stopped) = std::sync::mpsc::channel();
        let state = self.state.clone();
        let _ = std::thread::Builder::new()
            .name("labthings-stop".to_owned())
            .spawn(move || {
                state.lab.manager().close();
                state.lab.stop();
                let _ = done.send(());
            });
        stopped.recv_timeout(within).is_ok()
    }
}

impl Listening {
    /// Answer every request with `failure` (503) until `shutdown`.
    async fn serve_fallback(
        self,
        failure: String,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.server.state.clone();
        let stop_accepting = CancellationToken::new();
        let accepting = spawn_accepting(
            self.listener,
            crate::front::Front::new(state.clone(), routes::fallback(&failure, &state)),
            &state,
            &stop_accepting,
        );
        shutdown.await;
        state.closing.cancel();
        stop_accepting.cancel();
        if let Ok(mut open) = accepting.await {
            open.abort_all();
        }
        Ok(())
    }
}

/// An `api_prefix` is empty or `/` and plain path segments, without a
/// trailing `/`.
/// `lab`, trusting the blobs of the servers `sources` names.
fn trust_remote_blobs(lab: Lab, sources: &[crate::RemoteBlobSource]) -> Result<Lab, BuildError> {
    if sources.is_empty() {
        return Ok(lab);
    }
    #[cfg(feature = "remote-blobs")]
    {
        let trusted = crate::remote_blobs::TrustedServers::new(sources)?;
        Ok(lab.with_remote_blobs(Arc::new(trusted)))
    }
    #[cfg(not(feature = "remote-blobs"))]
    {
        let _ = lab;
        Err(BuildError::MissingFeature {
            feature: "remote-blobs",
            cannot: "fetch blobs from other servers",
        })
    }
}

fn check_prefix(prefix: &str) -> Result<(), BuildError> {
    if prefix.is_empty() || crate::paths::plain_path(prefix) {
        Ok(())
    } else {
        Err(BuildError::BadPrefix {
            prefix: prefix.to_owned(),
        })
    }
}

/// Accept connections on `listener` for `app` until `stop`, with the
/// server's limits, TLS and shutdown; the task ends with the connections
/// still open.
fn spawn_accepting(
    listener: TcpListener,
    app: crate::front::Front,
    state: &Arc<AppState>,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<tokio::task::JoinSet<()>> {
    let (state, stop) = (state.clone(), stop.clone());
    tokio::spawn(async move {
        accept_loop(
            listener,
            app,
            state.tls.clone().map(|tls| tls.0),
            &state.config,
            state.connections.clone(),
            state.closing.clone(),
            stop,
        )
        .await
    })
}

/// Bind the first of `addr`'s addresses that can be bound; an error names
/// the address and says what to do.
async fn bind_listener(addr: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot resolve the address to listen on: {e}")))?
        .collect();
    let mut last = None;
    for address in &addresses {
        match TcpListener::bind(address).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some((*address, e)),
        }
    }
    Err(match last {
        Some((address, e)) => explain_bind_error(address, e),
        None => std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on"),
    })
}

/// The bind error `e` for `address`, with the address and the usual fix.
fn explain_bind_error(address: SocketAddr, e: std::io::Error) -> std::io::Error {
    let advice = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program (perhaps another labthings server) is listening on port {}: stop it, or choose \
             another port with `--port N` (`--port 0` picks a free one)",
            address.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this computer: use 127.0.0.1 (this computer only), 0.0.0.0 (every \
             interface) or one of this computer's own addresses with `--host`",
            address.ip()
        ),
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need administrator rights: choose a port above 1024 with `--port N`".to_owned()
        }
        _ => "check `--host` and `--port`".to_owned(),
    };
    std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}; {advice}"))
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

    /// `http://HOST:PORT` (`https://` with TLS) of the bound socket.
    pub fn url(&self) -> String {
        let scheme = self.server.state.scheme();
        match self.local_addr() {
            Ok(addr) => format!("{scheme}://{addr}"),
            Err(_) => format!("{scheme}://(unknown address)"),
        }
    }

    /// Run every Thing's `#[on_start]` hook (in the order they were added),
    /// serve until `shutdown` completes, then shut down so that the hardware
    /// is left stopped:
    ///
    /// 1. refuse new invocations (503) and new connections (503);
    /// 2. end every pending invocation as `cancelled` (none can take a
    ///    hardware lock from now on), then cancel the running ones;
    /// 3. end live streams (SSE, MJPEG, WebSocket) and close connections once
    ///    the request in hand is answered;
    /// 4. give running invocations [`Limits::shutdown_grace`](crate::Limits::shutdown_grace) to finish
    ///    (connections still open then are dropped);
    /// 5. run the `#[on_stop]` hooks in reverse order.
    ///
    /// If a start hook fails, the Things already started are stopped and the
    /// error names the Thing and what went wrong; nothing is served, unless
    /// the configuration asks for the [`fallback`](ServerConfig::fallback):
    /// then every request answers 503 with that error (a page for browsers)
    /// until `shutdown`.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        self.serve_until_ready(shutdown, || {}).await
    }

    /// [`serve_until`](Self::serve_until), calling `ready` once every thing
    /// has started, before the first connection is accepted (or, with the
    /// fallback page, once that is served): the moment to tell a supervisor
    /// or a waiting script that the lab can be used.
    pub async fn serve_until_ready(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        ready: impl FnOnce(),
    ) -> std::io::Result<()> {
        let state = self.server.state.clone();
        if let Some(failure) = self.server.failed.clone() {
            tracing::error!("serving the fallback page: {failure}");
            ready();
            return self.serve_fallback(failure, shutdown).await;
        }
        // Watched from the start: a stop signal while a thing is starting
        // (a hung `on_start`) stops the things already started.
        let mut shutdown = tokio::spawn(shutdown);
        open_records(&state).await?;
        let started = tokio::select! {
            started = state.lab.start_things() => started,
            _ = &mut shutdown => {
                tracing::warn!("stopped while the things were starting");
                let within = state.config.limits.shutdown_grace + STOP_MARGIN;
                return state.lab.stop_things(within).await.map_err(stop_failed);
            }
        };
        if let Err(failure) = started {
            if !state.config.fallback {
                return Err(std::io::Error::other(failure));
            }
            tracing::error!("serving the fallback page: {failure}");
            ready();
            return self
                .serve_fallback(failure, async move {
                    let _ = shutdown.await;
                })
                .await;
        }
        let companions = begin_serving(&state, self.local_addr()?);
        let stop_accepting = CancellationToken::new();
        let app = crate::front::Front::new(state.clone(), routes::router(state.clone())).serving_api();
        ready();
        let accepting = spawn_accepting(self.listener, app, &state, &stop_accepting);
        let _ = shutdown.await;
        // The accept loop keeps answering new connections 503 until the end.
        let draining = state.clone();
        let connections = |deadline| async move {
            let state = draining;
            let open = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                state
                    .connections
                    .clone()
                    .acquire_many_owned(state.config.limits.max_connections.max(1) as u32)
                    .await
            };
            if tokio::time::timeout_at(deadline, open).await.is_err() {
                tracing::warn!("connections still open after the shutdown grace period are closed");
            }
        };
        let stopped = wind_down(&state, companions, connections).await;
        stop_accepting.cancel();
        if let Ok(mut open) = accepting.await {
            open.abort_all();
        }
        stopped
    }
}

/// Open the record store `[records]` names, if any, and record the lab's
/// invocations in it: when the server starts serving (not when it is
/// built, so a server only built, as in a test, touches no disk). A store
/// that cannot be opened (another server has the folder) stops the start,
/// saying why.
pub(crate) async fn open_records(state: &Arc<AppState>) -> std::io::Result<()> {
    #[cfg(feature = "records")]
    {
        let config = &state.config;
        let Some(folder) = config.records.folder(config.settings_dir.as_deref()) else {
            return Ok(());
        };
        if state.lab.manager().store().is_some() {
            return Ok(());
        }
        let records = config.records.clone();
        let opening = folder.clone();
        let store = tokio::task::spawn_blocking(move || labthings_store::Store::open(&opening, &records))
            .await
            .map_err(std::io::Error::other)?
            .map_err(|e| {
                std::io::Error::other(format!(
                    "the record of invocations in {} cannot be opened: {e}; fix it, or set `[records] enabled = false`",
                    folder.display()
                ))
            })?;
        let opened = store.opened();
        tracing::info!(
            "invocations are recorded in {} ({} records; {} ended by the restart; opened in {:.0?})",
            folder.display(),
            opened.records,
            opened.ended_by_restart,
            opened.took,
        );
        state.lab.manager().set_store(Arc::new(store));
    }
    #[cfg(not(feature = "records"))]
    let _ = state;
    Ok(())
}

/// Once every thing has started, for a server reachable at `local`: the
/// settings warnings logged where the operator sees them, and the
/// companions (invocation expiry, MQTT, discovery) started, with links built
/// on `public_base_url` or on `local`. Shared by [`Listening::serve_until`]
/// and [`Server::start`].
pub(crate) fn begin_serving(state: &Arc<AppState>, local: SocketAddr) -> Vec<(&'static str, Running)> {
    for thing in state.lab.things() {
        for warning in thing.settings_warnings() {
            tracing::warn!("{warning}");
        }
    }
    let base = state
        .config
        .security
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("{}://{local}{}/", state.scheme(), state.config.api_prefix));
    crate::companions::start(state, local, base)
}

/// The orderly shutdown, once told to stop: new invocations refused, the
/// pending ones ended and the running ones cancelled and given the grace
/// period, live streams ended; `drain(deadline)` awaited meanwhile (the
/// connections, for a server that owns them); then every stop hook, each
/// within its share of what is left of grace + the margin, whatever device
/// code is stuck, and the companions stopped. Shared by
/// [`Listening::serve_until`] and [`Started::stop`](crate::Started::stop).
pub(crate) async fn wind_down<D: Future<Output = ()>>(
    state: &Arc<AppState>,
    companions: Vec<(&'static str, Running)>,
    drain: impl FnOnce(tokio::time::Instant) -> D,
) -> std::io::Result<()> {
    let grace = state.config.limits.shutdown_grace;
    let begun = tokio::time::Instant::now();
    let stopping = state.clone();
    let invocations = tokio::task::spawn_blocking(move || stopping.lab.finish_invocations(grace));
    state.closing.cancel();
    drain(begun + grace).await;
    let _ = invocations.await;
    // The hardware first.
    let hooks_within = (begun + grace + STOP_MARGIN)
        .saturating_duration_since(tokio::time::Instant::now())
        .max(Duration::from_millis(200));
    let stopped = state.lab.stop_things(hooks_within).await;
    crate::companions::stop(companions).await;
    if let Some(store) = state.lab.manager().store().cloned() {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
    stopped.map_err(stop_failed)
}

/// What shutdown may take beyond the grace period: the stop hooks' time
/// when invocations used all of it (the process exits within grace + 1 s).
const STOP_MARGIN: Duration = Duration::from_millis(800);

/// The error `serve_until` ends with when a stop hook failed, panicked or
/// hung, so a supervisor sees a non-zero exit status.
fn stop_failed(failures: String) -> std::io::Error {
    std::io::Error::other(format!("stopped, but not cleanly: {failures}"))
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
