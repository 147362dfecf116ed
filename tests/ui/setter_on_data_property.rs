use labthings::prelude::*;

struct Counter {
    count: DataProperty<i64>,
}

#[thing]
impl Counter {
    #[property]
    fn count(&self) -> &DataProperty<i64> {
        &self.count
    }

    #[setter(count)]
    fn set_count(&self, value: i64) {
        self.count.set(value);
    }
}

fn main() {}
