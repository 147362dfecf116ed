use labthings::prelude::*;

/// `on_set` checks what clients write: not on a read-only field, not on a
/// getter (its setter is the place), and it names a method.
#[thing]
#[derive(Default)]
struct Detector {
    /// Read-only: clients never write it.
    #[property(read_only, on_set = "check")]
    gain: DataProperty<f64>,
    /// Not a method name.
    #[property(on_set = "check gain")]
    offset: DataProperty<f64>,
}

#[thing]
impl Detector {
    /// A getter with a setter.
    #[property(on_set = "check")]
    fn exposure(&self) -> f64 {
        1.0
    }

    fn set_exposure(&self, _value: f64) {}
}

fn main() {}
