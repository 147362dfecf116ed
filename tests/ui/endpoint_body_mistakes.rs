use labthings::prelude::*;

#[thing]
struct Detector;

/// Settings sent as a body.
#[model]
struct Settings {
    gain: u32,
}

#[thing]
impl Detector {
    /// A GET request has no body.
    #[endpoint]
    fn read_back(&self, settings: Json<Settings>) -> Json<u32> {
        Json(settings.gain)
    }

    /// One body per request.
    #[endpoint(method = "post")]
    fn apply(&self, first: Json<Settings>, second: Json<Settings>) -> Raw {
        let _ = (first, second);
        Raw::text("")
    }

    /// The body's type says what it accepts.
    #[endpoint(method = "put")]
    fn replace(&self, #[default(Json(Settings { gain: 1 }))] settings: Json<Settings>) -> Raw {
        let _ = settings;
        Raw::text("")
    }
}

fn main() {}
