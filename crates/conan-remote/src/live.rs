//! A revision while it is being fetched: what a reader can have of it before it is committed.
//!
//! The fetch ([`Mirror`](crate::Mirror)) lists the revision, reads `conanmanifest.txt` into
//! memory first (it is small, and clients ask for it first), then fetches the other files one
//! by one, and stores the manifest last, which commits the revision. Meanwhile a reader of one
//! file gets, through [`Progress`]:
//! - the manifest's bytes, from memory, as soon as they are read;
//! - a file not yet started: its bytes as they arrive from the upstream, teed from the body
//!   being stored ([`tee`]), so the client does not wait for the whole revision;
//! - a file already stored: its digests, to read its blob (published, though the revision is
//!   not committed yet);
//! - a file already streaming to others: nothing until it is stored (a late reader cannot have
//!   the bytes that went by; it waits, then reads the blob).
//!
//! A teed body never ends cleanly before the file is stored and checked: its last chunk is
//! held back and sent, with [`Piece::End`], only after storing succeeded, so a body the store
//! refused (cut short, checksum different) reaches the reader as an error and short of its
//! announced size, never as a complete transfer.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use conan_model::FilePath;
use conan_store::blob::Digests;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, watch};

use crate::MirrorError;

/// How many pieces may wait for one reader: with the upstream's chunks of at most a few tens of
/// KiB, a reader holds at most this many in memory.
const READER_CAPACITY: usize = 8;

/// How long a reader may leave a piece untaken before it is dropped (its transfer is cut; the
/// next ask reads the stored file): one stalled client does not hold the fetch for the others.
const READER_PATIENCE: Duration = Duration::from_secs(10);

/// What a reader of a file being fetched receives.
#[derive(Debug, Clone)]
pub(crate) enum Piece {
    /// The file starts: the size the upstream announced, when it did.
    Start(Option<u64>),
    /// The next bytes.
    Data(Bytes),
    /// The file is stored and checked: the bytes sent were exactly these.
    End,
    /// The fetch failed: the bytes sent must not be used.
    Fail(String),
}

type Reader = mpsc::Sender<Piece>;

/// The readers a file streams to; those that stop taking pieces are dropped. The last chunk
/// of the body is held back until the store accepted the file ([`finish`](Self::finish)), so a
/// reader of a body refused at its end (a checksum that differs) never has every byte.
#[derive(Clone, Default)]
pub(crate) struct Readers(Arc<Mutex<Vec<Reader>>>, Arc<Mutex<Option<Bytes>>>);

impl Readers {
    /// Sends `piece` to every reader, dropping those gone or stalled for [`READER_PATIENCE`].
    pub(crate) async fn deliver(&self, piece: &Piece) {
        let readers: Vec<Reader> = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if readers.is_empty() {
            return;
        }
        // All at once: stalled readers cost one patience in all, not one each.
        let sends = readers
            .iter()
            .map(|reader| tokio::time::timeout(READER_PATIENCE, reader.send(piece.clone())));
        let gone: Vec<usize> = futures::future::join_all(sends)
            .await
            .into_iter()
            .enumerate()
            .filter(|(_, sent)| !matches!(sent, Ok(Ok(()))))
            .map(|(index, _)| index)
            .collect();
        if !gone.is_empty() {
            let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let mut index = 0;
            kept.retain(|_| {
                let keep = !gone.contains(&index);
                index += 1;
                keep
            });
        }
    }

    /// `body`, delivering each chunk to the readers on its way, one chunk behind (and a
    /// failure as [`Piece::Fail`]).
    pub(crate) fn tee(
        &self,
        body: BoxStream<'static, io::Result<Bytes>>,
    ) -> BoxStream<'static, io::Result<Bytes>> {
        let readers = self.clone();
        body.then(move |chunk| {
            let readers = readers.clone();
            async move {
                let piece = match &chunk {
                    Ok(bytes) if bytes.is_empty() => None,
                    Ok(bytes) => readers
                        .1
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .replace(bytes.clone())
                        .map(Piece::Data),
                    Err(error) => Some(Piece::Fail(error.to_string())),
                };
                if let Some(piece) = piece {
                    readers.deliver(&piece).await;
                }
                chunk
            }
        })
        .boxed()
    }

    /// The store accepted the file: the held-back chunk, then [`Piece::End`].
    pub(crate) async fn finish(&self) {
        let held = self.1.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(bytes) = held {
            self.deliver(&Piece::Data(bytes)).await;
        }
        self.deliver(&Piece::End).await;
    }
}

/// One file's state in a fetch.
enum FileState {
    /// Not started; these readers wait for its first byte.
    Waiting(Readers),
    /// Streaming to the readers that were waiting for it.
    Live,
    /// Stored (its blob published).
    Stored(Digests),
    /// Read into memory, stored at the end (the manifest).
    Memory(Bytes),
}

/// How a fetch ended.
#[derive(Clone)]
pub(crate) enum Ended {
    /// The revision is committed (or nothing was fetched): read it from the store.
    Committed,
    /// It failed.
    Failed(MirrorError),
}

#[derive(Default)]
struct State {
    /// The upstream's list, once known.
    paths: Option<Vec<FilePath>>,
    files: HashMap<FilePath, FileState>,
    ended: Option<Ended>,
}

/// A file of a revision being fetched, as a reader may have it now.
pub enum Tapped {
    /// Its bytes as they arrive from the upstream, from the first one (the size the upstream
    /// announced, when it did). The stream ends with an error if the fetch fails, so the
    /// reader's transfer is cut rather than completed with bytes that were refused.
    Live {
        /// The announced size.
        size: Option<u64>,
        /// The bytes.
        body: BoxStream<'static, io::Result<Bytes>>,
    },
    /// Stored: its blob is published under these digests (the revision is not committed yet).
    Stored(Digests),
    /// Held in memory until it is stored last (the manifest).
    Bytes(Bytes),
}

impl std::fmt::Debug for Tapped {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Live { size, .. } => formatter.debug_struct("Live").field("size", size).finish(),
            Self::Stored(digests) => formatter.debug_tuple("Stored").field(digests).finish(),
            Self::Bytes(bytes) => formatter.debug_tuple("Bytes").field(&bytes.len()).finish(),
        }
    }
}

/// What a reader learns from the fetch: an answer, or that the revision is committed (read it
/// from the store).
pub(crate) enum Seen<T> {
    /// The answer.
    Now(T),
    /// The revision is committed, or the fetch ended without one: read the store.
    Committed,
}

/// What [`Progress::tap`] found under the lock.
enum Step {
    Ready(Tapped),
    Subscribed(mpsc::Receiver<Piece>),
}

/// The state of one revision's fetch, shared by the fetch and its readers.
pub(crate) struct Progress {
    state: Mutex<State>,
    changes: watch::Sender<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            changes: watch::channel(0).0,
        }
    }
}

impl Progress {
    fn change<T>(&self, work: impl FnOnce(&mut State) -> T) -> T {
        let answer = work(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changes.send_modify(|version| *version += 1);
        answer
    }

    /// Waits until `look` answers, looking again at each change; an ended fetch answers for it.
    async fn until<T>(
        &self,
        mut look: impl FnMut(&mut State) -> Option<Result<T, MirrorError>>,
    ) -> Result<Seen<T>, MirrorError> {
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                match &state.ended {
                    Some(Ended::Committed) => return Ok(Seen::Committed),
                    Some(Ended::Failed(error)) => return Err(error.clone()),
                    None => {}
                }
                if let Some(answer) = look(&mut state) {
                    return answer.map(Seen::Now);
                }
            }
            if changes.changed().await.is_err() {
                return Ok(Seen::Committed);
            }
        }
    }

    /// The revision's file list, once the fetch has it.
    pub(crate) async fn listing(&self) -> Result<Seen<Vec<FilePath>>, MirrorError> {
        self.until(|state| state.paths.clone().map(Ok)).await
    }

    /// The file `path` as a reader may have it now (see the module's documentation); waits for
    /// the list, for a file already streaming to be stored, and for a waiting file's start.
    /// `describe` names the revision in a "not found".
    pub(crate) async fn tap(
        &self,
        path: &FilePath,
        describe: &str,
    ) -> Result<Seen<Tapped>, MirrorError> {
        let step = self
            .until(|state| {
                let paths = state.paths.as_ref()?;
                if !paths.contains(path) {
                    return Some(Err(MirrorError::NotFound(format!("{describe} {path}"))));
                }
                match state
                    .files
                    .entry(path.clone())
                    .or_insert_with(|| FileState::Waiting(Readers::default()))
                {
                    FileState::Waiting(readers) => {
                        let (sender, receiver) = mpsc::channel(READER_CAPACITY);
                        readers
                            .0
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(sender);
                        Some(Ok(Step::Subscribed(receiver)))
                    }
                    FileState::Live => None,
                    FileState::Stored(digests) => {
                        Some(Ok(Step::Ready(Tapped::Stored(digests.clone()))))
                    }
                    FileState::Memory(bytes) => Some(Ok(Step::Ready(Tapped::Bytes(bytes.clone())))),
                }
            })
            .await?;
        let mut receiver = match step {
            Seen::Committed => return Ok(Seen::Committed),
            Seen::Now(Step::Ready(tapped)) => return Ok(Seen::Now(tapped)),
            Seen::Now(Step::Subscribed(receiver)) => receiver,
        };
        let size = match receiver.recv().await {
            Some(Piece::Start(size)) => size,
            // Delivered from memory at once (a reader that asked before the list was read).
            Some(Piece::Data(bytes)) => {
                return Ok(Seen::Now(Tapped::Bytes(bytes)));
            }
            Some(Piece::Fail(message)) => {
                return Err(MirrorError::Refused {
                    path: path.to_string(),
                    message,
                });
            }
            // The fetch ended before this file started: it failed, or the revision was
            // committed meanwhile (by another node): the ended state says which.
            Some(Piece::End) | None => {
                return self.until(|_| None::<Result<Tapped, MirrorError>>).await;
            }
        };
        Ok(Seen::Now(Tapped::Live {
            size,
            body: body_of(receiver),
        }))
    }

    /// The fetch has the upstream's list.
    pub(crate) fn listed(&self, paths: Vec<FilePath>) {
        self.change(|state| state.paths = Some(paths));
    }

    /// The manifest is in memory: readers waiting for it get it now.
    pub(crate) fn in_memory(&self, path: &FilePath, bytes: &Bytes) {
        let waiting = self.change(|state| {
            state
                .files
                .insert(path.clone(), FileState::Memory(bytes.clone()))
        });
        if let Some(FileState::Waiting(readers)) = waiting {
            for reader in readers
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                // A fresh channel with room for this one piece.
                let _ = reader.try_send(Piece::Data(bytes.clone()));
            }
        }
    }

    /// `path` starts streaming: the readers waiting for it, to tee its body to.
    pub(crate) fn start(&self, path: &FilePath) -> Readers {
        let waiting = self.change(|state| state.files.insert(path.clone(), FileState::Live));
        match waiting {
            Some(FileState::Waiting(readers)) => readers,
            _ => Readers::default(),
        }
    }

    /// `path` is stored under `digests`.
    pub(crate) fn stored(&self, path: &FilePath, digests: Digests) {
        self.change(|state| {
            state.files.insert(path.clone(), FileState::Stored(digests));
        });
    }

    /// The fetch ended: readers still waiting learn how.
    pub(crate) fn end(&self, ended: &Ended) {
        let waiting = self.change(|state| {
            state.ended = Some(ended.clone());
            std::mem::take(&mut state.files)
        });
        if let Ended::Failed(error) = &ended {
            for file in waiting.into_values() {
                if let FileState::Waiting(readers) = file {
                    for reader in readers
                        .0
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter()
                    {
                        let _ = reader.try_send(Piece::Fail(error.to_string()));
                    }
                }
            }
        }
    }
}

/// The bytes a reader receives, ending cleanly only at [`Piece::End`].
fn body_of(receiver: mpsc::Receiver<Piece>) -> BoxStream<'static, io::Result<Bytes>> {
    futures::stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        match receiver.recv().await {
            Some(Piece::Data(bytes)) => Some((Ok(bytes), Some(receiver))),
            Some(Piece::End) => None,
            Some(Piece::Fail(message)) => Some((Err(io::Error::other(message)), None)),
            Some(Piece::Start(_)) => Some((
                Err(io::Error::other("the upstream file started twice")),
                None,
            )),
            None => Some((
                Err(io::Error::other("the fetch from the upstream stopped")),
                None,
            )),
        }
    })
    .boxed()
}
