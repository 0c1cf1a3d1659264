//! Reading upstream bodies within bounds: metadata read whole up to a limit, file bodies as a
//! stream that fails (and so stores nothing) when the upstream stalls, overruns or cuts short.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

use crate::client::UpstreamError;

/// A file body from the upstream, checked as it streams.
pub struct UpstreamFile {
    /// The size the upstream announced (`Content-Length`), when it did.
    pub size: Option<u64>,
    /// The sha1 the upstream announced (`X-Checksum-Sha1`, lowercase hex), when it did: the
    /// caller stores the body through staging and refuses it when the digests differ.
    pub sha1: Option<String>,
    /// The bytes. The stream ends with an error when the upstream is idle longer than the idle
    /// timeout, when it arrives slower than the minimum rate, when the whole body takes longer
    /// than the file deadline, when it sends more than
    /// the size limit, or when it sends fewer or more bytes than it announced.
    pub body: BoxStream<'static, Result<Bytes, io::Error>>,
}

impl fmt::Debug for UpstreamFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UpstreamFile")
            .field("size", &self.size)
            .field("sha1", &self.sha1)
            .finish_non_exhaustive()
    }
}

/// Reads a whole (metadata) body of at most `limit` bytes.
pub(crate) async fn read_limited(
    response: reqwest::Response,
    limit: u64,
) -> Result<Bytes, UpstreamError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(UpstreamError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| UpstreamError::transport(&error))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The bounds a file body streams within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileBounds {
    pub(crate) idle: Duration,
    pub(crate) deadline: Duration,
    pub(crate) limit: u64,
    /// The slowest rate accepted, in bytes a second over each span of `idle` (0: any).
    pub(crate) min_rate: u64,
}

struct Streaming {
    chunks: BoxStream<'static, reqwest::Result<Bytes>>,
    announced: Option<u64>,
    received: u64,
    deadline: Instant,
    /// Since when the bytes of the current span of `idle` are counted, and how many arrived.
    span_start: Instant,
    span_received: u64,
    bounds: FileBounds,
    done: bool,
}

impl Streaming {
    /// Counts `size` more bytes; an error when a whole span of `idle` went by with fewer bytes
    /// than the minimum rate asks (a trickle that the idle timeout alone would never stop).
    fn too_slow(&mut self, size: u64) -> Option<String> {
        self.span_received += size;
        let elapsed = self.span_start.elapsed();
        if self.bounds.min_rate == 0 || elapsed < self.bounds.idle {
            return None;
        }
        let needed = u128::from(self.bounds.min_rate) * elapsed.as_millis() / 1000;
        if u128::from(self.span_received) < needed {
            return Some(format!(
                "the upstream sent {} bytes in {elapsed:?}, slower than {} bytes a second",
                self.span_received, self.bounds.min_rate
            ));
        }
        self.span_start = Instant::now();
        self.span_received = 0;
        None
    }
}

fn failure(message: String) -> io::Error {
    io::Error::other(message)
}

/// The checked stream of a file response (whose `Content-Length`, if any, is within the limit).
pub(crate) fn file_stream(
    response: reqwest::Response,
    bounds: FileBounds,
) -> BoxStream<'static, Result<Bytes, io::Error>> {
    let state = Streaming {
        announced: response.content_length(),
        chunks: response.bytes_stream().boxed(),
        received: 0,
        deadline: Instant::now() + bounds.deadline,
        span_start: Instant::now(),
        span_received: 0,
        bounds,
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let wait = state
            .bounds
            .idle
            .min(state.deadline.saturating_duration_since(Instant::now()));
        let next = match tokio::time::timeout(wait, state.chunks.next()).await {
            Err(_) => Some(Err(failure(if Instant::now() >= state.deadline {
                format!(
                    "the upstream took longer than {:?} to send the file",
                    state.bounds.deadline
                )
            } else {
                format!(
                    "the upstream sent nothing for {:?} while sending the file",
                    state.bounds.idle
                )
            }))),
            Ok(None) => match state.announced {
                Some(announced) if announced != state.received => Some(Err(failure(format!(
                    "the upstream announced {announced} bytes and sent {}",
                    state.received
                )))),
                _ => None,
            },
            Ok(Some(Err(error))) => Some(Err(failure(format!(
                "the upstream's body failed after {} bytes: {}",
                state.received,
                UpstreamError::transport(&error)
            )))),
            Ok(Some(Ok(chunk))) => {
                state.received += chunk.len() as u64;
                if let Some(message) = state.too_slow(chunk.len() as u64) {
                    Some(Err(failure(message)))
                } else if state.received > state.bounds.limit {
                    Some(Err(failure(format!(
                        "the upstream's file is larger than the limit of {} bytes",
                        state.bounds.limit
                    ))))
                } else if state
                    .announced
                    .is_some_and(|announced| state.received > announced)
                {
                    Some(Err(failure(format!(
                        "the upstream sent more than the {} bytes it announced",
                        state.announced.unwrap_or_default()
                    ))))
                } else {
                    Some(Ok(chunk))
                }
            }
        };
        match next {
            None => None,
            Some(Ok(chunk)) => Some((Ok(chunk), state)),
            Some(Err(error)) => {
                state.done = true;
                Some((Err(error), state))
            }
        }
    })
    .boxed()
}
