use labthings::prelude::*;

struct Reading(f64);

#[thing]
struct Sensor;

#[thing]
impl Sensor {
    #[action]
    fn measure(&self) -> Reading {
        Reading(1.0)
    }
}

fn main() {}
