//! The pool for bulk work: hashing uploaded bytes and reading blob files for downloads.
//!
//! Its threads run at a lower scheduling priority (nice 10 on Linux) than the rest of the
//! process. Under a CI farm's load, large transfers then take every spare cycle but yield the
//! CPU to metadata requests (`latest`, `search`, ...), whose latency is what `conan install`
//! waits on; on an idle machine the priority changes nothing. The priority is set once per
//! thread: an unprivileged process may lower its priority but not raise it back, so these
//! threads are never shared with other work.

use std::sync::OnceLock;

/// The nice value of the bulk threads (0 is the default; 19 the lowest priority).
const BULK_NICE: i32 = 10;

/// Runs blocking bulk work on the low-priority pool (on the current runtime's blocking pool if
/// that pool could not start). Await the handle from any runtime.
pub(crate) fn spawn<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    match pool() {
        Some(pool) => pool.handle().spawn_blocking(work),
        None => tokio::task::spawn_blocking(work),
    }
}

fn pool() -> Option<&'static tokio::runtime::Runtime> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("conan-bulk")
            .on_thread_start(lower_priority)
            .build()
            .ok()
    })
    .as_ref()
}

/// Lowers the calling thread's priority: on Linux the nice value belongs to the thread, and
/// `setpriority(PRIO_PROCESS, 0, ..)` names the calling one. A failure (a seccomp filter, say)
/// leaves the default priority, which costs only metadata latency under load.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(None, BULK_NICE);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::process::getpriority_process;

    #[tokio::test]
    async fn bulk_work_runs_on_threads_of_lower_priority() {
        let caller = getpriority_process(None).unwrap();
        let (name, nice) = super::spawn(|| {
            let name = std::thread::current().name().map(str::to_owned);
            (name, getpriority_process(None).unwrap())
        })
        .await
        .unwrap();
        assert_eq!(name.as_deref(), Some("conan-bulk"));
        // At least BULK_NICE (higher if the tests themselves run at a lower priority).
        assert!(nice >= super::BULK_NICE, "nice {nice}");
        // The caller's own thread keeps its priority.
        assert_eq!(getpriority_process(None).unwrap(), caller);
    }
}
