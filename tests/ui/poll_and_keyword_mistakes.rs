use labthings::prelude::*;

#[thing]
#[derive(Default)]
struct Sensor {
    /// A stored value announces its changes itself: polling it is a mistake.
    #[property(poll_ms = 100)]
    stored: DataProperty<f64>,
    /// A pattern must be a string literal.
    #[property(pattern = 5)]
    code: DataProperty<String>,
    /// A keyword given twice.
    #[property(minimum = 0, minimum = 1)]
    level: DataProperty<i64>,
}

#[thing]
impl Sensor {
    /// Polling faster than every 10 ms.
    #[property(poll_ms = 1)]
    fn reading(&self) -> f64 {
        0.0
    }
}

fn main() {}
