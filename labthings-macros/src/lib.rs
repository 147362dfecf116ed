//! The attribute macros of [labthings](https://crates.io/crates/labthings).
//! Use them through the `labthings` facade: `use labthings::prelude::*;`.
//!
//! `#[thing]` goes on a device's struct and on its inherent `impl` block.
//! On the struct's fields, `#[property]` marks a `DataProperty<T>`,
//! `#[slot]` a `ThingSlot<T>`, `#[stream]` an `MjpegStream` and `#[event]`
//! an `Event<T>`; the struct's doc comment is the Thing's title and
//! description. In the impl block, `#[property]` marks a getter (a method
//! `set_{getter}` is its setter), `#[action]` a method run as a tracked
//! invocation, `#[endpoint]` an extra resource answering bytes or typed
//! JSON, and
//! `#[on_start]`/`#[on_stop]` the lifecycle hooks. Actions, getters, setters
//! and hooks may be `async fn` (run on the server's tokio runtime); an
//! action's `&InvocationHandle<T>` parameter declares the type `T` of its
//! intermediate results. For each action it
//! generates an input struct named `{Type}{Action}Input` (e.g.
//! `StageMoveRelativeInput`), for each endpoint a parameter struct
//! `{Type}{Endpoint}Params`, with the method's visibility.
//!
//! The crate is three steps: `parse` reads the syntax into the `model`
//! (with `attr` reading the attributes from one table of roles, and
//! `check` finding mistakes), then `expand` emits code. Every path into the
//! runtime comes from one `context::Ctx`.

mod attr;
mod check;
mod context;
mod expand;
mod model;
mod parse;
#[cfg(test)]
mod snapshot_tests;

use proc_macro::TokenStream;

/// Serve a struct and its impl block as a Web of Things Thing: put it on
/// both.
///
/// On the struct, its doc comment becomes the Thing's title (first line)
/// and description, and its fields may carry `#[property]`
/// (`DataProperty<T>`), `#[slot]` (`ThingSlot<T>`, `OptionalSlot<T>`,
/// `ThingSlots<T>`), `#[stream]` (`MjpegStream`) and `#[event]`
/// (`Event<T>`); other fields are the device's own. On the inherent `impl`
/// block, methods may carry `#[property]` (a getter; `set_{name}` is its
/// setter), `#[action]`, `#[endpoint]`, `#[on_start]` and `#[on_stop]`.
/// `#[thing]` takes no options.
///
/// It generates, for each action, an input struct `{Type}{Action}Input`
/// (for each endpoint `{Type}{Endpoint}Params`) with the method's
/// visibility, the JSON Schema of every value, and the descriptor table the
/// server, the MQTT binding and `labthings::testing` serve it from. Every
/// mistake is a compile error naming it (`tests/ui/` in the repository
/// records each message).
///
/// ```
/// use labthings::prelude::*;
/// use labthings::testing::TestLab;
///
/// /// A lamp.
/// ///
/// /// On a bench, behind a relay.
/// #[thing]
/// #[derive(Default)]
/// pub struct Lamp {
///     /// Whether it is on.
///     #[property]
///     pub on: DataProperty<bool>,
/// }
///
/// #[thing]
/// impl Lamp {
///     /// Switch it on for `seconds`, then off.
///     #[action]
///     fn flash(&self, #[param(maximum = 10.0, unit = "s")] seconds: f64) -> Result<(), Cancelled> {
///         self.on.set(true);
///         let slept = CancelHook::current().sleep(Duration::from_secs_f64(seconds));
///         self.on.set(false);
///         slept
///     }
/// }
///
/// let input = LampFlashInput { seconds: 0.01 };
/// let lab = TestLab::builder().thing("lamp", Lamp::default()).build().expect("a lab");
/// let done = lab.call("lamp", "flash", serde_json::to_value(&input).expect("JSON"));
/// assert!(done.error.is_none(), "{done:?}");
/// assert_eq!(lab.read("lamp", "on").expect("read"), serde_json::json!(false));
/// // The parameter's bound is checked before the method runs.
/// assert!(lab.call("lamp", "flash", serde_json::json!({"seconds": 60})).error.is_some());
/// ```
#[proc_macro_attribute]
pub fn thing(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}

/// Make a type a value clients can be sent and send: derive serde's
/// `Serialize` and `Deserialize` and schemars' `JsonSchema` for it through
/// labthings, so the device crate needs neither serde nor schemars as a
/// dependency. Put it above any `#[derive(..)]`; serde's and schemars'
/// attributes keep working on the type and its fields (doc comments become
/// schema descriptions). No options.
///
/// ```
/// use labthings::prelude::*;
///
/// /// Where a stage is.
/// #[model]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Position {
///     /// Steps along x.
///     pub x: i64,
///     /// Steps along y.
///     #[schemars(range(min = -1000, max = 1000))]
///     pub y: i64,
/// }
///
/// let json = labthings::serde_json::to_value(Position { x: 1, y: 2 }).expect("JSON");
/// assert_eq!(json, labthings::serde_json::json!({"x": 1, "y": 2}));
/// let schema = labthings::schemars::schema_for!(Position);
/// assert_eq!(schema.get("title").and_then(|t| t.as_str()), Some("Position"));
/// ```
#[proc_macro_attribute]
pub fn model(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand_model(args.into(), item.into()).into()
}

/// A property of a `#[thing]`: a `DataProperty<T>` field (a stored value
/// that clients and device code read and write, observable), or a getter
/// method (`fn name(&self) -> T`, optionally with a setter
/// `fn set_name(&self, value: T)`, either may return `Result<_, E>` or be
/// `async`). The doc comment is its title and description.
///
/// Options, each optional:
///
/// | option | meaning |
/// | --- | --- |
/// | `name = ".."` | the affordance's name (default: the field's or method's) |
/// | `read_only` | clients may not write it (device code still may) |
/// | `setting` | a data property saved to disk on every change and restored at start |
/// | `state` | part of the Thing's state, recorded with each invocation as metadata |
/// | `lock`, `lock = "server"` | writes need the Thing's (or the server's) hardware lock: refused (409) while an action holds it |
/// | `poll_ms = N` | a getter read every N ms while observed, so clients can observe it |
/// | `on_set = "method"` | a data property's check of each value a client writes: `fn method(&self, v: T) -> Result<T, BadRequest>` refuses it (422) or returns the value to store |
/// | `minimum`, `maximum`, `exclusive_minimum`, `exclusive_maximum`, `multiple_of`, `min_length`, `max_length`, `pattern`, `unit = ".."` | JSON Schema keywords of the value: written into the TD and checked before any write reaches device code |
///
/// ```
/// use labthings::prelude::*;
/// use labthings::testing::TestLab;
///
/// /// A heater.
/// #[thing]
/// #[derive(Default)]
/// pub struct Heater {
///     /// Target temperature.
///     #[property(setting, minimum = 0.0, maximum = 80.0, unit = "degC")]
///     pub target: DataProperty<f64>,
/// }
///
/// #[thing]
/// impl Heater {
///     /// The sensor's reading, polled for observers every second.
///     #[property(poll_ms = 1000, unit = "degC")]
///     fn temperature(&self) -> f64 {
///         21.5
///     }
/// }
///
/// let lab = TestLab::builder().thing("heater", Heater::default()).build().expect("a lab");
/// lab.write("heater", "target", serde_json::json!(37.0)).expect("within range");
/// assert!(lab.write("heater", "target", serde_json::json!(120.0)).is_err(), "above the maximum");
/// assert_eq!(lab.read("heater", "temperature").expect("read"), serde_json::json!(21.5));
/// ```
#[proc_macro_attribute]
pub fn property(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("property", item)
}

/// An action of a `#[thing]`: a method that clients invoke, run as a
/// tracked invocation on its own thread (or as a task, for an `async fn`)
/// with a status, a log (records from `tracing` or `log`), cancellation,
/// an output and an expiry. Its parameters become the fields of the input
/// struct `{Type}{Action}Input` (each may carry `#[param(..)]` and
/// `#[default(value)]`); a `CancelHook` parameter (or
/// `CancelHook::current()`) lets it stop when cancelled, and an
/// `&InvocationHandle<T>` parameter reports progress and intermediate
/// results of type `T`. It returns a value, `()`, a `Blob`, or a
/// `Result` of those (`Err(Cancelled)` ends it as cancelled, `BadRequest`
/// as the client's mistake, `Busy` as a 409, any other error as a device
/// failure).
///
/// Options, each optional:
///
/// | option | meaning |
/// | --- | --- |
/// | `name = ".."` | the affordance's name (default: the method's) |
/// | `lock`, `lock = "server"`, `lock = "none"` | hold the Thing's (or the server's) hardware lock while it runs, or none whatever the default |
/// | `when_busy = "reject"` | with a lock: answer 409 at once instead of waiting for it |
/// | `retention_secs = N` | keep its finished invocations N s (default: the server's `retention_s`) |
/// | `log_level = "debug"` | the least severe records its log keeps (default `info`) |
/// | `approval` | a call by an agent (the MCP binding), or by a caller the server's `[approval]` rules name, waits `pending` until an operator other than the caller approves it |
///
/// ```
/// use labthings::prelude::*;
/// use labthings::testing::TestLab;
///
/// /// A stage.
/// #[thing]
/// #[derive(Default)]
/// pub struct Stage {
///     /// Where it is.
///     #[property(read_only)]
///     pub x: DataProperty<i64>,
/// }
///
/// #[thing]
/// impl Stage {
///     /// Move by `dx` steps, one at a time; stops when cancelled.
///     #[action(lock)]
///     fn move_by(&self, #[param(minimum = -1000, maximum = 1000)] dx: i64, cancel: CancelHook) -> Result<i64, Cancelled> {
///         for _ in 0..dx.unsigned_abs() {
///             cancel.check()?;
///             self.x.update(|x| *x += dx.signum());
///         }
///         tracing::info!("moved {dx} steps");
///         Ok(self.x.get())
///     }
/// }
///
/// let lab = TestLab::builder().thing("stage", Stage::default()).build().expect("a lab");
/// let done = lab.call("stage", "move_by", serde_json::json!({"dx": 3}));
/// assert_eq!(done.output, Some(serde_json::json!(3)));
/// assert_eq!(done.log.len(), 1);
/// ```
#[proc_macro_attribute]
pub fn action(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("action", item)
}

/// An extra resource of a `#[thing]`, answered at once rather than run as
/// an invocation: a raw download, a small HTML page, a quick computation.
/// It returns `Raw` (bytes with their media type) or `Json<T>` (a typed
/// value, sent as `application/json`), or a `Result` of either; its
/// parameters come from the query string (`#[param]` and `#[default]` work
/// as on actions), and one `Json<T>` parameter is the JSON request body
/// (not on GET). It is not in the TD's affordances (a GET endpoint is a
/// link); the OpenAPI document describes its parameters, body and answer.
/// It cannot be `async` or take a `CancelHook`.
///
/// Options: `name = ".."` (default: the method's name) and
/// `method = "get" | "post" | "put" | "delete"` (default `get`; the others
/// need the `operate` role).
///
/// ```
/// use labthings::prelude::*;
///
/// /// A camera.
/// #[thing]
/// #[derive(Default)]
/// pub struct Camera;
///
/// /// A region of the frame.
/// #[model]
/// pub struct Region {
///     /// Its width in pixels.
///     pub width: u32,
///     /// Its height in pixels.
///     pub height: u32,
/// }
///
/// #[thing]
/// impl Camera {
///     /// A one-line page.
///     #[endpoint]
///     fn status(&self) -> Raw {
///         Raw::html("<p>idle</p>")
///     }
///
///     /// How many pixels a region holds.
///     #[endpoint(method = "post")]
///     fn pixels(&self, region: Json<Region>) -> Json<u64> {
///         Json(u64::from(region.width) * u64::from(region.height))
///     }
/// }
/// # let _ = Camera;
/// ```
#[proc_macro_attribute]
pub fn endpoint(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("endpoint", item)
}

/// A method of a `#[thing]` run when the server starts, before it accepts
/// requests (after the Things its slots hold have started): open the serial
/// port, home the stage. `fn start(&self)` returning nothing or
/// `Result<(), E>` (an error stops the server, naming the Thing, unless
/// `--fallback`), optionally `async`; at most one per Thing. See
/// `#[on_stop]` for an example.
#[proc_macro_attribute]
pub fn on_start(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("on_start", item)
}

/// A method of a `#[thing]` run when the server stops (Ctrl-C, SIGTERM),
/// after running invocations were cancelled and given their grace period,
/// before the Things its slots hold stop: stop the motors, close the port.
/// `fn stop(&self)` returning nothing or `Result<(), E>`, optionally
/// `async`; at most one per Thing. A hook that hangs is left behind after
/// its share of the shutdown time, and the next one runs.
///
/// ```
/// use labthings::prelude::*;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// /// A pump.
/// #[thing]
/// #[derive(Default)]
/// pub struct Pump {
///     running: AtomicBool,
/// }
///
/// #[thing]
/// impl Pump {
///     #[on_start]
///     fn prime(&self) -> Result<(), std::io::Error> {
///         self.running.store(true, Ordering::SeqCst);
///         Ok(())
///     }
///
///     #[on_stop]
///     fn halt(&self) {
///         self.running.store(false, Ordering::SeqCst);
///     }
/// }
///
/// // Building a test lab runs the start hooks, as a server starting does.
/// let lab = labthings::testing::TestLab::builder().thing("pump", Pump::default()).build().expect("a lab");
/// assert!(lab.get::<Pump>("pump").expect("the pump").running.load(Ordering::SeqCst));
/// lab.lab().stop();
/// assert!(!lab.get::<Pump>("pump").expect("the pump").running.load(Ordering::SeqCst));
/// ```
#[proc_macro_attribute]
pub fn on_stop(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("on_stop", item)
}

/// A field of a `#[thing]` struct holding another Thing it uses: a
/// `ThingSlot<T>` (exactly one), `OptionalSlot<T>` (zero or one) or
/// `ThingSlots<T>` (any number). `T` is a Thing type, or a trait
/// (`ThingSlot<dyn FocusStage>`) that the server is told which Thing types
/// implement (`.provides::<Stage, dyn FocusStage>(|s| s)`). The server
/// fills it when it is built (from the configuration's `connect`, or the
/// one Thing that fits), refuses to build when it cannot, and starts the
/// held Thing first. Option: `default = "name"`, the Thing to use when
/// several fit.
///
/// ```
/// use labthings::prelude::*;
/// use labthings::testing::TestLab;
///
/// /// A light.
/// #[thing]
/// #[derive(Default)]
/// pub struct Light {
///     /// Brightness, 0 to 1.
///     #[property]
///     pub level: DataProperty<f64>,
/// }
///
/// #[thing]
/// impl Light {}
///
/// /// Dims the light.
/// #[thing]
/// #[derive(Default)]
/// pub struct Dimmer {
///     #[slot]
///     light: ThingSlot<Light>,
/// }
///
/// #[thing]
/// impl Dimmer {
///     /// Halve the light's level.
///     #[action]
///     fn dim(&self) -> f64 {
///         let light = self.light.get();
///         light.level.update(|level| *level /= 2.0);
///         light.level.get()
///     }
/// }
///
/// let lab = TestLab::builder()
///     .thing("light", Light::default())
///     .thing("dimmer", Dimmer::default())
///     .build()
///     .expect("the slot is filled");
/// lab.write("light", "level", serde_json::json!(0.8)).expect("write");
/// assert_eq!(lab.call("dimmer", "dim", serde_json::json!({})).output, Some(serde_json::json!(0.4)));
/// ```
#[proc_macro_attribute]
pub fn slot(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("slot", item)
}

/// An `MjpegStream` field of a `#[thing]` struct: a live camera stream
/// served at `/{thing}/{name}` as `multipart/x-mixed-replace` (open it in
/// a browser's `<img>`). Device code calls `stream.push(jpeg_bytes)`; each
/// viewer gets the newest frame when it is ready for one, so a slow viewer
/// skips frames and never holds memory. The TD links it; the doc comment
/// is its title. No options.
///
/// ```
/// use labthings::prelude::*;
///
/// /// A camera.
/// #[thing]
/// #[derive(Default)]
/// pub struct Camera {
///     /// The live preview.
///     #[stream]
///     preview: MjpegStream,
/// }
///
/// #[thing]
/// impl Camera {}
///
/// let camera = Camera::default();
/// // A JPEG (start and end markers); anything else is refused.
/// assert!(camera.preview.push(vec![0xFF, 0xD8, 0xFF, 0xD9]).is_ok());
/// assert!(camera.preview.push(b"not a JPEG".to_vec()).is_err());
/// ```
#[proc_macro_attribute]
pub fn stream(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("stream", item)
}

/// An `Event<T>` field of a `#[thing]` struct: device code calls
/// `event.emit(value)` and every subscriber (WebSocket, SSE, MQTT) is sent
/// it; the TD describes it with `T`'s schema and the doc comment. No
/// options.
///
/// ```
/// use labthings::prelude::*;
///
/// /// A door sensor.
/// #[thing]
/// #[derive(Default)]
/// pub struct Door {
///     /// The door opened (true) or closed (false).
///     #[event]
///     changed: Event<bool>,
/// }
///
/// #[thing]
/// impl Door {}
///
/// Door::default().changed.emit(&true);
/// ```
#[proc_macro_attribute]
pub fn event(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("event", item)
}

/// Schema options of one parameter of an `#[action]` or `#[endpoint]`:
/// `minimum`, `maximum`, `exclusive_minimum`, `exclusive_maximum`,
/// `multiple_of`, `min_length`, `max_length`, `pattern`, `unit = ".."`
/// and `description = ".."` (parameters have no doc comments). They are
/// written into the TD and OpenAPI document, and a value outside them is
/// refused (422, naming the parameter) before device code runs. Beside
/// it, `#[default(expr)]` makes the parameter optional with that value.
///
/// ```
/// use labthings::prelude::*;
/// use labthings::testing::TestLab;
///
/// /// A shutter.
/// #[thing]
/// #[derive(Default)]
/// pub struct Shutter;
///
/// #[thing]
/// impl Shutter {
///     /// Open for a while.
///     #[action]
///     fn expose(
///         &self,
///         #[default(10)]
///         #[param(minimum = 1, maximum = 1000, unit = "ms", description = "How long to stay open")]
///         ms: u32,
///     ) -> u32 {
///         ms
///     }
/// }
///
/// let lab = TestLab::builder().thing("shutter", Shutter).build().expect("a lab");
/// assert_eq!(lab.call("shutter", "expose", serde_json::json!({})).output, Some(serde_json::json!(10)));
/// assert!(lab.call("shutter", "expose", serde_json::json!({"ms": 0})).error.is_some());
/// ```
#[proc_macro_attribute]
pub fn param(_args: TokenStream, item: TokenStream) -> TokenStream {
    outside_thing("param", item)
}

/// The error for an inner attribute used without `#[thing]` on its item.
fn outside_thing(name: &str, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let message = format!(
        "`#[{name}]` only works inside a struct or an impl block marked `#[thing]`: add `#[thing]` above the `struct` or `impl`"
    );
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote::quote!(#error #item).into()
}
