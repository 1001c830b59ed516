//! Where SQLite's blocking calls run.
//!
//! diesel's SQLite connection is synchronous; diesel-async runs each call on tokio's blocking
//! pool. That hop costs more than a small read: a thread wake-up each way, and rows copied
//! into owned buffers on one thread and freed on another (perf of a 20-row list: 22 % of the
//! samples in the kernel, 31 % in the allocator, 9 % in SQLite itself).
//!
//! Reads wrapped in [`inline`] therefore run on the calling task's thread. In WAL mode (the
//! mode of a database file) a reader does not wait for writers. Everything else (writes, which
//! may wait up to `busy_timeout` for the write lock, migrations, opening a file) still goes to
//! the blocking pool.
//!
//! The trade-off: while a read runs, its worker thread serves nothing else. A list over a large
//! table with a JSON condition is CPU work for as long as the scan takes, as it would be on the
//! blocking pool; the other worker threads go on serving. This is how a Node.js server runs
//! SQLite too. For large tables and heavy lists, PostgreSQL is the backend to use.

use std::error::Error;
use std::future::Future;

use diesel::sqlite::SqliteConnection;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use futures_util::future::BoxFuture;

tokio::task_local! {
    /// Set while a read marked by [`inline`] runs.
    static INLINE: ();
}

/// Runs the SQLite calls `read` makes, which must only read, on the current thread. A call
/// is placed when it is made, so `read` must make them (not a future built before).
pub async fn inline<F: Future>(read: F) -> F::Output {
    INLINE.scope((), read).await
}

/// The runtime of Castellan's SQLite connections: inline within [`inline`], otherwise the one
/// diesel-async uses by default (tokio's blocking pool; a dropped call is waited for, so the
/// connection is never handed on while still in use).
pub struct SqliteRuntime(DefaultRuntime);

/// diesel-async's default runtime, which its crate does not name.
type DefaultRuntime = <SyncConnectionWrapper<SqliteConnection> as HasRuntime>::Runtime;

trait HasRuntime {
    type Runtime: SpawnBlocking;
}

impl<C, S: SpawnBlocking> HasRuntime for SyncConnectionWrapper<C, S> {
    type Runtime = S;
}

impl SpawnBlocking for SqliteRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        if INLINE.try_with(|_| ()).is_ok() {
            // A panic becomes an error, as it does when the pool runs the call.
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task))
                .map_err(|_| "a SQLite read panicked".into());
            return Box::pin(std::future::ready(done));
        }
        self.0.spawn_blocking(task)
    }

    fn get_runtime() -> Self {
        Self(DefaultRuntime::get_runtime())
    }
}

#[cfg(test)]
mod tests {
    use diesel_async::AsyncConnection;

    use super::*;
    use crate::db::SqliteConn;

    #[tokio::test]
    async fn marked_reads_run_on_the_calling_thread_and_the_rest_on_the_pool() {
        let mut conn = SqliteConn::establish(":memory:").await.unwrap();
        let here = std::thread::current().id();
        let on_pool = conn
            .spawn_blocking(|_| Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(on_pool, here);
        let inline_read = inline(async {
            conn.spawn_blocking(|_| Ok(std::thread::current().id()))
                .await
        })
        .await
        .unwrap();
        assert_eq!(inline_read, here);
        // A call made before `inline` is entered has already gone to the pool.
        let made_before = conn.spawn_blocking(|_| Ok(std::thread::current().id()));
        assert_ne!(inline(made_before).await.unwrap(), here);
        // A read that panics is an error, and the connection stays usable.
        let panicked = inline(async {
            conn.spawn_blocking(|_| -> diesel::QueryResult<()> { panic!("boom") })
                .await
        })
        .await;
        assert!(panicked.is_err());
        let after = inline(async { conn.spawn_blocking(|_| Ok(1)).await }).await;
        assert_eq!(after.unwrap(), 1);
    }
}
