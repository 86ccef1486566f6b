//! The outbox record: what makes delivery exactly-once. A digest is written
//! here before it is sent and leaves only with the server's 2xx.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::article::ArticleId;

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
    /// Old articles left out at the bound of what may wait: they leave
    /// pending with this digest, but were not sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<ArticleId>,
}
