//! Read scopes (see [`ReadScope`]): the connection and snapshot a thread's reads share, kept in
//! a thread-local so that the store's reads inside `work` find it.

use std::cell::RefCell;
use std::sync::Arc;

use diesel::Connection;
use diesel::connection::TransactionManager as _;

use super::pool::ConnectionManager;
use super::{DbConnection, DbError, DieselStore, begin};
use crate::{ReadScope, StoreError};

/// A read scope open on this thread (see [`ReadScope`]): the connection holding its snapshot
/// and the store it belongs to.
pub(super) struct OpenScope {
    key: usize,
    connection: r2d2::PooledConnection<ConnectionManager>,
    /// The identity epoch of the snapshot, once read (it cannot change within one).
    identity_epoch: Option<i64>,
    /// Opened by [`ReadScope::read_scope_now`] on a thread that must not wait (an async
    /// worker): a personal token's last-use update from inside it goes to the blocking pool,
    /// and any other write is a bug (see `transaction`).
    inline: bool,
}

thread_local! {
    static OPEN_SCOPE: RefCell<Option<OpenScope>> = const { RefCell::new(None) };
}

impl DieselStore {
    fn scope_key(&self) -> usize {
        Arc::as_ptr(&self.scope_key) as usize
    }

    /// Runs `work` on this store's read scope open on this thread, if there is one.
    /// Whether this store's read scope open on this thread was opened inline, on a thread that
    /// must not wait (see [`ReadScope::read_scope_now`]).
    pub(crate) fn in_inline_scope(&self) -> bool {
        self.with_open_scope(|scope| scope.inline).unwrap_or(false)
    }

    pub(super) fn with_open_scope<R>(&self, work: impl FnOnce(&mut OpenScope) -> R) -> Option<R> {
        OPEN_SCOPE.with(|cell| {
            let mut open = cell.try_borrow_mut().ok()?;
            let scope = open
                .as_mut()
                .filter(|scope| scope.key == self.scope_key())?;
            Some(work(scope))
        })
    }

    /// Runs a read on the snapshot of this store's read scope open on this thread, if there is
    /// one. A read there is never retried: in a snapshot a read cannot lose a race.
    pub(super) fn in_open_scope<T>(
        &self,
        work: &mut impl FnMut(&mut DbConnection) -> Result<T, DbError>,
    ) -> Option<Result<T, StoreError>> {
        self.with_open_scope(|scope| work(&mut scope.connection).map_err(DbError::into_store))
    }

    /// The identity epoch: from this store's read scope open on this thread, read at most once
    /// per scope (a snapshot's epoch cannot change); otherwise read in a transaction of its own.
    pub(crate) fn identity_epoch_once(
        &self,
        load: impl Fn(&mut DbConnection) -> Result<i64, DbError>,
    ) -> Result<i64, StoreError> {
        let scoped = self.with_open_scope(|scope| {
            if let Some(epoch) = scope.identity_epoch {
                return Ok(epoch);
            }
            let epoch = load(&mut scope.connection).map_err(DbError::into_store);
            scope.identity_epoch = epoch.as_ref().ok().copied();
            epoch
        });
        scoped.unwrap_or_else(|| self.read(load))
    }
}

impl ReadScope for DieselStore {
    fn read_scope(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        if self.has_open_scope() {
            work();
            return Ok(());
        }
        let connection = self.connection()?;
        self.open_scope(connection, false, work)
    }

    fn read_scope_now(&self, work: &mut dyn FnMut()) -> Option<Result<(), StoreError>> {
        // A PostgreSQL read waits for round trips to the server; only an embedded database's
        // reads are work this thread does itself.
        if self.backend != "sqlite" {
            return None;
        }
        if self.has_open_scope() {
            work();
            return Some(Ok(()));
        }
        let connection = self.pool.try_get()?;
        Some(self.open_scope(connection, true, work))
    }
}

impl DieselStore {
    /// Whether this store's read scope is open on this thread (or the thread-local is busy,
    /// which only a scope in progress makes it).
    fn has_open_scope(&self) -> bool {
        OPEN_SCOPE.with(|cell| {
            cell.try_borrow().map_or(true, |open| {
                open.as_ref()
                    .is_some_and(|scope| scope.key == self.scope_key())
            })
        })
    }

    /// Opens a read scope on `connection` for `work` and closes it after.
    fn open_scope(
        &self,
        mut connection: r2d2::PooledConnection<ConnectionManager>,
        inline: bool,
        work: &mut dyn FnMut(),
    ) -> Result<(), StoreError> {
        begin(&mut connection, true).map_err(|error| DbError::from(error).into_store())?;
        let outer = OPEN_SCOPE.with(|cell| {
            cell.borrow_mut().replace(OpenScope {
                key: self.scope_key(),
                connection,
                identity_epoch: None,
                inline,
            })
        });
        // Ends the snapshot and puts back what was there (another store's scope) even if
        // `work` panics.
        let _close = CloseScope(outer);
        work();
        Ok(())
    }
}

/// Closes the read scope open on this thread when dropped, restoring the one it replaced.
/// Ending a read-only transaction cannot undo anything read in it; if it fails, the connection
/// is broken and the pool discards it on return.
struct CloseScope(Option<OpenScope>);

impl Drop for CloseScope {
    fn drop(&mut self) {
        type Manager = <DbConnection as Connection>::TransactionManager;
        let outer = self.0.take();
        let closed = OPEN_SCOPE.with(|cell| {
            cell.try_borrow_mut()
                .ok()
                .and_then(|mut open| std::mem::replace(&mut *open, outer))
        });
        if let Some(mut scope) = closed {
            let _ = Manager::commit_transaction(&mut *scope.connection);
        }
    }
}
