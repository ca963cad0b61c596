//! The one tokio runtime every face builds: I/O, providers and the engine's tasks run on it;
//! scripts run on threads of their own. Two to four workers: one would let a busy run starve a
//! face's stdio, more than four only adds contention on the machines odw runs on.

/// A multi-threaded runtime with I/O and timers.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}
