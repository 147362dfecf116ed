use labthings::prelude::*;

struct Camera;

#[thing]
impl Camera {
    #[property]
    fn exposure(&self) -> f64 {
        1.0
    }

    #[setter(exposur)]
    fn set_exposure(&self, _value: f64) {}
}

fn main() {}
