//! Keeping every instance's in-memory state true: the policy snapshot, the settings and the
//! cache of signed-in users. A change is applied here at once and announced to the other
//! instances on the same PostgreSQL (LISTEN/NOTIFY), which apply it within moments.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;

use crate::app::{App, AppState};

/// The channel the instances talk on.
pub(crate) const CHANNEL: &str = "castellan_changes";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Roles, grants or conditions: reload the policy (and forget cached users, whose role may
    /// have changed with it).
    Policy,
    /// Advanced settings, email templates or providers.
    Settings,
    /// One user: blocked, deleted, role or password changed.
    User(i32),
    /// One session ended (refresh mode): its access JWTs are refused from now on.
    Session(String),
}

impl Change {
    pub(crate) fn payload(&self) -> String {
        match self {
            Self::Policy => "policy".into(),
            Self::Settings => "settings".into(),
            Self::User(id) => format!("user:{id}"),
            Self::Session(id) => format!("session:{id}"),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        match payload {
            "policy" => Some(Self::Policy),
            "settings" => Some(Self::Settings),
            other => match other.strip_prefix("session:") {
                Some(id) if !id.is_empty() => Some(Self::Session(id.to_string())),
                Some(_) => None,
                None => other.strip_prefix("user:")?.parse().ok().map(Self::User),
            },
        }
    }
}

/// Listens for the changes other instances announce (PostgreSQL only), reconnecting after a
/// lost connection; while it is away, the user cache is bypassed by its short lifetime.
pub fn listen(app: AppState, url: String) {
    tokio::spawn(async move {
        loop {
            match listen_once(&app, &url).await {
                Ok(()) => tracing::warn!("change listener stopped; reconnecting"),
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "change listener failed; reconnecting"
                ),
            }
            // Whatever was missed meanwhile: start again from the database.
            let _ = app.apply(&Change::Policy).await;
            let _ = app.apply(&Change::Settings).await;
            if let Err(error) = app.read_revoked_sessions().await {
                error.log_if_internal();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen_once(app: &App, url: &str) -> anyhow::Result<()> {
    // A server that accepts the connection but never answers must not stall the listener.
    let mut conn = tokio::time::timeout(
        crate::db::CONNECTION_WAIT,
        AsyncPgConnection::establish(url),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no connection within {:?}", crate::db::CONNECTION_WAIT))??;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .await?;
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        let notification = notification?;
        match Change::parse(&notification.payload) {
            Some(change) => {
                if let Err(error) = app.apply(&change).await {
                    error.log_if_internal();
                }
            }
            None => tracing::warn!(payload = %notification.payload, "unknown change announced"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_text() {
        for change in [
            Change::Policy,
            Change::Settings,
            Change::User(42),
            Change::Session("AbC123".into()),
        ] {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        assert_eq!(Change::parse("user:x"), None);
        assert_eq!(Change::parse("session:"), None);
    }
}
