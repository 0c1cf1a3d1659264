//! Moving file bytes: the upload body into the blob store, and blobs out with byte ranges.

use std::io;
use std::ops::Range;
use std::pin::pin;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use bytes::Bytes;
use conan_store::blob::{BlobStore, Sha256Hex};
use futures::future::{Either, select};
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::error::ApiError;

/// How many body chunks may wait between the request and the blob store: enough to keep both
/// busy, few enough that a slow store holds back the client instead of filling memory.
const CHANNEL_CAPACITY: usize = 8;

/// Feeds `payload` to `consume` as a `Send` stream and returns what `consume` returns.
///
/// actix-web's request payload is not `Send`, while the blob store needs a `Send` body, so the
/// chunks cross a bounded channel. Both sides run in the handler's task: no spawned task can
/// outlive the request. A payload error (the client went away mid-body) reaches the store as an
/// `io::Error`, so it discards everything. When `consume` finishes first (a refused body, an
/// oversized one), the rest of the payload is not read.
pub(crate) async fn forward_body<S, E, F, Fut, T>(payload: S, consume: F) -> T
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
    F: FnOnce(BoxStream<'static, io::Result<Bytes>>) -> Fut,
    Fut: Future<Output = T>,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel(CHANNEL_CAPACITY);
    let body = futures::stream::poll_fn(move |context| receiver.poll_recv(context)).boxed();
    let pump = async move {
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let failed = chunk.is_err();
            let item = chunk.map_err(|error| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the request body failed: {error}"),
                )
            });
            // A closed channel means the store stopped reading: stop too.
            if sender.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    let consumer = pin!(consume(body));
    let pump = pin!(pump);
    match select(consumer, pump).await {
        Either::Left((output, _unfinished_pump)) => output,
        Either::Right(((), consumer)) => consumer.await,
    }
}

/// What a `Range` header asks for, resolved against the file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable `Range`: the whole file (a malformed or multi-range header is ignored, as
    /// RFC 9110 allows).
    Full,
    /// These bytes (end exclusive).
    Partial(Range<u64>),
    /// A range outside the file: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value (`bytes=N-`, `bytes=N-M`, `bytes=-N`) against `size`.
pub(crate) fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(value) = header else {
        return RangeRequest::Full;
    };
    let Some((unit, spec)) = value.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // A suffix: the last N bytes.
        return match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if size == 0 => RangeRequest::Unsatisfiable,
            Ok(length) => RangeRequest::Partial(size.saturating_sub(length)..size),
            Err(_) => RangeRequest::Full,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        size
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(size),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(start..end)
    }
}

/// How a download may leave the registry other than through it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Offload<'a> {
    /// A `302` to a presigned URL of the store, valid this long (`api.redirect_downloads`).
    pub(crate) redirect: Option<Duration>,
    /// nginx's internal location of the blob directory (`api.accel_redirect`).
    pub(crate) accel: Option<&'a str>,
}

impl<'a> Offload<'a> {
    /// What `config` allows.
    pub(crate) fn of(config: &'a crate::config::ApiConfig) -> Self {
        Self {
            redirect: config
                .redirect_downloads
                .then(|| Duration::from_secs(config.redirect_ttl_secs)),
            accel: config.accel_redirect.as_deref(),
        }
    }
}

/// Streams the blob `sha256` of `size` bytes: 200 with the whole content or 206 with `Content-Range`, always with
/// `Content-Length`, `Accept-Ranges: bytes`, `application/octet-stream` and never a
/// `Content-Encoding` (the client would inflate a `.tgz` and then fail its length check).
/// Where `offload` allows and the store can, the bytes go another way: a redirect to the store,
/// or nginx sending the file named in `X-Accel-Redirect` (it honours the `Range` itself).
pub(crate) async fn download(
    blobs: &dyn BlobStore,
    sha256: &Sha256Hex,
    size: u64,
    range_header: Option<&str>,
    offload: Offload<'_>,
) -> Result<HttpResponse, ApiError> {
    let range = match parse_range(range_header, size) {
        RangeRequest::Full => None,
        RangeRequest::Partial(range) => Some(range),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
    };
    if let Some(location) = offload.accel
        && let Some(path) = blobs.local_path(sha256)
    {
        return Ok(HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ))
            .insert_header(("X-Accel-Redirect", format!("{location}{path}")))
            .finish());
    }
    let redirect = offload.redirect;
    if let Some(ttl) = redirect
        && let Some(url) = blobs.download_url(sha256, ttl).await?
    {
        // The client repeats its `Range` header on the new host, and the store honours it.
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish());
    }
    let partial = range.is_some();
    let reader = blobs.open(sha256, range).await?;
    let length = reader.content_length();
    let mut response = if partial {
        let mut builder = HttpResponse::PartialContent();
        builder.insert_header((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                reader.range.start,
                reader.range.end.saturating_sub(1),
                reader.size
            ),
        ));
        builder
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
    Ok(response.body(SizedStream::new(length, fair(reader.body))))
}

/// A 200 with the whole file in `bytes`.
pub(crate) fn octets(bytes: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ))
        .body(bytes)
}

/// A 200 streaming `body` as it comes (a remote project's file arriving from its upstream),
/// sized when the upstream announced the size. A body that fails cuts the transfer, so the
/// client never takes a partial file for a whole one.
pub(crate) fn live(size: Option<u64>, body: BoxStream<'static, io::Result<Bytes>>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    ));
    match size {
        Some(size) => response.body(SizedStream::new(size, fair(body))),
        None => response.streaming(fair(body)),
    }
}

/// How many bytes of a download go to the HTTP worker between two yields.
///
/// A worker thread serves many connections. Each poll of a download copies what the body yields
/// into the connection's buffer and writes it to the socket, and the runtime looks for sockets
/// that became readable (a `latest` request waiting behind the downloads) only after a few dozen
/// task polls. Yielding after every 512 KiB bounds how long one download holds the worker:
/// measured with 8 and 16 concurrent 1 GiB downloads, `latest` beside them got 2-3x its rate
/// and a third of its p99, and the downloads went no slower (docs/BENCHMARKS.md, 2026-12-06
/// "Under transfer load"). Smaller slices cut the latency further but cost download
/// throughput (64 KiB: -35%).
const FAIR_SLICE: usize = 512 * 1024;

/// Hands `body` on in slices of at most [`FAIR_SLICE`] bytes (cut without copying) and yields
/// the worker each time [`FAIR_SLICE`] bytes have gone out, so that a few large downloads
/// cannot hold a worker thread while small requests on its other connections wait. Chunks and
/// errors are otherwise passed on unchanged.
fn fair<E>(body: BoxStream<'static, Result<Bytes, E>>) -> FairSlices<E> {
    FairSlices {
        body,
        rest: Bytes::new(),
        since_yield: 0,
        yield_next: false,
    }
}

/// The stream [`fair`] returns.
struct FairSlices<E> {
    body: BoxStream<'static, Result<Bytes, E>>,
    /// What is left of the last chunk the body gave.
    rest: Bytes,
    /// Bytes handed on since the last yield.
    since_yield: usize,
    /// Whether the next poll yields before anything else.
    yield_next: bool,
}

impl<E> Stream for FairSlices<E> {
    type Item = Result<Bytes, E>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.yield_next {
            // Back of the worker's queue: its other tasks (and the readiness check) run first.
            self.yield_next = false;
            context.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.rest.is_empty() {
            match self.body.poll_next_unpin(context) {
                Poll::Ready(Some(Ok(chunk))) => self.rest = chunk,
                other => return other,
            }
        }
        let take = self.rest.len().min(FAIR_SLICE - self.since_yield);
        let slice = self.rest.split_to(take);
        self.since_yield += take;
        if self.since_yield >= FAIR_SLICE {
            self.since_yield = 0;
            self.yield_next = true;
        }
        Poll::Ready(Some(Ok(slice)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::{Full, Partial, Unsatisfiable};
        let cases: &[(Option<&str>, u64, RangeRequest)] = &[
            (None, 10, Full),
            (Some("bytes=0-"), 10, Partial(0..10)),
            (Some("bytes=3-"), 10, Partial(3..10)),
            (Some("bytes=3-5"), 10, Partial(3..6)),
            (Some("bytes=3-3"), 10, Partial(3..4)),
            (Some("bytes=3-100"), 10, Partial(3..10)),
            (Some(" Bytes = 2 - 4 "), 10, Partial(2..5)),
            (Some("bytes=-4"), 10, Partial(6..10)),
            (Some("bytes=-40"), 10, Partial(0..10)),
            (Some("bytes=9-"), 10, Partial(9..10)),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-12"), 10, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=-3"), 0, Unsatisfiable),
            (Some("bytes=5-3"), 10, Full),
            (Some("bytes=0-1,4-5"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes=a-b"), 10, Full),
            (Some("bytes"), 10, Full),
            (Some("bytes=18446744073709551615-"), 10, Unsatisfiable),
            (Some("bytes=0-18446744073709551615"), 10, Partial(0..10)),
        ];
        for (header, size, expected) in cases {
            assert_eq!(
                &parse_range(*header, *size),
                expected,
                "{header:?} of {size}"
            );
        }
    }

    #[actix_web::test]
    async fn a_failing_payload_reaches_the_consumer_as_an_error() {
        let payload = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("connection reset"),
            Ok(Bytes::from_static(b"never read")),
        ]);
        let seen = forward_body(payload, |mut body| async move {
            let mut seen = Vec::new();
            while let Some(item) = body.next().await {
                seen.push(item.map_err(|error| error.to_string()));
            }
            seen
        })
        .await;
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].as_deref().ok(), Some(&b"abc"[..]));
        assert!(seen[1].as_ref().unwrap_err().contains("connection reset"));
    }

    #[actix_web::test]
    async fn a_consumer_that_stops_early_stops_the_pump() {
        // An endless payload: if the pump did not stop with the consumer this would never end.
        let payload = futures::stream::repeat_with(|| Ok::<_, &str>(Bytes::from_static(b"x")));
        let first = forward_body(payload, |mut body| async move { body.next().await }).await;
        assert!(matches!(first, Some(Ok(chunk)) if chunk == "x"));
    }

    /// Polls `slices` to the end with a waker that does nothing: the items it gave and how many
    /// times it yielded.
    fn drain<E>(mut slices: FairSlices<E>) -> (Vec<Result<Bytes, E>>, usize) {
        use std::task::{Context, Poll};
        let waker = futures::task::noop_waker();
        let mut context = Context::from_waker(&waker);
        let (mut items, mut yields) = (Vec::new(), 0);
        loop {
            match std::pin::Pin::new(&mut slices).poll_next(&mut context) {
                Poll::Pending => yields += 1,
                Poll::Ready(Some(item)) => items.push(item),
                Poll::Ready(None) => return (items, yields),
            }
        }
    }

    #[test]
    fn fair_slices_keep_the_bytes_and_yield_every_slice() {
        let big: Vec<u8> = (0..FAIR_SLICE * 2 + 100).map(|i| (i % 251) as u8).collect();
        let body = futures::stream::iter(vec![
            Ok(Bytes::from(big.clone())),
            Ok(Bytes::from_static(b"tail")),
            Err("the disk failed"),
            Ok(Bytes::from_static(b"after the error")),
        ])
        .boxed();
        let (items, yields) = drain(fair(body));
        let lengths: Vec<_> = items
            .iter()
            .map(|item| item.as_ref().map(Bytes::len))
            .collect();
        // The big chunk in two full slices and the rest, then the rest of the body unchanged.
        assert_eq!(
            lengths,
            [
                Ok(FAIR_SLICE),
                Ok(FAIR_SLICE),
                Ok(100),
                Ok(4),
                Err(&"the disk failed"),
                Ok(15)
            ]
        );
        let bytes: Vec<u8> = items.iter().flatten().flat_map(|b| b.to_vec()).collect();
        assert_eq!(bytes, [&big[..], b"tail", b"after the error"].concat());
        // A yield after each full slice, none for the 119 bytes after them.
        assert_eq!(yields, 2);
    }

    #[test]
    fn fair_slices_yield_after_a_slice_of_small_chunks() {
        // Chunks as an S3 body gives them: small, several to a slice.
        let quarter = FAIR_SLICE / 4;
        let body = futures::stream::iter(
            (0..10).map(move |_| Ok::<_, ()>(Bytes::from(vec![7u8; quarter]))),
        )
        .boxed();
        let (items, yields) = drain(fair(body));
        assert_eq!(items.len(), 10);
        assert!(
            items
                .iter()
                .all(|item| item.as_ref().is_ok_and(|b| b.len() == quarter))
        );
        // 2.5 slices: a yield after the 4th and the 8th chunk.
        assert_eq!(yields, 2);
    }
}
