//! The one table of record kinds. Open, export, import and check go through
//! [`Kind::ALL`] and the exhaustive matches below, so a kind added later
//! cannot be left out of any of them: the compiler names every place.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    FeedState, LAST_PRUNE_KEY, OutboxEntry, SCHEMA_KEY, SeenRecord, SeenSet, SentStory, StoreError,
    SubscriberState, decode, decode_link, encode, hex, id_bytes, id_from_bytes, seen_record, seen_set, unhex,
};
use crate::article::{Article, ArticleId};
use crate::subscriber::OptOut;

/// A kind of record, and the sled tree it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The default tree: `schema_version`, `last_prune`.
    Meta,
    /// Each feed's seen ids, in sets.
    Seen,
    /// Seen ids from before schema 3 whose feed is not known.
    LegacySeen,
    Articles,
    Links,
    Feeds,
    Subscribers,
    Pending,
    Outbox,
    Sent,
    /// Subscribers who unsubscribed, and since when.
    OptOuts,
}

/// A `links` value as exported: the article id and the feed tag (16 hex).
#[derive(serde::Serialize, serde::Deserialize)]
struct LinkValue {
    id: ArticleId,
    feed_tag: String,
}

/// One id of a `seen` set as exported.
#[derive(serde::Serialize, serde::Deserialize)]
struct SeenValue {
    id: ArticleId,
    #[serde(flatten)]
    record: SeenRecord,
}

impl Kind {
    /// Every kind, in export order.
    pub const ALL: [Kind; 11] = [
        Kind::Meta,
        Kind::Seen,
        Kind::LegacySeen,
        Kind::Articles,
        Kind::Links,
        Kind::Feeds,
        Kind::Subscribers,
        Kind::Pending,
        Kind::Outbox,
        Kind::Sent,
        Kind::OptOuts,
    ];

    /// The name exports and errors use; also the sled tree's name (but for `meta`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Seen => "seen",
            Kind::LegacySeen => "seen_legacy",
            Kind::Articles => "articles",
            Kind::Links => "links",
            Kind::Feeds => "feeds",
            Kind::Subscribers => "subscribers",
            Kind::Pending => "pending",
            Kind::Outbox => "outbox",
            Kind::Sent => "sent",
            Kind::OptOuts => "opt_outs",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// A stored key as an export writes it: text a person can read.
    pub(super) fn key_text(self, key: &[u8]) -> String {
        match self {
            // Hashes and binary buckets, and a NUL with a binary time: hex keeps them text.
            Kind::Seen | Kind::Links | Kind::Sent => hex(key),
            // A NUL between address and id; `/` reads better.
            Kind::Pending => String::from_utf8_lossy(key).replace('\0', "/"),
            Kind::Meta
            | Kind::LegacySeen
            | Kind::Articles
            | Kind::Feeds
            | Kind::Subscribers
            | Kind::Outbox
            | Kind::OptOuts => String::from_utf8_lossy(key).into_owned(),
        }
    }

    /// The stored key an export's text names.
    pub(super) fn key_bytes(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Kind::Seen | Kind::Links | Kind::Sent => unhex(text),
            // The last `/`: an address may hold one (`ops/news@example.org`), an id never.
            Kind::Pending => text
                .rsplit_once('/')
                .map(|(email, id)| [email.as_bytes(), b"\0", id.as_bytes()].concat()),
            Kind::Meta
            | Kind::LegacySeen
            | Kind::Articles
            | Kind::Feeds
            | Kind::Subscribers
            | Kind::Outbox
            | Kind::OptOuts => Some(text.as_bytes().to_vec()),
        }
    }

    /// A stored record read as its type and written as JSON; an error if it
    /// does not read (so `check` and `export` see the same problems).
    pub(super) fn json_value(self, key: &[u8], bytes: &[u8]) -> Result<Value, StoreError> {
        let name = self.name();
        Ok(match self {
            Kind::Meta if key == SCHEMA_KEY => <[u8; 4]>::try_from(bytes)
                .map(|b| Value::from(u32::from_be_bytes(b)))
                .map_err(|_| corrupt(self, key, "not a 4-byte version"))?,
            Kind::Meta if key == LAST_PRUNE_KEY => json(decode::<DateTime<Utc>>(name, key, bytes)?)?,
            Kind::Meta => return Err(corrupt(self, key, "not a key this feed-digest writes")),
            Kind::Seen => {
                let set = seen_set(key, bytes)?;
                let ids: Vec<SeenValue> = set
                    .iter()
                    .map(|(id, record)| SeenValue {
                        id: id_from_bytes(id),
                        record: *record,
                    })
                    .collect();
                json(ids)?
            }
            Kind::LegacySeen => json(seen_record(key, bytes)?)?,
            Kind::Articles => json(decode::<Article>(name, key, bytes)?)?,
            Kind::Links => {
                let link = decode_link(key, bytes)?;
                json(LinkValue {
                    id: link.id,
                    feed_tag: hex(&link.feed_tag),
                })?
            }
            Kind::Feeds => json(decode::<FeedState>(name, key, bytes)?)?,
            Kind::Subscribers => json(decode::<SubscriberState>(name, key, bytes)?)?,
            Kind::Pending => json(decode::<DateTime<Utc>>(name, key, bytes)?)?,
            Kind::Outbox => json(decode::<OutboxEntry>(name, key, bytes)?)?,
            Kind::Sent => json(decode::<Vec<SentStory>>(name, key, bytes)?)?,
            Kind::OptOuts => json(decode::<OptOut>(name, key, bytes)?)?,
        })
    }

    /// An exported record back into the bytes the store keeps, through its
    /// type: a restored record is byte for byte what was exported.
    pub(super) fn stored_bytes(self, key: &[u8], value: Value) -> Result<Vec<u8>, String> {
        match self {
            Kind::Meta if key == SCHEMA_KEY => value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(|v| v.to_be_bytes().to_vec())
                .ok_or_else(|| format!("schema version {value} is not a number")),
            Kind::Meta if key == LAST_PRUNE_KEY => typed::<DateTime<Utc>>(value),
            Kind::Meta => Err(format!(
                "meta key {:?} is not one this feed-digest writes",
                String::from_utf8_lossy(key)
            )),
            Kind::Seen => {
                let ids: Vec<SeenValue> = serde_json::from_value(value).map_err(|e| e.to_string())?;
                let mut set = SeenSet::default();
                for seen in ids {
                    set.put(id_bytes(&seen.id), seen.record);
                }
                Ok(set.to_bytes())
            }
            Kind::LegacySeen => serde_json::from_value::<SeenRecord>(value)
                .map(|seen| seen.to_bytes().to_vec())
                .map_err(|e| e.to_string()),
            Kind::Articles => typed::<Article>(value),
            Kind::Links => {
                let link: LinkValue = serde_json::from_value(value).map_err(|e| e.to_string())?;
                let mut bytes = id_bytes(&link.id).to_vec();
                let tag = unhex(&link.feed_tag).filter(|tag| tag.len() == 8);
                bytes.extend_from_slice(
                    &tag.ok_or_else(|| format!("feed tag {:?} is not 16 hex", link.feed_tag))?,
                );
                decode_link(key, &bytes).map_err(|e| e.to_string())?;
                Ok(bytes)
            }
            Kind::Feeds => typed::<FeedState>(value),
            Kind::Subscribers => typed::<SubscriberState>(value),
            Kind::Pending => typed::<DateTime<Utc>>(value),
            Kind::Outbox => typed::<OutboxEntry>(value),
            Kind::Sent => typed::<Vec<SentStory>>(value),
            Kind::OptOuts => typed::<OptOut>(value),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn json<T: Serialize>(value: T) -> Result<Value, StoreError> {
    Ok(serde_json::to_value(value)?)
}

fn typed<T: Serialize + DeserializeOwned>(value: Value) -> Result<Vec<u8>, String> {
    let record: T = serde_json::from_value(value).map_err(|e| e.to_string())?;
    encode(&record).map_err(|e| e.to_string())
}

fn corrupt(kind: Kind, key: &[u8], message: &str) -> StoreError {
    StoreError::Corrupt {
        tree: kind.name(),
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_once_and_its_keys_survive_the_text_form() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
            // A key with a NUL and non-UTF-8 bytes where the kind allows them.
            let key: Vec<u8> = match kind {
                Kind::Seen | Kind::Links | Kind::Sent => vec![0x00, 0xff, 0x10, b'a'],
                Kind::Pending => b"ann@example.org\x000123456789abcdef0123456789abcdef".to_vec(),
                _ => "订阅者@example.org".as_bytes().to_vec(),
            };
            assert_eq!(kind.key_bytes(&kind.key_text(&key)), Some(key), "{kind}");
        }
        // An address with a `/` in it, as RFC 5321 allows.
        let key = b"ops/news@example.org\x000123456789abcdef0123456789abcdef".to_vec();
        let pending = Kind::Pending;
        assert_eq!(pending.key_bytes(&pending.key_text(&key)), Some(key));
    }
}
