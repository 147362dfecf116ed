use labthings::prelude::*;

#[thing]
struct Counter {
    count: DataProperty<i64>,
}

#[thing]
impl Counter {
    #[property]
    fn count(&self) -> &DataProperty<i64> {
        &self.count
    }
}

fn main() {}
