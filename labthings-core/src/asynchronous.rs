//! `async fn` device code: actions run as tasks on the server's tokio
//! runtime, with the same invocation semantics as blocking ones; getters,
//! setters and lifecycle hooks are driven to completion where the blocking
//! ones are called.
//!
//! An async action's future is polled with its invocation as the context
//! (so its log records land in the invocation's log and
//! [`CancelHook::current`] is its hook), a panic in it ends the invocation
//! as a `Panic` failure, and its hardware lock is held until it ends. When
//! the invocation is cancelled, an action that takes a [`CancelHook`]
//! decides where to stop (it may await [`CancelHook::cancelled`]); any other
//! is dropped at its next `.await`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_util::FutureExt;
use serde_json::Value;

use crate::cancel::CancelHook;
use crate::context::Context;
use crate::failure::Failure;

/// The future of an async action's call, boxed.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send>>;

/// Drive `future` to its end from blocking code: an async getter, setter
/// or hook where the server calls it (a blocking section of the runtime's
/// thread, its blocking pool, or a polling thread it started), on the
/// runtime of that thread. On a worker of a multi-thread runtime it first
/// hands the worker's other tasks to another thread
/// (`tokio::task::block_in_place`). On a thread that has no runtime (a test
/// without a server) a small runtime of its own drives it. It cannot wait
/// on the thread of a current-thread runtime (that thread would have to
/// drive the future too): `labthings::testing::TestLab` calls device code
/// from threads of its own for that reason.
///
/// ```
/// assert_eq!(labthings_core::asynchronous::block_on(async { 6 * 7 }), 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Ok(handle) => handle.block_on(future),
        // Building one fails only when the system has no file descriptors
        // or threads left; the panic is contained as any in device code is.
        Err(_) => match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(future),
            Err(e) => panic!("no tokio runtime to run async device code on, and none could be made: {e}"),
        },
    }
}

/// The body of an async invocation: `call` polled with `context` as the
/// context of the thread each time, a panic turned into a failure, and,
/// unless the action handles cancellation itself (`handles_cancel`),
/// dropped when `cancel` fires.
pub(crate) async fn run(
    context: Context,
    mut call: CallFuture,
    cancel: CancelHook,
    handles_cancel: bool,
) -> Result<Value, Failure> {
    let in_context = std::future::poll_fn(move |cx| {
        let _entered = context.clone().enter();
        call.as_mut().poll(cx)
    });
    let guarded = AssertUnwindSafe(in_context)
        .catch_unwind()
        .map(|result| result.unwrap_or_else(|payload| Err(Failure::from_panic(&*payload))));
    if handles_cancel {
        return guarded.await;
    }
    let cancelled = std::pin::pin!(cancel.cancelled());
    // The call is polled first: a result ready with the cancellation wins.
    match futures_util::future::select(std::pin::pin!(guarded), cancelled).await {
        futures_util::future::Either::Left((result, _)) => result,
        futures_util::future::Either::Right(_) => Err(Failure::Cancelled),
    }
}
