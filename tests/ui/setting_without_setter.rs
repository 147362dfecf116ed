use labthings::prelude::*;

#[thing]
struct Sensor;

#[thing]
impl Sensor {
    #[property(setting)]
    fn offset(&self) -> f64 {
        0.0
    }
}

fn main() {}
