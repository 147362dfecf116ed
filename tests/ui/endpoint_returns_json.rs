use labthings::prelude::*;

#[thing]
struct Detector;

#[thing]
impl Detector {
    /// A typed value is answered as `Json<T>`, not bare.
    #[endpoint]
    fn counts(&self) -> Vec<u32> {
        vec![1, 2, 3]
    }
}

fn main() {}
