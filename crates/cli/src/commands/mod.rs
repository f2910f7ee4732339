//! One module per subcommand.

pub mod bench;
pub mod bench_http;
pub mod bench_ingest;
pub mod dev;
pub mod echo;
pub mod forward;
pub mod ingest;
pub mod ready;
pub mod req;
pub mod serve;
pub mod sign;
pub mod signals;

/// A Tokio runtime with `worker_threads` worker threads, I/O and timers enabled, for the server
/// commands: 1 builds a single-threaded (current-thread) runtime, more a multi-threaded one.
/// `serve` and `dev` pass `settings.runtime.worker_threads.resolve()` (see
/// [`natsapi_config::WorkerThreads`] for why the default is half the cores).
///
/// # Errors
/// If `worker_threads` is 0, or the runtime cannot be built.
pub fn runtime(worker_threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match worker_threads {
        0 => anyhow::bail!("the runtime needs at least one worker thread"),
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    };
    Ok(builder.enable_all().build()?)
}

/// How long the runtime waits, once a server command has returned, for work that is still
/// running (a blocking task in the middle of a file write); the process exits after it anyway.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs a server command's future on the runtime `settings` ask for, then shuts the runtime down
/// without waiting for tasks that outlived the command (so the process exits in bounded time).
///
/// # Errors
/// If the runtime cannot be built, or the future fails.
pub fn block_on<T>(
    settings: &natsapi_config::Settings,
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let runtime = runtime(settings.runtime.worker_threads.resolve())?;
    let result = runtime.block_on(future);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    result
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_thread_is_a_current_thread_runtime() {
        let rt = super::runtime(1).unwrap();
        assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        // I/O and timers are enabled.
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await });
    }

    #[test]
    fn more_threads_are_a_multi_thread_runtime() {
        let rt = super::runtime(3).unwrap();
        assert_eq!(rt.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(rt.metrics().num_workers(), 3);
        rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await });
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(super::runtime(0).is_err());
    }
}
