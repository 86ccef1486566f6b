//! What the store holds, as serde records (JSON in sled, readable in exports).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::ArticleId;

/// Every article id ever seen. Kept after the item leaves its feed (a tombstone),
/// so an item that comes back is never new again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenRecord {
    pub feed_key: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// False for items recorded by the first-poll baseline and never delivered.
    pub delivered: bool,
}

/// Per-feed fetch state. Validators are kept exactly as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedState {
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub items_known: u64,
    /// Set by the first successful poll; before it, every item is baseline.
    pub baselined: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberState {
    /// When the subscriber first appeared in the config: nothing older is sent.
    pub added_at: DateTime<Utc>,
    /// The last schedule slot handled: a digest sent, or nothing to send.
    #[serde(default)]
    pub last_slot: Option<DateTime<Utc>>,
    pub last_sent: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl SubscriberState {
    /// The moment the schedule counts from.
    pub fn since(&self) -> DateTime<Utc> {
        self.last_slot.unwrap_or(self.added_at)
    }

    /// After a failed send, the daemon waits this long before trying again.
    pub const RETRY_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

    pub fn in_retry_backoff(&self, now: DateTime<Utc>) -> bool {
        self.last_error.is_some() && self.last_attempt.is_some_and(|at| now < at + Self::RETRY_AFTER)
    }
}

/// A rendered digest waiting for the server's 2xx. It survives a crash so the
/// very same message (same Message-ID) is sent again on restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub message_id: String,
    pub article_ids: Vec<ArticleId>,
    pub created_at: DateTime<Utc>,
    /// The whole RFC 5322 message; ASCII because lettre encodes every part.
    pub message: String,
    /// The HTML part, for the file transport's `.html` copy.
    pub html: String,
}
