//! Keeping the store bounded and healthy: pruning, invariant checks, and
//! JSON-lines export/import (a backup a person can read).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bodies::Pointer;
use super::{
    Kind, LAST_PRUNE_KEY, OutboxEntry, PRESENT, Records, SCHEMA_KEY, SCHEMA_VERSION, Store, StoreError,
    decode, decode_link, encode, feed_tag, id_bytes, seen_record, seen_set,
};
use crate::article::Article;

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
    /// Subscribers who unsubscribed.
    pub opt_outs: usize,
    /// Body files of past days nothing points into (a crash between an
    /// append and its commit leaves one): not a fault, the next prune
    /// deletes them.
    pub unreferenced_files: Vec<std::path::PathBuf>,
    pub problems: Vec<String>,
}

/// A `seen` or `links` record of a schema 2 export, as schema 2 stored it.
fn v2_row(kind: Kind, key: &str, value: Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    #[derive(Deserialize)]
    struct LinkV2 {
        id: crate::article::ArticleId,
        feed_tag: String,
    }
    if kind == Kind::Seen {
        let record: super::SeenRecord = serde_json::from_value(value).map_err(|e| e.to_string())?;
        crate::article::ArticleId::from_stored(key).ok_or_else(|| format!("key {key:?} is not an id"))?;
        return Ok((key.as_bytes().to_vec(), record.to_bytes().to_vec()));
    }
    let link: LinkV2 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let key = super::unhex(key).ok_or_else(|| format!("key {key:?} is not hex"))?;
    if link.feed_tag.len() != 16 || super::unhex(&link.feed_tag).is_none() {
        return Err(format!("feed tag {:?} is not 16 hex", link.feed_tag));
    }
    Ok((key, format!("{}{}", link.id, link.feed_tag).into_bytes()))
}

/// A `sent` record of a schema 4 (or older) export, as it was stored: one
/// story under a key that ends in its article id.
fn v4_sent_row(key: &str, value: Value) -> Result<(Vec<u8>, Vec<u8>), String> {
    let key = super::unhex(key).ok_or_else(|| format!("key {key:?} is not hex"))?;
    if !super::sent::is_per_article(&key) {
        return Err("key is not an address, a sent time and an article id".to_owned());
    }
    let story: crate::digest::SentStory = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok((key, super::encode(&story).map_err(|e| e.to_string())?))
}

/// The one field of an [`Article`] the prune needs; serde skips the rest
/// without allocating.
#[derive(Deserialize)]
struct FirstSeen {
    first_seen: DateTime<Utc>,
}

/// When the article stored as `bytes` was first seen: from its pointer, or
/// (schema 6) its record, without a String for every stored text.
pub(super) fn first_seen(key: &[u8], bytes: &[u8]) -> Result<DateTime<Utc>, StoreError> {
    match Pointer::from_bytes(bytes) {
        Some(pointer) => Ok(pointer.first_seen().unwrap_or(DateTime::<Utc>::MIN_UTC)),
        None => Ok(decode::<FirstSeen>("articles", key, bytes)?.first_seen),
    }
}

/// The pointers that stay after a prune, by day file: their bytes and keys.
type LiveByDay = HashMap<u32, (u64, Vec<(sled::IVec, Pointer)>)>;

/// One record of an export: the tree, the key as text, the value as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedRecord {
    pub tree: String,
    pub key: String,
    pub value: Value,
}

/// A line of an import that cannot be used: `Corrupt`, naming the line.
pub(super) fn invalid_line(line: usize, message: String) -> StoreError {
    StoreError::Corrupt {
        tree: "import",
        key: format!("line {line}"),
        message,
    }
}

/// The records of an export, each with its line number and kind, blank
/// lines skipped: what every backend's import reads before its first write.
/// A line that is not a record of a known kind is an error naming it.
pub(super) fn read_export(input: &mut dyn BufRead) -> Result<Vec<(usize, Kind, ExportedRecord)>, StoreError> {
    let mut records = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| invalid_line(number, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: ExportedRecord =
            serde_json::from_str(&line).map_err(|e| invalid_line(number, e.to_string()))?;
        let Some(kind) = Kind::from_name(&record.tree) else {
            let valid: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            return Err(invalid_line(
                number,
                format!("unknown tree {:?}; valid: {}", record.tree, valid.join(", ")),
            ));
        };
        records.push((number, kind, record));
    }
    Ok(records)
}

/// A stored key and value, as sled holds them.
pub type RawRecord = (Vec<u8>, Vec<u8>);

impl CheckReport {
    /// The count of one kind (`meta` is not counted).
    fn count_mut(&mut self, kind: Kind) -> Option<&mut usize> {
        match kind {
            Kind::Meta => None,
            // Ids, not sets: counted below.
            Kind::Seen => None,
            Kind::LegacySeen => Some(&mut self.seen),
            Kind::Articles => Some(&mut self.articles),
            Kind::Links => Some(&mut self.links),
            Kind::Feeds => Some(&mut self.feeds),
            Kind::Subscribers => Some(&mut self.subscribers),
            Kind::Pending => Some(&mut self.pending),
            Kind::Outbox => Some(&mut self.outbox),
            Kind::Sent => Some(&mut self.sent),
            Kind::OptOuts => Some(&mut self.opt_outs),
        }
    }
}

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
        // No poll may store or rewrite an article (a copy rewrites its
        // original) between what is needed being read and the removals.
        let _one_at_a_time = self
            .ingesting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut report = PruneReport::default();
        let mut needed: HashSet<Vec<u8>> = HashSet::new();
        for key in self.pending.iter().keys() {
            let key = key.records("pending", "scan")?;
            if let Some(id) = key.rsplit(|b| *b == 0).next() {
                needed.insert(id.to_vec());
            }
        }
        for row in self.outbox.iter() {
            let (key, bytes) = row.records("outbox", "scan")?;
            let entry: OutboxEntry = decode("outbox", &key, &bytes)?;
            needed.extend(entry.article_ids.iter().map(|id| id.as_str().as_bytes().to_vec()));
        }
        // Every id that stays, for the bodies below.
        let mut live: HashSet<[u8; 16]> = HashSet::new();
        let mut sets = sled::Batch::default();
        for row in self.seen.iter() {
            let (key, bytes) = row.records("seen", "scan")?;
            let mut set = seen_set(&key, &bytes)?;
            // Ids of a feed's latest document have not left it, however long
            // ago a poll last saw them: a 304 refreshes nothing, and a quiet
            // feed's items forgotten would all come back with its next post.
            let present = key.get(8..) == Some(&PRESENT.to_be_bytes()[..]);
            // The day they left, not their last sight: a quiet feed's item
            // pushed out today was last seen in a poll long ago (304s since).
            let left_recently = key
                .get(8..12)
                .and_then(|day| <[u8; 4]>::try_from(day).ok())
                .is_some_and(|day| u32::from_be_bytes(day) >= super::day_bucket(now - retention));
            let removed = set.retain(|id, record| {
                present
                    || left_recently
                    || now - record.last_seen <= retention
                    || needed.contains(super::hex(id).as_bytes())
            });
            live.extend(set.iter().map(|(id, _)| *id));
            report.seen_removed += removed;
            match (removed, set.is_empty()) {
                (0, _) => {}
                (_, true) => sets.remove(key),
                (_, false) => sets.insert(key, set.to_bytes()),
            }
        }
        self.seen.apply_batch(sets).records("seen", "write")?;
        let mut legacy = sled::Batch::default();
        for row in self.seen_legacy.iter() {
            let (key, bytes) = row.records("seen_legacy", "scan")?;
            let record = seen_record(&key, &bytes)?;
            if now - record.last_seen > retention && !needed.contains(key.as_ref()) {
                legacy.remove(key);
                report.seen_removed += 1;
            }
        }
        self.seen_legacy
            .apply_batch(legacy)
            .records("seen_legacy", "write")?;
        // Only the bodies that exist are removed (and counted), each once. A
        // body whose id is not seen (forgotten just now, or left by an
        // earlier prune cut short) goes whatever its age.
        let mut bodies = sled::Batch::default();
        // What stays, by day file, for the compaction below (one scan).
        let mut kept = LiveByDay::new();
        for row in self.articles.iter() {
            let (key, bytes) = row.records("articles", "scan")?;
            let goes = !needed.contains(key.as_ref()) && {
                let seen = super::unhex(&String::from_utf8_lossy(&key))
                    .and_then(|id| <[u8; 16]>::try_from(id).ok())
                    .is_some_and(|id| live.contains(&id))
                    || self
                        .seen_legacy
                        .contains_key(&key)
                        .records("seen_legacy", "read")?;
                now - first_seen(&key, &bytes)? > keep_bodies || !seen
            };
            if goes {
                bodies.remove(key);
                report.bodies_removed += 1;
            } else if let Some(pointer) = Pointer::from_bytes(&bytes) {
                let day = kept.entry(pointer.day).or_default();
                day.0 += u64::from(pointer.len);
                day.1.push((key, pointer));
            }
        }
        self.articles.apply_batch(bodies).records("articles", "write")?;
        self.compact_bodies(now, kept)?;
        let mut links = sled::Batch::default();
        for row in self.links.iter() {
            let (key, bytes) = row.records("links", "scan")?;
            // A link is kept while its article's body is.
            let owner = decode_link(&key, &bytes)?;
            if !self
                .articles
                .contains_key(owner.id.as_str())
                .records("articles", "read")?
            {
                links.remove(key);
                report.links_removed += 1;
            }
        }
        self.links.apply_batch(links).records("links", "write")?;
        report.sent_removed = self.prune_sent(now - keep_bodies)?;
        self.db
            .insert(LAST_PRUNE_KEY, encode(&now)?)
            .records("meta", "write")?;
        Ok(report)
    }

    /// Deletes the day files nothing points into any more, and those less
    /// than half live once their few live records are copied forward
    /// (weekly digests keep articles pending past their file's week).
    /// Called with `ingesting` held. The copies are synced and their
    /// pointers made durable before a file goes, so a crash in between
    /// leaves an unreferenced file, which the next prune deletes.
    fn compact_bodies(&self, now: DateTime<Utc>, mut live: LiveByDay) -> Result<(), StoreError> {
        let today = super::day_bucket(now);
        let writing = self.bodies.writing_day();
        // The removals above reach the disk before any file goes: a crash
        // must not bring back a pointer into a deleted file.
        self.db.flush().records("articles", "flush")?;
        let (mut removed, mut moved) = (0, 0);
        for (day, size) in self.bodies.files()? {
            // Never the file a poll appends to, nor one of a later day.
            if day >= today || writing == Some(day) {
                continue;
            }
            match live.remove(&day) {
                None => {}
                Some((bytes, _)) if bytes.saturating_mul(2) >= size => continue,
                Some((_, pointers)) => match self.move_forward(&pointers, today) {
                    Ok(count) => moved += count,
                    // One unreadable record keeps its file, not the prune from finishing.
                    Err(err) => {
                        tracing::error!(
                            file = %self.bodies.path(day).display(),
                            error = %err,
                            "cannot copy the live records out of a body file; it stays"
                        );
                        continue;
                    }
                },
            }
            self.bodies.remove(day)?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(files = removed, records_moved = moved, "body files compacted");
        }
        Ok(())
    }

    /// Copies records to `today`'s file and points at the copies, durably.
    fn move_forward(&self, pointers: &[(sled::IVec, Pointer)], today: u32) -> Result<usize, StoreError> {
        for chunk in pointers.chunks(512) {
            let mut values = Vec::with_capacity(chunk.len());
            for (key, pointer) in chunk {
                let first_seen = pointer.first_seen().unwrap_or(DateTime::<Utc>::MIN_UTC);
                values.push((key, self.bodies.read(key, *pointer)?, first_seen));
            }
            let records: Vec<(&[u8], &[u8], DateTime<Utc>)> = values
                .iter()
                .map(|(key, value, first_seen)| (key.as_ref(), value.as_slice(), *first_seen))
                .collect();
            self.move_to_day_file(today, &records)?;
        }
        self.db.flush().records("articles", "flush")?;
        Ok(pointers.len())
    }

    /// When the last prune ran, if ever.
    pub fn last_prune(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.db
            .get(LAST_PRUNE_KEY)
            .records("meta", "read")?
            .map(|bytes| decode("default", LAST_PRUNE_KEY, &bytes))
            .transpose()
    }

    /// Verifies every record decodes and the cross-tree invariants hold.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport {
            schema_version: self
                .db
                .get(SCHEMA_KEY)
                .records("meta", "read")?
                .and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok())
                .map_or(0, u32::from_be_bytes),
            ..CheckReport::default()
        };
        if report.schema_version != SCHEMA_VERSION {
            report.problems.push(format!(
                "schema version {} (expected {SCHEMA_VERSION})",
                report.schema_version
            ));
        }
        for kind in Kind::ALL {
            for row in self.tree(kind).iter() {
                let (key, bytes) = row.records(kind.name(), "scan")?;
                if let Some(count) = report.count_mut(kind) {
                    *count += 1;
                }
                let record = match kind {
                    Kind::Articles => self.article_bytes(&key, bytes),
                    _ => Ok(bytes),
                };
                if let Err(err) = record.and_then(|bytes| kind.json_value(&key, &bytes)) {
                    report.problems.push(err.to_string());
                }
            }
        }
        // Across kinds: every body's id is seen (in its feed's sets, or a
        // legacy record), every pending entry and every link has a body.
        // Each id in a set, and the tag of the feed whose set holds it.
        let mut seen_ids: HashMap<[u8; 16], [u8; 8]> = HashMap::new();
        for row in self.seen.iter() {
            let (key, bytes) = row.records("seen", "scan")?;
            if let (Ok(set), Some(Ok(tag))) = (seen_set(&key, &bytes), key.get(..8).map(<[u8; 8]>::try_from))
            {
                report.seen += set.len();
                seen_ids.extend(set.iter().map(|(id, _)| (*id, tag)));
            }
        }
        let problems = &mut report.problems;
        let mut referenced = HashSet::new();
        for row in self.articles.iter() {
            let (key, bytes) = row.records("articles", "scan")?;
            if let Some(pointer) = Pointer::from_bytes(&bytes) {
                referenced.insert(pointer.day);
            }
            let Ok(article) = self
                .article_bytes(&key, bytes)
                .and_then(|bytes| decode::<Article>("articles", &key, &bytes))
            else {
                continue; // said above
            };
            if article.id.as_str().as_bytes() != key.as_ref() {
                problems.push(format!(
                    "article {} stored under key {}",
                    article.id,
                    String::from_utf8_lossy(&key)
                ));
            } else {
                match seen_ids.get(&id_bytes(&article.id)) {
                    Some(tag) if *tag != feed_tag(&article.feed_key) => problems.push(format!(
                        "article {} is seen, but not among its feed's ids",
                        article.id
                    )),
                    Some(_) => {}
                    // A legacy record has no feed to be in.
                    None if self
                        .seen_legacy
                        .contains_key(&key)
                        .records("seen_legacy", "read")? => {}
                    None => problems.push(format!("article {} has a body but is not in seen", article.id)),
                }
            }
        }
        for key in self.pending.iter().keys() {
            let key = key.records("pending", "scan")?;
            let id = key.rsplit(|b| *b == 0).next().unwrap_or_default();
            if !self.articles.contains_key(id).records("articles", "read")? {
                problems.push(format!(
                    "pending entry {} has no article body",
                    String::from_utf8_lossy(&key)
                ));
            }
        }
        for row in self.links.iter() {
            let (key, bytes) = row.records("links", "scan")?;
            let Ok(link) = decode_link(&key, &bytes) else {
                continue; // said above
            };
            if !self
                .articles
                .contains_key(link.id.as_str())
                .records("articles", "read")?
            {
                problems.push(format!(
                    "link {} names article {}, which has no body",
                    super::hex(&key),
                    link.id
                ));
            }
        }
        // The files the prune would delete for having no pointer into them.
        let (today, writing) = (super::day_bucket(Utc::now()), self.bodies.writing_day());
        report.unreferenced_files = self
            .bodies
            .files()?
            .into_iter()
            .filter(|(day, _)| *day < today && writing != Some(*day) && !referenced.contains(day))
            .map(|(day, _)| self.bodies.path(day))
            .collect();
        Ok(report)
    }

    /// Writes every record of every kind as one JSON object per line; returns how many.
    pub fn export(&self, out: &mut dyn Write) -> Result<usize, StoreError> {
        let mut count = 0;
        for kind in Kind::ALL {
            for row in self.rows(kind) {
                let (key, bytes) = row?;
                let record = ExportedRecord {
                    tree: kind.name().to_owned(),
                    key: kind.key_text(&key),
                    value: kind.json_value(&key, &bytes)?,
                };
                serde_json::to_writer(&mut *out, &record)?;
                out.write_all(b"\n")
                    .map_err(|e| StoreError::Encode(serde_json::Error::io(e)))?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Restores an export into this store, which must be empty. Returns the
    /// number of records read.
    pub fn import(&self, input: &mut dyn BufRead) -> Result<usize, StoreError> {
        let invalid = invalid_line;
        // `meta` holds the schema version of any open store.
        if Kind::ALL
            .into_iter()
            .any(|kind| kind != Kind::Meta && !self.tree(kind).is_empty())
        {
            return Err(StoreError::NotEmpty {
                path: self.path().to_path_buf(),
            });
        }
        // Every line is read and checked before the first write, so a bad
        // backup leaves the new store empty, ready for another try.
        let mut rows: Vec<(Kind, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut count = 0;
        // The export's schema, from its first line.
        let mut schema = SCHEMA_VERSION;
        for (number, kind, record) in read_export(input)? {
            if kind == Kind::Meta && record.key == "schema_version" {
                match record.value.as_u64().and_then(|v| u32::try_from(v).ok()) {
                    Some(version @ 2..=SCHEMA_VERSION) => schema = version,
                    _ => {
                        return Err(invalid(
                            number,
                            format!(
                                "export has schema {}, this feed-digest reads 2 to {SCHEMA_VERSION}",
                                record.value
                            ),
                        ));
                    }
                }
                count += 1;
                continue;
            }
            // Schema 2 kept a seen record per id, and links as 48 hex
            // characters: written as it had them, for the migration below.
            let (key, value) = match kind {
                Kind::Seen | Kind::Links if schema < 3 => v2_row(kind, &record.key, record.value)
                    .map_err(|e| invalid(number, format!("{kind}: {e}")))?,
                // Schema 4 and before kept a sent record per article.
                Kind::Sent if schema < 5 => v4_sent_row(&record.key, record.value)
                    .map_err(|e| invalid(number, format!("{kind}: {e}")))?,
                _ => {
                    let key = kind
                        .key_bytes(&record.key)
                        .ok_or_else(|| invalid(number, format!("{kind} key {:?} is not hex", record.key)))?;
                    let value = kind
                        .stored_bytes(&key, record.value)
                        .map_err(|e| invalid(number, format!("{kind}: {e}")))?;
                    (key, value)
                }
            };
            rows.push((kind, key, value));
            count += 1;
        }
        for (kind, key, value) in rows {
            self.tree(kind).insert(key, value).records(kind.name(), "write")?;
        }
        if schema < SCHEMA_VERSION {
            super::migrate::upgrade(self, schema)?;
        }
        // An export holds articles as records: into the day files with them.
        super::migrate::bodies_out(self)?;
        self.db.flush().records("all", "flush")?;
        Ok(count)
    }

    /// How many records of each kind there are and their keys' and values'
    /// bytes: what the store holds before sled's own overhead (benchmarks).
    pub fn footprint(&self) -> Result<Vec<(Kind, usize, u64)>, StoreError> {
        Kind::ALL
            .into_iter()
            .map(|kind| {
                let (mut records, mut bytes) = (0, 0u64);
                for row in self.rows(kind) {
                    let (key, value) = row?;
                    records += 1;
                    bytes += (key.len() + value.len()) as u64;
                }
                Ok((kind, records, bytes))
            })
            .collect()
    }

    /// Every record of one kind, raw, in key order: what a restore must reproduce.
    pub fn records(&self, kind: Kind) -> Result<Vec<RawRecord>, StoreError> {
        self.rows(kind)
            .map(|row| {
                let (key, value) = row?;
                Ok((key.to_vec(), value.to_vec()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::ArticleId;
    use crate::ingest::{IngestBatch, NewArticle};

    fn article(n: u32, first_seen: DateTime<Utc>) -> Article {
        Article {
            id: ArticleId::from_stored(&format!("{n:032x}")).unwrap(),
            feed_key: "https://example.org/feed".to_owned(),
            title: format!("第{n}篇 article {n}"),
            link: None,
            text: "正文 body ".repeat(40),
            published: None,
            categories: Vec::new(),
            first_seen,
            also_in: Vec::new(),
            routed: Vec::new(),
            updated: None,
            image: None,
            meaning: None,
        }
    }

    fn days(store: &Store) -> Vec<u32> {
        store
            .bodies
            .files()
            .unwrap()
            .into_iter()
            .map(|(day, _)| day)
            .collect()
    }

    #[test]
    fn the_prune_deletes_dead_day_files_and_moves_what_still_waits_out_of_a_mostly_dead_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let start = DateTime::from_timestamp(20_429 * 86_400 + 7_200, 0).unwrap();
        let day0 = super::super::day_bucket(start);
        // Three days of ten articles, one of the first day's still waiting for ann.
        for day in 0..3 {
            let now = start + TimeDelta::days(day);
            let deliver = (0..10)
                .map(|i| NewArticle {
                    article: article(day as u32 * 10 + i, now),
                    recipients: if day == 0 && i == 0 {
                        vec!["ann@example.org".to_owned()]
                    } else {
                        Vec::new()
                    },
                    canonical_link: None,
                })
                .collect();
            let batch = IngestBatch {
                deliver,
                ..IngestBatch::default()
            };
            store
                .ingest("https://example.org/feed", &Default::default(), &batch, now)
                .unwrap();
        }
        assert_eq!(days(&store), vec![day0, day0 + 1, day0 + 2]);
        // What a crash between an append and its commit leaves: a file nobody points into.
        std::fs::write(store.bodies.path(day0 + 5), b"cut short").unwrap();
        let check = store.check().unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(check.unreferenced_files, vec![store.bodies.path(day0 + 5)]);
        let waiting = store.article(&article(0, start).id).unwrap().unwrap();

        let now = start + TimeDelta::days(9);
        let report = store
            .prune(now, TimeDelta::days(180), TimeDelta::days(7))
            .unwrap();
        // Days 0 and 1 are more than a week old; day 2's are exactly a week old and stay.
        assert_eq!(report.bodies_removed, 19);
        // Day 0 was a tenth live: its one waiting article moved to today's file.
        assert_eq!(days(&store), vec![day0 + 2, day0 + 9]);
        assert_eq!(store.article(&waiting.id).unwrap(), Some(waiting));
        for i in 20..30 {
            assert!(store.article(&article(i, start).id).unwrap().is_some(), "{i}");
        }
        let check = store.check().unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert!(
            check.unreferenced_files.is_empty(),
            "{:?}",
            check.unreferenced_files
        );
        assert_eq!(check.articles, 11);
        // A second prune has nothing to move or delete.
        store
            .prune(now, TimeDelta::days(180), TimeDelta::days(7))
            .unwrap();
        assert_eq!(days(&store), vec![day0 + 2, day0 + 9]);
    }
}
