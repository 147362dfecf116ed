use labthings::prelude::*;

#[thing]
struct Camera;

#[thing]
impl Camera {
    #[property]
    fn exposure(&self) -> f64 {
        1.0
    }

    #[setter(exposure)]
    fn write_exposure(&self, _value: f64) {}
}

fn main() {}
