use labthings::prelude::*;

#[thing]
struct Camera;

#[thing]
impl Camera {
    #[property]
    fn gain(&self) -> u32 {
        1
    }

    fn set_gain(&self, _value: String) {}
}

fn main() {}
