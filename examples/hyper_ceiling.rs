//! The ceiling for benchmarks: a bare hyper 1 server that answers every
//! request (e.g. `GET /bench/count`) with the constant JSON `0`. Comparing the
//! `bench` example against it shows what labthings itself costs.
//!
//! ```text
//! cargo run --release --example hyper_ceiling -- --port 5061
//! wrk -t2 -c32 -d10s http://127.0.0.1:5061/bench/count
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use labthings::cli::ServeArgs;
use tokio::net::TcpListener;

async fn constant(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"0")));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_env();
    let listener = TcpListener::bind(args.address()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(constant))
                .await;
        });
    }
}
