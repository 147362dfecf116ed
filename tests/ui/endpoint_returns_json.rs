use labthings::prelude::*;

#[thing]
struct Detector;

#[thing]
impl Detector {
    /// A typed value belongs in an action or a property, not an endpoint.
    #[endpoint]
    fn counts(&self) -> Vec<u32> {
        vec![1, 2, 3]
    }
}

fn main() {}
