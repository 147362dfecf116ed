use labthings::prelude::*;

#[thing]
struct Camera {
    #[property]
    exposure_ms: f64,
    #[action]
    snap: DataProperty<u32>,
    #[property(lock, read_only)]
    frames: DataProperty<u64>,
    #[stream]
    #[event]
    preview: MjpegStream,
}

fn main() {}
