//! The one place the synchronous state code waits on an async remote
//! backend (`postgres`, `s3`): a runtime of one worker thread, started on
//! first use, that can be waited on from anywhere, also from inside the
//! apply engine's own runtime.

use super::StateError;
use crate::diag::Code;
use std::sync::OnceLock;

/// The runtime every remote state call of this process runs on.
fn runtime(backend: &str) -> Result<&'static tokio::runtime::Runtime, StateError> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("infra-state-remote")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| {
            StateError::new(
                Code::Internal,
                None,
                format!(
                    "the runtime for the {backend} state backend could not be started; this is a bug"
                ),
            )
        })
}

/// Runs `future` of the `backend` (its name, for messages) to completion on
/// the runtime. From inside another runtime (where blocking is not allowed)
/// it waits on a scoped thread instead.
pub(super) fn block_on<F>(backend: &str, future: F) -> Result<F::Output, StateError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    let runtime = runtime(backend)?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(runtime.block_on(future));
    }
    std::thread::scope(|scope| scope.spawn(|| runtime.block_on(future)).join()).map_err(|_| {
        StateError::new(
            Code::Internal,
            None,
            format!("a call of the {backend} state backend panicked; this is a bug"),
        )
    })
}
