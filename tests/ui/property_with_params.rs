use labthings::prelude::*;

#[thing]
struct Sensor;

#[thing]
impl Sensor {
    #[property]
    fn reading(&self, channel: u8) -> f64 {
        f64::from(channel)
    }
}

fn main() {}
