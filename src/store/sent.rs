//! The `sent` tree: what each subscriber received lately, so a story that
//! comes back from another outlet is shown as a follow-up, not as news.
//!
//! Since schema 5 a digest is one record, `email \0 sent time (ms,
//! big-endian)` → the stories it carried, oldest first: a send writes one
//! value and the prune removes by key, where schema 4 and before wrote a
//! record per article (`… sent time, article id` → one [`SentStory`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Records, Store, StoreError, decode, encode, pending_prefix};
use crate::article::ArticleId;
use crate::digest::SentStory;

/// The key of what `email` was sent at `at` (milliseconds).
fn digest_key(email: &str, at: DateTime<Utc>) -> Vec<u8> {
    let mut key = pending_prefix(email);
    key.extend_from_slice(&at.timestamp_millis().to_be_bytes());
    key
}

/// What follows the address in a `sent` key: the sent time, and in a
/// record of schema 4 or before, the article id after it.
fn after_address(key: &[u8]) -> Option<&[u8]> {
    let nul = key.iter().position(|b| *b == 0)?;
    key.get(nul + 1..).filter(|rest| rest.len() >= 8)
}

/// The sent time a key names, in milliseconds.
fn key_millis(key: &[u8]) -> Option<i64> {
    let time = after_address(key)?.get(..8)?;
    Some(i64::from_be_bytes(time.try_into().ok()?))
}

/// Whether `key` is a record per article, as schema 4 and before kept them.
pub(super) fn is_per_article(key: &[u8]) -> bool {
    after_address(key).is_some_and(|rest| rest.len() > 8)
}

/// The digest key a per-article key of schema 4 belongs to.
pub(super) fn packed_key(key: &[u8]) -> Result<Vec<u8>, StoreError> {
    let rest = after_address(key).ok_or_else(|| not_a_sent_key(key))?;
    Ok(key[..key.len() - rest.len() + 8].to_vec())
}

fn not_a_sent_key(key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        tree: "sent",
        key: String::from_utf8_lossy(key).into_owned(),
        message: "not an address and a sent time".to_owned(),
    }
}

/// `stories` grouped into the records [`Store::commit_sent`] merges into
/// the tree: one per sent time (a digest has one).
pub(super) fn group(email: &str, sent: &[(ArticleId, SentStory)]) -> BTreeMap<Vec<u8>, Vec<SentStory>> {
    let mut records: BTreeMap<Vec<u8>, Vec<SentStory>> = BTreeMap::new();
    for (_, story) in sent {
        records
            .entry(digest_key(email, story.sent_at))
            .or_default()
            .push(story.clone());
    }
    records
}

/// `stories` appended to what `existing` (a stored digest record) holds:
/// two sends in one millisecond both stay.
pub(super) fn merged(
    key: &[u8],
    existing: Option<&[u8]>,
    stories: &[SentStory],
) -> Result<Vec<u8>, StoreError> {
    let mut all: Vec<SentStory> = match existing {
        Some(bytes) => decode("sent", key, bytes)?,
        None => Vec::new(),
    };
    all.extend_from_slice(stories);
    encode(&all)
}

impl Store {
    /// What `email` was sent at or after `since`, oldest first.
    pub fn sent_since(&self, email: &str, since: DateTime<Utc>) -> Result<Vec<SentStory>, StoreError> {
        let start = digest_key(email, since);
        let mut end = pending_prefix(email);
        end.extend_from_slice(&i64::MAX.to_be_bytes());
        let mut stories = Vec::new();
        for row in self.sent.range(start..end) {
            let (key, bytes) = row.records("sent", "scan")?;
            let digest: Vec<SentStory> = decode("sent", &key, &bytes)?;
            stories.extend(digest);
        }
        Ok(stories)
    }

    /// Forgets what was sent before `before`; returns how many stories went.
    pub(super) fn prune_sent(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        let before = before.timestamp_millis();
        for row in self.sent.iter() {
            let (key, bytes) = row.records("sent", "scan")?;
            let at = key_millis(&key).ok_or_else(|| not_a_sent_key(&key))?;
            if at < before {
                batch.remove(key.clone());
                removed += decode::<Vec<serde::de::IgnoredAny>>("sent", &key, &bytes)?.len();
            }
        }
        self.sent.apply_batch(batch).records("sent", "write")?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_digest_and_tell_the_old_layout_apart() {
        let at = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
        let key = digest_key("Ann@example.org", at);
        assert_eq!(key_millis(&key), Some(1_764_000_000_123));
        assert!(!is_per_article(&key));
        let mut old = key.clone();
        old.extend_from_slice(b"0123456789abcdef0123456789abcdef");
        assert!(is_per_article(&old));
        assert_eq!(packed_key(&old).ok(), Some(key.clone()));
        assert_eq!(key_millis(&old), Some(1_764_000_000_123));
        assert_eq!(key_millis(b"no-nul"), None);
    }

    #[test]
    fn a_second_send_in_the_same_millisecond_adds_to_the_digest_record() {
        let at = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
        let story = |title: &str| SentStory {
            sent_at: at,
            feed_key: "feed".to_owned(),
            title: title.to_owned(),
            link: None,
            lede: "新闻".to_owned(),
            meaning: None,
        };
        let key = digest_key("ann@example.org", at);
        let first = merged(&key, None, &[story("a")]).unwrap();
        let both = merged(&key, Some(&first), &[story("b")]).unwrap();
        let stories: Vec<SentStory> = decode("sent", &key, &both).unwrap();
        let titles: Vec<&str> = stories.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["a", "b"]);
    }
}
