//! A mock lab: a three-axis stage, a camera and an autofocus that uses both,
//! no hardware needed.
//!
//! ```text
//! cargo run --release --example mock_lab            # http://127.0.0.1:5000
//! cargo run --release --example mock_lab -- --port 0 --host 0.0.0.0
//! cargo run --release --example mock_lab -- --config examples/mock_lab.toml
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use labthings::cli::ServeArgs;
use labthings::prelude::*;
use parking_lot::Mutex;

/// How far the mock stage travels from `[0, 0, 0]` on each axis, in steps.
pub const TRAVEL: i64 = 100_000;

/// Why a move failed: beyond the travel, or cancelled (a boxed error, so a
/// [`Cancelled`] inside still ends the invocation as `cancelled`).
pub type MoveError = Box<dyn std::error::Error + Send + Sync>;

/// Whether `position` is within the stage's travel (no overflow for any `i64`).
pub fn within_travel(position: i64) -> bool {
    (-TRAVEL..=TRAVEL).contains(&position)
}

/// A mock three-axis translation stage.
///
/// Moves one motor step at a time, so long moves can be watched and cancelled.
#[thing]
pub struct Stage {
    /// Current position in motor steps, as `[x, y, z]`. Observable: every step is announced.
    #[property(read_only, state)]
    pub position: DataProperty<[i64; 3]>,
    step_delay_ms: AtomicU64,
    /// Calibration: motor steps per micrometre. Saved in `settings/stage.json`.
    #[property(setting, state, minimum = 0.001, maximum = 1000000.0, unit = "steps/um")]
    pub steps_per_um: DataProperty<f64>,
}

impl Default for Stage {
    fn default() -> Self {
        Self {
            position: DataProperty::new([0; 3]),
            step_delay_ms: AtomicU64::new(10),
            steps_per_um: DataProperty::new(1.0),
        }
    }
}

#[thing]
impl Stage {
    /// Delay between steps, in milliseconds.
    #[property(minimum = 0, maximum = 1000, unit = "ms")]
    fn step_delay_ms(&self) -> u64 {
        self.step_delay_ms.load(Ordering::Relaxed)
    }

    fn set_step_delay_ms(&self, value: u64) {
        self.step_delay_ms.store(value, Ordering::Relaxed);
    }

    /// Move by a relative amount, one step at a time.
    ///
    /// Returns the final position. Reports its progress (the fraction of
    /// steps taken, and the time left). Cancelling stops at the current
    /// step. One move at a time: a second move waits, `pending`, for the
    /// first. A move that would end beyond the stage's travel is refused
    /// (422) before any step.
    #[action(lock)]
    pub fn move_relative(
        &self,
        #[param(minimum = -200000, maximum = 200000, unit = "steps")] x: i64,
        #[default(0)]
        #[param(minimum = -200000, maximum = 200000, unit = "steps")]
        y: i64,
        #[default(0)]
        #[param(minimum = -200000, maximum = 200000, unit = "steps")]
        z: i64,
        handle: &InvocationHandle,
    ) -> Result<[i64; 3], MoveError> {
        let here = self.position.get();
        let target = [here[0].checked_add(x), here[1].checked_add(y), here[2].checked_add(z)];
        if target.iter().any(|t| t.is_none_or(|t| !within_travel(t))) {
            return Err(BadRequest::new(format!(
                "a move by [{x}, {y}, {z}] from {here:?} ends beyond the stage's travel of {TRAVEL} steps each way"
            ))
            .into());
        }
        tracing::info!("moving by [{x}, {y}, {z}]");
        let cancel = handle.cancel_hook();
        let delay = Duration::from_millis(self.step_delay_ms());
        // Each |distance| is at most 200000 (the schema, and the travel check).
        let total = (x.unsigned_abs() + y.unsigned_abs() + z.unsigned_abs()).max(1);
        let mut taken = 0u64;
        for (axis, distance) in [x, y, z].into_iter().enumerate() {
            for _ in 0..distance.unsigned_abs() {
                cancel.sleep(delay)?;
                self.position.update(|p| p[axis] += distance.signum());
                taken += 1;
                // Called every step: the server tells observers a few times a second.
                handle.progress(taken as f64 / total as f64);
            }
            if distance != 0 {
                tracing::info!("axis {axis} moved by {distance}");
            }
        }
        Ok(self.position.get())
    }

    /// Move to an absolute position `[x, y, z]`, one step at a time.
    ///
    /// The schema limits each axis to the stage's travel (100000 steps each
    /// way from `[0, 0, 0]`); device code checks again without overflowing,
    /// for callers that bypass the schema. A long move across the stage: an
    /// AI agent's call waits for an operator's approval.
    #[action(lock, approval)]
    fn move_absolute(
        &self,
        #[param(minimum = -100000, maximum = 100000, unit = "steps")] x: i64,
        #[param(minimum = -100000, maximum = 100000, unit = "steps")] y: i64,
        #[param(minimum = -100000, maximum = 100000, unit = "steps")] z: i64,
        handle: &InvocationHandle,
    ) -> Result<[i64; 3], MoveError> {
        let target = [x, y, z];
        if !target.into_iter().all(within_travel) {
            return Err(BadRequest::new(format!(
                "target {target:?} is beyond the stage's travel of {TRAVEL} steps each way"
            ))
            .into());
        }
        let here = self.position.get();
        // Both ends are within the travel, so the differences cannot overflow.
        self.move_relative(x - here[0], y - here[1], z - here[2], handle)
    }

    /// Move back to `[0, 0, 0]` at once.
    #[action(lock)]
    fn home(&self) -> [i64; 3] {
        self.position.set([0; 3]);
        tracing::info!("homed");
        [0; 3]
    }

    /// Connect to the (mock) motor controller.
    #[on_start]
    fn connect(&self) {
        tracing::info!("stage connected");
    }

    /// Release the (mock) motor controller.
    #[on_stop]
    fn disconnect(&self) {
        tracing::info!("stage disconnected at {:?}", self.position.get());
    }
}

/// What the camera announces after each acquired frame.
#[model]
#[derive(Debug, Clone)]
pub struct FrameInfo {
    /// Frame number since start.
    pub frame: u64,
    /// Mean intensity, 0 to 255.
    pub mean: f64,
}

/// A mock camera.
#[thing]
pub struct Camera {
    exposure_ms: Mutex<f64>,
    frames: AtomicU64,
    /// Live preview (MJPEG, about 10 frames a second).
    #[stream]
    pub preview: MjpegStream,
    /// Sent after each frame `acquire` takes.
    #[event]
    pub frame_acquired: Event<FrameInfo>,
    running: Arc<AtomicBool>,
    switched_on: std::time::Instant,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            exposure_ms: Mutex::new(20.0),
            frames: AtomicU64::new(0),
            preview: MjpegStream::new(),
            frame_acquired: Event::new(),
            running: Arc::new(AtomicBool::new(false)),
            switched_on: std::time::Instant::now(),
        }
    }
}

/// A rectangle of the largest test pattern (1280 x 960 pixels), for
/// `region_stats`; the part beyond the pattern's edges is left out.
#[model]
#[derive(Debug, Clone)]
pub struct Region {
    /// Its left edge, in pixels from the left.
    #[schemars(range(max = 1279))]
    pub left: u16,
    /// Its top edge, in pixels from the top.
    #[schemars(range(max = 959))]
    pub top: u16,
    /// Its width in pixels.
    #[schemars(range(min = 1, max = 1280))]
    pub width: u16,
    /// Its height in pixels.
    #[schemars(range(min = 1, max = 960))]
    pub height: u16,
}

/// The brightness of a region of the test pattern.
#[model]
#[derive(Debug, Clone, PartialEq)]
pub struct RegionStats {
    /// How many pixels the region holds (inside the pattern).
    pub pixels: u32,
    /// The darkest pixel, 0 to 255.
    pub min: u8,
    /// The brightest pixel, 0 to 255.
    pub max: u8,
    /// The mean brightness, 0 to 255.
    pub mean: f64,
}

/// What `measure_image` finds in a picture.
#[model]
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// Its size in bytes.
    pub bytes: u64,
    /// Its width in pixels.
    pub width: u16,
    /// Its height in pixels.
    pub height: u16,
}

/// The width and height in a JPEG's start-of-frame header, if it has one.
pub fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut at = 2; // after the start-of-image marker
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return None;
        }
        let marker = jpeg[at + 1];
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if matches!(marker, 0xC0..=0xC3) {
            let header = jpeg.get(at + 5..at + 9)?;
            return Some((
                u16::from_be_bytes([header[2], header[3]]),
                u16::from_be_bytes([header[0], header[1]]),
            ));
        }
        at = at.checked_add(2 + length)?;
    }
    None
}

/// One pixel of a mock image `width` wide with a bright bar at `offset`:
/// grey stripes, 60 to 123, and the bar at 230.
fn mock_pixel(x: u16, y: u16, width: u16, offset: u16) -> u8 {
    let bar = x.wrapping_sub(offset) % width.max(1) < width / 8;
    if bar { 230 } else { (60 + (y % 64)) as u8 }
}

/// A grey `width` x `height` JPEG with a bright bar at `offset`: a mock image.
pub fn mock_jpeg(width: u16, height: u16, offset: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| mock_pixel(x, y, width, offset)))
        .collect();
    let mut jpeg = Vec::new();
    let encoded =
        jpeg_encoder::Encoder::new(&mut jpeg, 80).encode(&pixels, width, height, jpeg_encoder::ColorType::Luma);
    match encoded {
        Ok(()) => jpeg,
        Err(e) => {
            tracing::warn!("could not encode a mock frame: {e}");
            Vec::new()
        }
    }
}

#[thing]
impl Camera {
    /// Exposure time in milliseconds (0.01 to 10000).
    #[property(state, minimum = 0.01, maximum = 10000.0, unit = "ms")]
    fn exposure_ms(&self) -> f64 {
        *self.exposure_ms.lock()
    }

    fn set_exposure_ms(&self, value: f64) -> Result<(), BadRequest> {
        if !(0.01..=10_000.0).contains(&value) {
            return Err(BadRequest::new(format!(
                "exposure {value} ms is outside 0.01..=10000 ms"
            )));
        }
        *self.exposure_ms.lock() = value;
        Ok(())
    }

    /// How many frames have been acquired since start.
    ///
    /// Read every 250 ms while anyone observes, so a panel follows a long
    /// acquisition.
    #[property(poll_ms = 250)]
    fn frames_acquired(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Sensor temperature, read from the (mock) camera: it drifts slowly.
    ///
    /// A reading, not a stored value: observable because it is read every
    /// 500 ms while anyone observes.
    #[property(poll_ms = 500, unit = "degC")]
    fn sensor_temperature(&self) -> f64 {
        let minutes = self.switched_on.elapsed().as_secs_f64() / 60.0;
        (300.0 + 20.0 * (minutes * std::f64::consts::PI).sin()).round() / 10.0
    }

    /// The state of every instrument of the lab, as acquisition code stores
    /// it with each picture.
    ///
    /// Each thing's `#[property(state)]` values (its data properties if it
    /// marks none), read now.
    #[action]
    fn lab_state(&self) -> labthings::serde_json::Map<String, labthings::serde_json::Value> {
        labthings::context::thing_states()
    }

    /// Take one picture and return it as a JPEG file.
    #[action]
    fn snap(&self) -> TypedBlob<Jpeg> {
        let frame = self.frames.fetch_add(1, Ordering::Relaxed);
        tracing::info!("snapped frame {frame}");
        TypedBlob::from_bytes(mock_jpeg(320, 240, (frame * 16 % 320) as u16))
    }

    /// The newest preview frame, as a JPEG file to download (a fresh
    /// picture while the preview is off).
    ///
    /// An endpoint (the original's `@endpoint`): raw bytes at once, not an
    /// invocation.
    #[endpoint]
    fn latest_frame(&self) -> Raw {
        let jpeg = match self.preview.recent_frames().pop() {
            Some(frame) => frame.jpeg.to_vec(),
            None => mock_jpeg(320, 240, 0),
        };
        Raw::new("image/jpeg", jpeg)
    }

    /// A test pattern of the size asked for, as a JPEG file.
    #[endpoint]
    fn test_pattern(
        &self,
        #[default(320)]
        #[param(minimum = 16, maximum = 1280, unit = "px", description = "Width in pixels")]
        width: u16,
        #[default(240)]
        #[param(minimum = 16, maximum = 960, unit = "px", description = "Height in pixels")]
        height: u16,
    ) -> Raw {
        Raw::new("image/jpeg", mock_jpeg(width, height, width / 3))
    }

    /// The brightness of a region of the largest test pattern (1280 x 960,
    /// as `test_pattern?width=1280&height=960` draws it).
    ///
    /// An endpoint with a JSON body (the region) and a typed JSON answer:
    /// both schemas are in the OpenAPI document.
    #[endpoint(method = "post")]
    fn region_stats(&self, region: Json<Region>) -> Json<RegionStats> {
        let (width, height) = (1280u16, 960u16);
        let right = region.left.saturating_add(region.width).min(width);
        let bottom = region.top.saturating_add(region.height).min(height);
        let (mut pixels, mut sum, mut min, mut max) = (0u32, 0u64, u8::MAX, u8::MIN);
        for y in region.top..bottom {
            for x in region.left..right {
                let value = mock_pixel(x, y, width, width / 3);
                pixels += 1;
                sum += u64::from(value);
                min = min.min(value);
                max = max.max(value);
            }
        }
        Json(RegionStats {
            pixels,
            min,
            max,
            mean: if pixels == 0 {
                0.0
            } else {
                sum as f64 / f64::from(pixels)
            },
        })
    }

    /// A one-page summary of the camera, for a browser.
    #[endpoint]
    fn summary(&self) -> Raw {
        Raw::html(format!(
            "<!doctype html><title>Camera</title><h1>Camera</h1><ul><li>exposure: {} ms</li>\
             <li>frames acquired: {}</li><li>sensor: {} &deg;C</li></ul>",
            self.exposure_ms(),
            self.frames_acquired(),
            self.sensor_temperature()
        ))
    }

    /// Measure a picture `snap` took: pass its output's link as `image`.
    ///
    /// Chains a capture into processing, as acquisition code does: the
    /// image is the blob the earlier invocation holds, not an upload.
    #[action]
    fn measure_image(&self, image: TypedBlob<Jpeg>) -> Result<ImageInfo, BadRequest> {
        let bytes = image
            .blob()
            .read_bytes()
            .map_err(|e| BadRequest::new(format!("the image cannot be read: {e}")))?;
        let (width, height) = jpeg_size(&bytes).ok_or_else(|| BadRequest::new("the image has no JPEG frame header"))?;
        Ok(ImageInfo {
            bytes: bytes.len() as u64,
            width,
            height,
        })
    }

    /// Start the preview: a thread pushes a new frame every 100 ms while anyone watches.
    #[on_start]
    fn start_preview(&self) -> Result<(), std::io::Error> {
        self.running.store(true, Ordering::SeqCst);
        let (running, preview) = (self.running.clone(), self.preview.clone());
        std::thread::Builder::new()
            .name("camera.preview".into())
            .spawn(move || {
                let mut offset = 0;
                while running.load(Ordering::SeqCst) {
                    if preview.viewers() > 0 {
                        if let Err(e) = preview.push(mock_jpeg(320, 240, offset)) {
                            tracing::warn!("preview frame refused: {e}");
                        }
                        offset = (offset + 8) % 320;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })?;
        Ok(())
    }

    /// Stop the preview thread.
    #[on_stop]
    fn stop_preview(&self) {
        self.running.store(false, Ordering::SeqCst);
    }

    /// Acquire `count` frames, one exposure each, and return their mean intensities.
    ///
    /// Logs every frame and reports each as an intermediate result (with
    /// the progress and time left); cancelling stops after the current
    /// exposure. The camera takes one acquisition at a time: a second is
    /// refused with 409.
    #[action(lock, when_busy = "reject")]
    fn acquire(
        &self,
        #[default(5)]
        #[param(minimum = 1, maximum = 1000, description = "How many frames to take")]
        count: u32,
        handle: &InvocationHandle<FrameInfo>,
    ) -> Result<Vec<f64>, Cancelled> {
        let cancel = handle.cancel_hook();
        let exposure = Duration::from_secs_f64(self.exposure_ms() / 1000.0);
        let mut means = Vec::new();
        for n in 1..=count {
            cancel.sleep(exposure)?;
            let frame = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
            let mean = 100.0 + (frame % 7) as f64;
            tracing::info!("frame {n} of {count}: mean intensity {mean}");
            let info = FrameInfo { frame, mean };
            self.frame_acquired.emit(&info);
            handle.intermediate(&info);
            handle.report(Progress::new(f64::from(n) / f64::from(count)).message(format!("frame {n} of {count}")));
            means.push(mean);
        }
        Ok(means)
    }

    /// Sharpness of the current image: highest when the stage's z is at the
    /// (mock) focal plane.
    pub fn sharpness(&self, z: i64) -> f64 {
        let defocus = (z - 40) as f64;
        1000.0 / (1.0 + defocus * defocus / 100.0)
    }
}

/// What an autofocus needs from a stage, whichever stage is served: the
/// mock [`Stage`], or a real motor controller
/// ([`labthings_sangaboard::Sangaboard`], on a serial port or simulated).
/// A Thing fills the autofocus's slot once the server is told it provides
/// this trait (`.provides::<Stage, dyn FocusStage>(|stage| stage)`).
pub trait FocusStage: Send + Sync {
    /// The stage's z, in steps.
    fn z(&self) -> i64;
    /// Move z by `dz` steps, reporting progress on `handle`; cancellable
    /// through it. The z reached.
    fn move_z(&self, dz: i64, handle: &InvocationHandle) -> Result<i64, MoveError>;
}

impl FocusStage for Stage {
    fn z(&self) -> i64 {
        self.position.get()[2]
    }

    fn move_z(&self, dz: i64, handle: &InvocationHandle) -> Result<i64, MoveError> {
        Ok(self.move_relative(0, 0, dz, handle)?[2])
    }
}

impl FocusStage for labthings_sangaboard::Sangaboard {
    fn z(&self) -> i64 {
        self.position.get().z
    }

    fn move_z(&self, dz: i64, handle: &InvocationHandle) -> Result<i64, MoveError> {
        Ok(self.move_relative(0, 0, dz, handle)?.z)
    }
}

/// Autofocus: scans the stage's z and keeps the sharpest position.
#[thing]
#[derive(Default)]
pub struct Autofocus {
    /// The stage it moves: any Thing that provides [`FocusStage`].
    #[slot]
    stage: ThingSlot<dyn FocusStage>,
    /// The camera it reads.
    #[slot]
    camera: ThingSlot<Camera>,
    /// The z position the last scan chose (`null` before any scan).
    #[property(read_only)]
    pub best_z: DataProperty<Option<i64>>,
}

#[thing]
impl Autofocus {
    /// Scan z over `range` steps each side of here, in `step`s; move to the sharpest.
    ///
    /// Calls the stage and camera directly on this thread: their log lines
    /// land in this invocation's log, their cancel hook is this one's (a
    /// cancelled scan stops the stage mid-move), and each reports its
    /// progress as a part of the scan's. Each z measured is an intermediate
    /// result.
    #[action(lock = "server")]
    fn scan(
        &self,
        #[default(50)]
        #[param(minimum = 1, maximum = 10000, unit = "steps")]
        range: i64,
        #[default(10)]
        #[param(minimum = 1, maximum = 1000, unit = "steps")]
        step: i64,
        handle: &InvocationHandle<FocusPoint>,
    ) -> Result<i64, MoveError> {
        let (stage, camera) = (self.stage.get(), self.camera.get());
        let start_z = stage.z();
        // The parts: the move down, one part per z measured, the move to the best.
        let points = (2 * range) / step + 1;
        let part = 1.0 / (points + 2) as f64;
        stage.move_z(-range, &handle.span(0.0, part))?;
        let mut best = (f64::MIN, start_z - range);
        let mut z = start_z - range;
        let mut done = 1.0;
        while z <= start_z + range {
            handle.report(Progress::new(done * part).message(format!("measuring z = {z}")));
            camera.acquire(1, &handle.span(done * part, (done + 0.5) * part).typed())?;
            let sharpness = camera.sharpness(z);
            tracing::info!("z = {z}: sharpness {sharpness:.1}");
            handle.intermediate(&FocusPoint { z, sharpness });
            if sharpness > best.0 {
                best = (sharpness, z);
            }
            stage.move_z(step, &handle.span((done + 0.5) * part, (done + 1.0) * part))?;
            z += step;
            done += 1.0;
        }
        let here = stage.z();
        handle.report(Progress::new(done * part).message(format!("moving to the sharpest z = {}", best.1)));
        stage.move_z(best.1 - here, &handle.span(done * part, 1.0))?;
        self.best_z.set(Some(best.1));
        Ok(best.1)
    }
}

/// One point of an autofocus scan: a z and its sharpness.
#[model]
#[derive(Debug, Clone)]
pub struct FocusPoint {
    /// The stage's z, in steps.
    pub z: i64,
    /// The image's sharpness there.
    pub sharpness: f64,
}

/// One reading of the thermometer.
#[model]
#[derive(Debug, Clone)]
pub struct Reading {
    /// Which reading of the series (from 1).
    pub n: u32,
    /// The temperature, in degrees Celsius.
    pub celsius: f64,
}

/// A mock thermometer on a serial port, with an `async` driver.
///
/// The port is an in-memory pipe (`tokio::io::duplex`) with the
/// thermometer's firmware at the other end, on a thread of its own: the
/// driver speaks a line protocol over it with tokio I/O, as a driver of a
/// real serial or network instrument would (`*IDN?`, `T?`, `AVG n`).
#[thing]
#[derive(Default)]
pub struct Thermometer {
    /// The open port (after the start hook).
    port: tokio::sync::Mutex<Option<tokio::io::BufReader<tokio::io::DuplexStream>>>,
    /// What the instrument said it is when the port was opened.
    #[property(read_only)]
    pub identity: DataProperty<String>,
}

#[thing]
impl Thermometer {
    /// Open the port and ask the instrument who it is.
    #[on_start]
    async fn open(&self) -> Result<(), std::io::Error> {
        let (ours, theirs) = tokio::io::duplex(1024);
        std::thread::Builder::new()
            .name("thermometer-firmware".into())
            .spawn(move || firmware(theirs))?;
        *self.port.lock().await = Some(tokio::io::BufReader::new(ours));
        let identity = self.query("*IDN?").await?;
        tracing::info!("thermometer {identity} connected");
        self.identity.set(identity);
        Ok(())
    }

    /// Say goodbye to the instrument and close the port.
    #[on_stop]
    async fn close(&self) {
        let _ = self.query("BYE").await;
        *self.port.lock().await = None;
        tracing::info!("thermometer disconnected");
    }

    /// The temperature now.
    #[property(unit = "degC")]
    async fn temperature(&self) -> Result<f64, std::io::Error> {
        let answer = self.query("T?").await?;
        answer.parse().map_err(|_| bad_answer("T?", &answer))
    }

    /// How many samples the instrument averages per reading.
    #[property(minimum = 1, maximum = 100)]
    async fn averaging(&self) -> Result<u32, std::io::Error> {
        let answer = self.query("AVG?").await?;
        answer.parse().map_err(|_| bad_answer("AVG?", &answer))
    }

    async fn set_averaging(&self, samples: u32) -> Result<(), std::io::Error> {
        self.query(&format!("AVG {samples}")).await.map(|_| ())
    }

    /// Take `count` readings, `interval_ms` apart, and return them.
    ///
    /// Each reading is logged and reported as an intermediate result, with
    /// the progress. Cancelling stops it at its next wait (it is an async
    /// action that takes no cancel hook). One series at a time.
    #[action(lock)]
    async fn record(
        &self,
        #[default(10)]
        #[param(minimum = 1, maximum = 10000)]
        count: u32,
        #[default(100)]
        #[param(minimum = 0, maximum = 60000, unit = "ms")]
        interval_ms: u64,
        handle: &InvocationHandle<Reading>,
    ) -> Result<Vec<f64>, std::io::Error> {
        let mut readings = Vec::new();
        for n in 1..=count {
            let celsius = self.temperature().await?;
            tracing::info!("reading {n} of {count}: {celsius} degC");
            handle.intermediate(&Reading { n, celsius });
            handle.progress(f64::from(n) / f64::from(count));
            readings.push(celsius);
            if n < count {
                tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            }
        }
        Ok(readings)
    }

    /// Wait until two readings `interval_ms` apart differ by at most
    /// `tolerance` degrees; answer the last.
    ///
    /// Takes a cancel hook, so it decides itself where to stop: between
    /// readings, never in the middle of a query.
    #[action]
    async fn wait_until_stable(
        &self,
        #[default(0.01)] tolerance: f64,
        #[default(100)]
        #[param(minimum = 1, maximum = 60000, unit = "ms")]
        interval_ms: u64,
        cancel: CancelHook,
    ) -> Result<f64, WaitError> {
        let mut last = self.temperature().await?;
        loop {
            cancel.sleep_async(Duration::from_millis(interval_ms)).await?;
            let now = self.temperature().await?;
            if (now - last).abs() <= tolerance {
                return Ok(now);
            }
            tracing::info!("{now} degC: not stable yet");
            last = now;
        }
    }
}

impl Thermometer {
    /// Send one command line and read the answer line (at most 1 s).
    async fn query(&self, command: &str) -> Result<String, std::io::Error> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut port = self.port.lock().await;
        let port = port
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "the thermometer's port is closed"))?;
        port.get_mut().write_all(format!("{command}\n").as_bytes()).await?;
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(1), port.read_line(&mut answer))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer to {command} within 1 s"),
                )
            })??;
        let answer = answer.trim().to_owned();
        match answer.strip_prefix("ERR ") {
            Some(error) => Err(std::io::Error::other(format!("{command}: {error}"))),
            None => Ok(answer),
        }
    }
}

/// Why waiting for a stable reading failed: the port, or cancelled (boxed,
/// so a [`Cancelled`] inside still ends the invocation as `cancelled`).
pub type WaitError = Box<dyn std::error::Error + Send + Sync>;

fn bad_answer(command: &str, answer: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{command} answered {answer:?}"),
    )
}

/// The thermometer's firmware: answers each command line on its end of the
/// port until `BYE` or the port closes. The temperature drifts slowly
/// around 21.5 degC.
fn firmware(port: tokio::io::DuplexStream) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_time().build() else {
        return;
    };
    runtime.block_on(async move {
        let (read, mut write) = tokio::io::split(port);
        let mut lines = tokio::io::BufReader::new(read).lines();
        let started = std::time::Instant::now();
        let mut averaging = 1u32;
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = match line.trim() {
                "*IDN?" => "MOCK-THERMO,SN 0042,1.0".to_owned(),
                "T?" => {
                    // Averaging takes time, as on a real instrument.
                    tokio::time::sleep(Duration::from_millis(u64::from(averaging))).await;
                    let t = started.elapsed().as_secs_f64();
                    format!("{:.3}", 21.5 + 0.5 * (t / 5.0).sin())
                }
                "AVG?" => averaging.to_string(),
                "BYE" => break,
                other => match other.strip_prefix("AVG ").map(str::parse::<u32>) {
                    Some(Ok(n)) if (1..=100).contains(&n) => {
                        averaging = n;
                        "OK".to_owned()
                    }
                    _ => format!("ERR unknown command {other:?}"),
                },
            };
            if write.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
                break;
            }
        }
    });
}

/// The `[things.NAME.config]` of a stage in a configuration file.
#[model]
#[derive(Debug)]
#[serde(default, deny_unknown_fields)]
pub struct StageConfig {
    /// Delay between motor steps, in milliseconds.
    pub step_delay_ms: u64,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self { step_delay_ms: 10 }
    }
}

impl FromConfig for Stage {
    type Config = StageConfig;

    fn from_config(config: StageConfig, _env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let stage = Stage::default();
        stage.set_step_delay_ms(config.step_delay_ms);
        Ok(stage)
    }

    /// The mock stage is a simulation already.
    fn simulated(
        config: StageConfig,
        env: &ThingEnv,
    ) -> Option<Result<Self, Box<dyn std::error::Error + Send + Sync>>> {
        Some(Self::from_config(config, env))
    }
}

/// The `[things.NAME.config]` of a camera in a configuration file.
#[model]
#[derive(Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Starting exposure in milliseconds.
    pub exposure_ms: Option<f64>,
}

impl FromConfig for Camera {
    type Config = CameraConfig;

    fn from_config(config: CameraConfig, _env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let camera = Camera::default();
        if let Some(exposure) = config.exposure_ms {
            camera.set_exposure_ms(exposure)?;
        }
        Ok(camera)
    }

    /// The mock camera is a simulation already.
    fn simulated(
        config: CameraConfig,
        env: &ThingEnv,
    ) -> Option<Result<Self, Box<dyn std::error::Error + Send + Sync>>> {
        Some(Self::from_config(config, env))
    }
}

/// The thing types a mock lab configuration file may name: the mock ones,
/// and a real Sangaboard (`type = "Sangaboard"`, `config = { port = ".." }`
/// or `{ simulate = true }`) the autofocus can use as its stage.
pub fn catalog() -> ThingCatalog {
    ThingCatalog::new()
        .register::<Stage>("Stage")
        .register::<labthings_sangaboard::Sangaboard>("Sangaboard")
        .register::<Camera>("Camera")
        .register_default::<Autofocus>("Autofocus")
        .register_default::<Thermometer>("Thermometer")
        .provides::<Stage, dyn FocusStage>(|stage| stage)
        .provides::<labthings_sangaboard::Sangaboard, dyn FocusStage>(|stage| stage)
}

/// A server builder that knows which stages an autofocus can use.
pub fn builder() -> labthings::ServerBuilder {
    Server::builder()
        .provides::<Stage, dyn FocusStage>(|stage| stage)
        .provides::<labthings_sangaboard::Sangaboard, dyn FocusStage>(|stage| stage)
}

/// Build the mock lab's default server: one stage, one camera, an autofocus.
pub fn build(config: ServerConfig) -> anyhow::Result<Server> {
    Ok(builder()
        .config(config)
        .thing("stage", Stage::default())
        .thing("camera", Camera::default())
        .thing("autofocus", Autofocus::default())
        .thing("thermometer", Thermometer::default())
        .build()?)
}

/// The standard command line (`--help`), a configuration file if given
/// (`--config`), else the four things wired by [`build`]; every error one
/// message, exit status 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    labthings::cli::serve_with(&ServeArgs::from_args(), &catalog(), build).await
}
