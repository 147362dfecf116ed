use labthings::prelude::*;

#[thing]
struct Laser;

#[thing]
impl Laser {
    #[property]
    fn power(&self) -> f64 {
        0.0
    }

    fn set_power(&self, _value: f64, _ramp_ms: u32) {}
}

fn main() {}
