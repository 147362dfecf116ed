//! Control the mock lab from Rust with its typed clients (the `client`
//! feature): every call is type-checked against the device code.
//!
//! ```text
//! cargo run --release --example mock_lab &                  # the lab, on port 5000
//! cargo run --example drive_mock_lab --features client       # this program
//! ```

#[allow(dead_code, unreachable_pub)]
#[path = "mock_lab.rs"]
mod mock_lab;

use mock_lab::{CameraClient, StageClient};

#[tokio::main]
async fn main() -> Result<(), labthings::client::ClientError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:5000".into());
    let stage = StageClient::connect(&format!("{url}/stage/")).await?;
    let camera = CameraClient::connect(&format!("{url}/camera/")).await?;
    stage.set_step_delay_ms(1).await?;
    let start: [i64; 3] = stage.position().await?;
    let moved = stage.move_relative(100).y(-50).await?; // z keeps its default
    println!("moved from {start:?} to {moved:?}");
    let means: Vec<f64> = camera.acquire().count(3).await?;
    println!("3 frames, mean intensities {means:?}");
    let picture = camera.snap().await?;
    let jpeg = camera.thing().download(&picture).await?;
    println!("a {} picture of {} bytes", picture.media_type, jpeg.len());
    Ok(())
}
