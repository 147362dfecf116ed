//! A thing whose device code fails in every way it can, shared by the
//! tests of error handling.

use std::time::Duration;

use labthings::prelude::*;

/// A thing that fails.
#[thing]
#[derive(Default)]
pub struct Faulty;

#[thing]
impl Faulty {
    /// Always fails to read.
    #[property]
    fn broken(&self) -> Result<i64, String> {
        Err("sensor unplugged".to_owned())
    }

    /// Panics when read.
    #[property]
    fn panicky(&self) -> i64 {
        panic!("getter exploded")
    }

    /// Panics.
    #[action]
    fn explode(&self) -> i64 {
        panic!("action exploded")
    }

    /// Returns an error.
    #[action]
    fn fail(&self, reason: String) -> Result<(), std::io::Error> {
        Err(std::io::Error::other(reason))
    }

    /// Logs through the `log` crate, and is forgotten a second after it ends.
    #[action(retention_secs = 1)]
    fn fleeting(&self) -> u8 {
        log::warn!("logged with the log crate");
        7
    }

    /// Handles a first cancellation, then stops at the second.
    #[action]
    fn stubborn(&self, cancel: CancelHook) -> Result<u32, Cancelled> {
        let mut handled = 0;
        loop {
            if cancel.sleep(Duration::from_secs(30)).is_err() {
                if handled == 1 {
                    return Err(Cancelled);
                }
                handled += 1;
                tracing::info!("ignoring the first cancellation");
                cancel.reset();
            }
        }
    }

    /// Returns nothing.
    #[action]
    fn nothing(&self) {}
}
