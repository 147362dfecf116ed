use labthings::prelude::*;

#[thing]
struct Sensor;

#[thing]
impl Sensor {
    #[property(read_only)]
    fn temperature(&self) -> f64 {
        21.5
    }
}

fn main() {}
