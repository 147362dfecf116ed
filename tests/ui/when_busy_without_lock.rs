use labthings::prelude::*;

#[thing]
struct Camera;

#[thing]
impl Camera {
    #[action(when_busy = "reject")]
    fn snap(&self) {}
}

fn main() {}
