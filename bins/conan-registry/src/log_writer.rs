//! `log.buffered`: log lines gathered in one buffer and written out in batches by a writer
//! thread, one `write` per batch instead of one per line from the thread that logs.
//!
//! A logger appends its line under a lock (a copy of a few hundred bytes) and, when the buffer
//! was empty, wakes the writer thread, which waits [`BATCH_DELAY`] for more lines and then
//! writes all of them at once. Nothing is dropped: a logger that finds the buffer over
//! [`MAX_PENDING`] writes it out itself, and [`LogWriterGuard`] writes out the rest when the
//! server stops. Batches are taken and written under one output lock, so lines reach the
//! output in the order they were appended. A process killed outright loses the lines of the
//! current batch (at most [`BATCH_DELAY`] of them).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread waits for more lines after the first of a batch.
const BATCH_DELAY: Duration = Duration::from_millis(5);

/// The most bytes pending before a logger writes them out itself.
const MAX_PENDING: usize = 1024 * 1024;

/// Lines not written yet, and whether the writer is closing.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

struct Shared<W> {
    pending: Mutex<Pending>,
    ready: Condvar,
    /// The output; held while a batch is taken and written, which keeps batches in order.
    out: Mutex<W>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write> Shared<W> {
    /// Writes out whatever is pending. A failed write is reported on the next one's behalf
    /// only: a log line that cannot be written has nowhere else to go.
    fn write_out(&self) {
        let mut out = lock(&self.out);
        let batch = std::mem::take(&mut lock(&self.pending).bytes);
        if !batch.is_empty() {
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }
}

/// The [`MakeWriter`] the log subscriber writes through (cheap to clone).
pub(crate) struct BatchedWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for BatchedWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Writes out the pending lines and stops the writer thread when dropped; hold it until the
/// server has stopped.
pub(crate) struct LogWriterGuard {
    close: Box<dyn Fn() + Send>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        (self.close)();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A batched writer to `out`, and the guard that ends it.
pub(crate) fn batched<W: Write + Send + 'static>(
    out: W,
) -> io::Result<(BatchedWriter<W>, LogWriterGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        ready: Condvar::new(),
        out: Mutex::new(out),
    });
    let worker = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("conan-log".to_owned())
        .spawn(move || {
            loop {
                let closed = {
                    let mut pending = lock(&worker.pending);
                    while pending.bytes.is_empty() && !pending.closed {
                        pending = worker
                            .ready
                            .wait(pending)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    pending.closed
                };
                if !closed {
                    std::thread::sleep(BATCH_DELAY);
                }
                worker.write_out();
                if closed {
                    return;
                }
            }
        })?;
    let closing = Arc::clone(&shared);
    let guard = LogWriterGuard {
        close: Box::new(move || {
            lock(&closing.pending).closed = true;
            closing.ready.notify_one();
        }),
        thread: Some(thread),
    };
    Ok((BatchedWriter { shared }, guard))
}

impl<W: Write> Write for BatchedWriter<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared.pending);
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        if pending.closed || pending.bytes.len() >= MAX_PENDING {
            // Too much waiting (or no writer thread any more): write it out here.
            drop(pending);
            self.shared.write_out();
        } else if was_empty {
            drop(pending);
            self.shared.ready.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for BatchedWriter<W> {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;

    /// An output the test can read, shared with the writer.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_once_in_each_threads_order() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for line in 0..5_000 {
                        // Long enough that the buffer overflows and loggers write it out too.
                        writer
                            .write_all(format!("{thread} {line} {}\n", "x".repeat(40)).as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(lock(&sink.0).clone()).unwrap();
        let mut next = [0usize; 8];
        for line in text.lines() {
            let mut words = line.split(' ');
            let thread: usize = words.next().unwrap().parse().unwrap();
            let number: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(number, next[thread], "thread {thread} out of order");
            next[thread] += 1;
        }
        assert_eq!(next, [5_000; 8]);
    }

    #[test]
    fn a_line_is_written_soon_without_more_lines_and_after_close_at_once() {
        let sink = Sink::default();
        let (mut writer, guard) = batched(sink.clone()).unwrap();
        writer.write_all(b"first\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock(&sink.0).is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(guard);
        writer.write_all(b"late\n").unwrap();
        assert_eq!(lock(&sink.0).as_slice(), b"first\nlate\n");
    }
}
