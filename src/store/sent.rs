//! The `sent` tree: what each subscriber received lately, so a story that
//! comes back from another outlet is shown as a follow-up, not as news.

use chrono::{DateTime, Utc};

use super::{Records, Store, StoreError, decode, encode, pending_prefix};
use crate::article::ArticleId;
use crate::digest::SentStory;

/// A key and its encoded record, ready for a transaction.
type Row = (Vec<u8>, Vec<u8>);

fn sent_key(email: &str, at: DateTime<Utc>, id: &ArticleId) -> Vec<u8> {
    let mut key = pending_prefix(email);
    key.extend_from_slice(&at.timestamp_millis().to_be_bytes());
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The rows [`Store::commit_sent`] writes for what `email` was sent.
pub(super) fn rows(email: &str, sent: &[(ArticleId, SentStory)]) -> Result<Vec<Row>, StoreError> {
    sent.iter()
        .map(|(id, story)| Ok((sent_key(email, story.sent_at, id), encode(story)?)))
        .collect()
}

impl Store {
    /// What `email` was sent at or after `since`, oldest first.
    pub fn sent_since(&self, email: &str, since: DateTime<Utc>) -> Result<Vec<SentStory>, StoreError> {
        let prefix = pending_prefix(email);
        let mut start = prefix.clone();
        start.extend_from_slice(&since.timestamp_millis().to_be_bytes());
        let mut end = prefix;
        end.extend_from_slice(&i64::MAX.to_be_bytes());
        let mut stories = Vec::new();
        for row in self.sent.range(start..end) {
            let (key, bytes) = row.records("sent", "scan")?;
            stories.push(decode("sent", &key, &bytes)?);
        }
        Ok(stories)
    }

    /// Forgets what was sent before `before`; returns how many rows went.
    pub(super) fn prune_sent(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for row in self.sent.iter() {
            let (key, bytes) = row.records("sent", "scan")?;
            let story: SentStory = decode("sent", &key, &bytes)?;
            if story.sent_at < before {
                batch.remove(key);
                removed += 1;
            }
        }
        self.sent.apply_batch(batch).records("sent", "write")?;
        Ok(removed)
    }
}
