//! A lab mounted in an axum application of the program's own: the program
//! owns the socket and its routes, the lab serves its things under `/lab/`,
//! and Ctrl-C stops the hardware before the program ends.
//!
//! ```text
//! cargo run --example embed_in_axum                       # http://127.0.0.1:5000/
//! curl -s http://127.0.0.1:5000/                          # the program's own page
//! curl -s -X POST -H 'content-type: application/json' -d '{"on": true}' \
//!     'http://127.0.0.1:5000/lab/lamp/switch?return=output'    # true
//! ```

use labthings::http::axum;
use labthings::prelude::*;
use labthings::{ServerConfig, ThingCatalog};

/// A lamp.
#[thing]
#[derive(Default)]
pub struct Lamp {
    /// Whether it is lit.
    #[property(read_only)]
    pub lit: DataProperty<bool>,
}

#[thing]
impl Lamp {
    /// Switch it on or off; answers whether it is lit.
    #[action]
    fn switch(&self, on: bool) -> bool {
        self.lit.set(on);
        on
    }

    /// The lamp goes dark when the program ends.
    #[on_stop]
    fn off(&self) {
        self.lit.set(false);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    labthings::init_tracing();
    let config = ServerConfig::default().with(|c| c.api_prefix = "/lab".into());
    let server = ThingCatalog::new()
        .thing("lamp", Lamp::default())
        .build(config)
        .map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
    // The things start (their `#[on_start]` hooks) before anything is served.
    let lab = server.start(listener.local_addr()?).await?;
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { "my application; the lab is at /lab/\n" }),
        )
        .merge(lab.router());
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(labthings::http::shutdown_signal())
        .await?;
    // Invocations cancelled, stop hooks run: the lamp is off.
    lab.stop().await
}
