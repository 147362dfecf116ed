use labthings::prelude::*;

#[thing]
struct Detector;

#[thing]
impl Detector {
    /// Returns nothing: an endpoint answers bytes.
    #[endpoint]
    fn nothing(&self) {}

    /// An endpoint is answered at once: no cancel hook.
    #[endpoint]
    fn slow(&self, cancel: CancelHook) -> Raw {
        let _ = cancel;
        Raw::text("")
    }

    /// PATCH is not one of the methods.
    #[endpoint(method = "patch")]
    fn patch(&self) -> Raw {
        Raw::text("")
    }

    /// `ws` is the Thing's WebSocket.
    #[endpoint]
    fn ws(&self) -> Raw {
        Raw::text("")
    }
}

fn main() {}
