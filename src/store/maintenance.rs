//! Keeping the store bounded and healthy: pruning, invariant checks, and
//! JSON-lines export/import (a backup a person can read).

use std::collections::HashSet;
use std::io::{BufRead, Write};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    FeedState, LAST_PRUNE_KEY, OutboxEntry, SCHEMA_KEY, SCHEMA_VERSION, SeenRecord, SentStory, Store,
    StoreError, SubscriberState, decode, decode_link, encode, hex, seen_record, unhex,
};
use crate::article::{Article, ArticleId};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub seen_removed: usize,
    pub bodies_removed: usize,
    pub links_removed: usize,
    pub sent_removed: usize,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub seen: usize,
    pub articles: usize,
    pub links: usize,
    pub pending: usize,
    pub outbox: usize,
    pub feeds: usize,
    pub subscribers: usize,
    /// What subscribers were sent lately (for follow-ups).
    pub sent: usize,
    pub problems: Vec<String>,
}

/// The one field of an [`Article`] the prune needs; serde skips the rest
/// without allocating.
#[derive(Deserialize)]
struct FirstSeen {
    first_seen: DateTime<Utc>,
}

/// One record of an export: the tree, the key as text, the value as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedRecord {
    pub tree: String,
    pub key: String,
    pub value: Value,
}

/// A `links` value as exported: the article id and the 16-hex feed tag.
#[derive(Serialize, Deserialize)]
struct LinkValue {
    id: ArticleId,
    feed_tag: String,
}

const TREES: [&str; 9] = [
    "meta",
    "seen",
    "articles",
    "links",
    "feeds",
    "subscribers",
    "pending",
    "outbox",
    "sent",
];

impl Store {
    /// Ids (and everything about them) that left their feed more than
    /// `retention` ago are forgotten; article bodies that nobody has pending are
    /// dropped after `keep_bodies` (the seen id stays).
    pub fn prune(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        keep_bodies: TimeDelta,
    ) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        let mut needed: HashSet<Vec<u8>> = HashSet::new();
        for key in self.pending.iter().keys() {
            let key = key?;
            if let Some(id) = key.rsplit(|b| *b == 0).next() {
                needed.insert(id.to_vec());
            }
        }
        for row in self.outbox.iter() {
            let (key, bytes) = row?;
            let entry: OutboxEntry = decode("outbox", &key, &bytes)?;
            needed.extend(entry.article_ids.iter().map(|id| id.as_str().as_bytes().to_vec()));
        }
        let mut batch = sled::Batch::default();
        for row in self.seen.iter() {
            let (key, bytes) = row?;
            let record = seen_record(&key, &bytes)?;
            if now - record.last_seen > retention && !needed.contains(key.as_ref()) {
                batch.remove(key);
                report.seen_removed += 1;
            }
        }
        self.seen.apply_batch(batch)?;
        // Only the bodies that exist are removed (and counted), each once. A
        // body whose id is not in `seen` (forgotten just now, or left by an
        // earlier prune cut short) goes whatever its age.
        let mut bodies = sled::Batch::default();
        for row in self.articles.iter() {
            let (key, bytes) = row?;
            if needed.contains(key.as_ref()) {
                continue;
            }
            // Only the time is read: no String for every stored text.
            let stamp: FirstSeen = decode("articles", &key, &bytes)?;
            if now - stamp.first_seen > keep_bodies || !self.seen.contains_key(&key)? {
                bodies.remove(key);
                report.bodies_removed += 1;
            }
        }
        self.articles.apply_batch(bodies)?;
        let mut links = sled::Batch::default();
        for row in self.links.iter() {
            let (key, bytes) = row?;
            let owner = decode_link(&key, &bytes)?;
            if !self.seen.contains_key(owner.id.as_str())? {
                links.remove(key);
                report.links_removed += 1;
            }
        }
        self.links.apply_batch(links)?;
        report.sent_removed = self.prune_sent(now - keep_bodies)?;
        self.db.insert(LAST_PRUNE_KEY, encode(&now)?)?;
        Ok(report)
    }

    /// When the last prune ran, if ever.
    pub fn last_prune(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.db
            .get(LAST_PRUNE_KEY)?
            .map(|bytes| decode("default", LAST_PRUNE_KEY, &bytes))
            .transpose()
    }

    /// Verifies every record decodes and the cross-tree invariants hold.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport {
            schema_version: self
                .db
                .get(SCHEMA_KEY)?
                .and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok())
                .map_or(0, u32::from_be_bytes),
            ..CheckReport::default()
        };
        let problems = &mut report.problems;
        if report.schema_version != SCHEMA_VERSION {
            problems.push(format!(
                "schema version {} (expected {SCHEMA_VERSION})",
                report.schema_version
            ));
        }
        for row in self.seen.iter() {
            let (key, bytes) = row?;
            report.seen += 1;
            if let Err(err) = seen_record(&key, &bytes) {
                problems.push(err.to_string());
            }
        }
        for row in self.articles.iter() {
            let (key, bytes) = row?;
            report.articles += 1;
            match decode::<Article>("articles", &key, &bytes) {
                Ok(article) if article.id.as_str().as_bytes() != key.as_ref() => {
                    problems.push(format!(
                        "article {} stored under key {}",
                        article.id,
                        String::from_utf8_lossy(&key)
                    ));
                }
                Ok(article) if !self.seen.contains_key(&key)? => {
                    problems.push(format!("article {} has a body but is not in seen", article.id));
                }
                Ok(_) => {}
                Err(err) => problems.push(err.to_string()),
            }
        }
        for row in self.links.iter() {
            let (key, bytes) = row?;
            report.links += 1;
            if let Err(err) = decode_link(&key, &bytes) {
                problems.push(err.to_string());
            }
        }
        for key in self.pending.iter().keys() {
            let key = key?;
            report.pending += 1;
            let id = key.rsplit(|b| *b == 0).next().unwrap_or_default();
            if !self.articles.contains_key(id)? {
                problems.push(format!(
                    "pending entry {} has no article body",
                    String::from_utf8_lossy(&key)
                ));
            }
        }
        for row in self.outbox.iter() {
            let (key, bytes) = row?;
            report.outbox += 1;
            if let Err(err) = decode::<OutboxEntry>("outbox", &key, &bytes) {
                problems.push(err.to_string());
            }
        }
        for row in self.feeds.iter() {
            let (key, bytes) = row?;
            report.feeds += 1;
            if let Err(err) = decode::<FeedState>("feeds", &key, &bytes) {
                problems.push(err.to_string());
            }
        }
        for row in self.subscribers.iter() {
            let (key, bytes) = row?;
            report.subscribers += 1;
            if let Err(err) = decode::<SubscriberState>("subscribers", &key, &bytes) {
                problems.push(err.to_string());
            }
        }
        for row in self.sent.iter() {
            let (key, bytes) = row?;
            report.sent += 1;
            if let Err(err) = decode::<SentStory>("sent", &key, &bytes) {
                problems.push(err.to_string());
            }
        }
        Ok(report)
    }

    /// Writes every record as one JSON object per line; returns how many.
    pub fn export(&self, out: &mut dyn Write) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut write = |tree: &str, key: &[u8], value: Value| -> Result<(), StoreError> {
            let record = ExportedRecord {
                tree: tree.to_owned(),
                key: String::from_utf8_lossy(key).into_owned(),
                value,
            };
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")
                .map_err(|e| StoreError::Encode(serde_json::Error::io(e)))?;
            count += 1;
            Ok(())
        };
        write("meta", SCHEMA_KEY, Value::from(SCHEMA_VERSION))?;
        if let Some(at) = self.last_prune()? {
            write("meta", LAST_PRUNE_KEY, serde_json::to_value(at)?)?;
        }
        for row in self.seen.iter() {
            let (key, bytes) = row?;
            write("seen", &key, serde_json::to_value(seen_record(&key, &bytes)?)?)?;
        }
        for row in self.links.iter() {
            let (key, bytes) = row?;
            let owner = decode_link(&key, &bytes)?;
            let feed_tag = String::from_utf8_lossy(&bytes[32..]).into_owned();
            // Link keys are hashes: hex keeps the export readable text.
            let value = serde_json::to_value(LinkValue {
                id: owner.id,
                feed_tag,
            })?;
            write("links", hex(&key).as_bytes(), value)?;
        }
        for row in self.sent.iter() {
            let (key, bytes) = row?;
            let value: Value = decode("sent", &key, &bytes)?;
            // Sent keys hold a NUL and a binary time: hex keeps them text.
            write("sent", hex(&key).as_bytes(), value)?;
        }
        for (name, tree) in [
            ("articles", &self.articles),
            ("feeds", &self.feeds),
            ("subscribers", &self.subscribers),
            ("pending", &self.pending),
            ("outbox", &self.outbox),
        ] {
            for row in tree.iter() {
                let (key, bytes) = row?;
                let value: Value = decode(name, &key, &bytes)?;
                // Pending keys hold a NUL between address and id; `/` reads better.
                let key = if name == "pending" {
                    key.iter().map(|b| if *b == 0 { b'/' } else { *b }).collect()
                } else {
                    key.to_vec()
                };
                write(name, &key, value)?;
            }
        }
        Ok(count)
    }

    /// Restores an export into this store, which must be empty. Returns the
    /// number of records read.
    pub fn import(&self, input: &mut dyn BufRead) -> Result<usize, StoreError> {
        let invalid = |line: usize, message: String| StoreError::Corrupt {
            tree: "import",
            key: format!("line {line}"),
            message,
        };
        let trees = [
            &self.seen,
            &self.articles,
            &self.links,
            &self.feeds,
            &self.subscribers,
            &self.pending,
            &self.outbox,
            &self.sent,
        ];
        if trees.iter().any(|tree| !tree.is_empty()) {
            return Err(StoreError::NotEmpty {
                path: self.path().to_path_buf(),
            });
        }
        // Every line is read and checked before the first write, so a bad
        // backup leaves the new store empty, ready for another try.
        let mut rows: Vec<(&sled::Tree, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut count = 0;
        for (index, line) in input.lines().enumerate() {
            let number = index + 1;
            let line = line.map_err(|e| invalid(number, e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: ExportedRecord =
                serde_json::from_str(&line).map_err(|e| invalid(number, e.to_string()))?;
            let key = record.key.as_bytes();
            let bad = |e: serde_json::Error| invalid(number, e.to_string());
            match record.tree.as_str() {
                "meta" if key == SCHEMA_KEY => {
                    if record.value.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
                        return Err(invalid(
                            number,
                            format!(
                                "export has schema {}, this feed-digest {SCHEMA_VERSION}",
                                record.value
                            ),
                        ));
                    }
                }
                "meta" => {
                    rows.push((&self.db, key.to_vec(), encode(&record.value)?));
                }
                "seen" => {
                    let seen: SeenRecord = serde_json::from_value(record.value).map_err(bad)?;
                    rows.push((&self.seen, key.to_vec(), seen.to_bytes().to_vec()));
                }
                "links" => {
                    let link: LinkValue = serde_json::from_value(record.value).map_err(bad)?;
                    let key = unhex(&record.key)
                        .ok_or_else(|| invalid(number, "link key is not hex".to_owned()))?;
                    let mut value = link.id.as_str().as_bytes().to_vec();
                    value.extend_from_slice(link.feed_tag.as_bytes());
                    rows.push((&self.links, key, value));
                }
                "sent" => {
                    let _: SentStory = serde_json::from_value(record.value.clone()).map_err(bad)?;
                    let key = unhex(&record.key)
                        .ok_or_else(|| invalid(number, "sent key is not hex".to_owned()))?;
                    rows.push((&self.sent, key, encode(&record.value)?));
                }
                "pending" => {
                    let key: Vec<u8> = key.iter().map(|b| if *b == b'/' { 0 } else { *b }).collect();
                    rows.push((&self.pending, key, encode(&record.value)?));
                }
                tree @ ("articles" | "feeds" | "subscribers" | "outbox") => {
                    let target = match tree {
                        "articles" => &self.articles,
                        "feeds" => &self.feeds,
                        "subscribers" => &self.subscribers,
                        _ => &self.outbox,
                    };
                    rows.push((target, key.to_vec(), encode(&record.value)?));
                }
                other => {
                    return Err(invalid(
                        number,
                        format!("unknown tree {other:?}; valid: {}", TREES.join(", ")),
                    ));
                }
            }
            count += 1;
        }
        for (tree, key, value) in rows {
            tree.insert(key, value)?;
        }
        self.db.flush()?;
        Ok(count)
    }
}
