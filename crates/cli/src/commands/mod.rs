//! One module per subcommand.

pub mod bench;
pub mod dev;
pub mod echo;
pub mod req;
pub mod serve;

/// A Tokio runtime for the server commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let threads: usize =
        std::env::var("NATSAPI_WORKER_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            b.worker_threads(threads);
        }
        b
    };
    Ok(builder.enable_all().build()?)
}
