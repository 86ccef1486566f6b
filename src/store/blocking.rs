//! Running sled's long synchronous calls (a prune scans the whole store)
//! from async code.

/// Runs a long blocking call for the service. On the multi-thread runtime it
/// runs inline (`block_in_place`): on the daemon's main thread, where the
/// service runs, it then reuses the memory the poll freed there instead of
/// growing a blocking thread's arena (the first prune of 20,000 articles
/// peaked at 95-99 MB on the blocking pool, 75-83 MB inline). Elsewhere it
/// goes to the blocking pool. A panic is returned as its message, so the
/// daemon logs it and keeps serving, as it did when this was a spawned task.
pub(super) async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, String> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)))
            .map_err(|panic| panic_message(panic.as_ref()))
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| match err.try_into_panic() {
                Ok(panic) => panic_message(panic.as_ref()),
                Err(err) => err.to_string(),
            })
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn both_ways() {
        assert_eq!(blocking(|| 7).await, Ok(7));
        let message = blocking(|| -> u8 { panic!("scan failed at row {}", 3) }).await;
        assert_eq!(message, Err("scan failed at row 3".to_owned()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn blocking_work_runs_inline_and_a_panic_becomes_an_error() {
        both_ways().await;
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_blocking_work_goes_to_the_pool() {
        both_ways().await;
    }
}
