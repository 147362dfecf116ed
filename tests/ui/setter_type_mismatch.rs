use labthings::prelude::*;

struct Camera;

#[thing]
impl Camera {
    #[property]
    fn gain(&self) -> u32 {
        1
    }

    #[setter(gain)]
    fn set_gain(&self, _value: String) {}
}

fn main() {}
