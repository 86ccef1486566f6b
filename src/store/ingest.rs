//! Writing one poll of one feed: every effect in a single sled transaction.
//!
//! A feed's seen ids are a few sets (see the module docs of `store`): the
//! ids of its latest document, and one set a day of ids that left it. A
//! poll rewrites the first, and the sets its document changes (ids that
//! left, or came back); never a record per id.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sled::Transactional;

use super::{
    FeedState, PRESENT, Records, SeenRecord, SeenSet, Store, StoreError, day_bucket, encode, encode_link,
    feed_tag, id_bytes, link_key, pending_key, seen_key,
};
use crate::article::Article;
use crate::article::ArticleId;
use crate::ingest::{IngestBatch, Known, Questions, Stored};

/// The sets of one feed as a poll finds them, and what it makes of them.
struct FeedSets {
    tag: [u8; 8],
    sets: HashMap<u32, SeenSet>,
    changed: std::collections::BTreeSet<u32>,
}

impl FeedSets {
    fn read(store: &Store, feed_key: &str) -> Result<FeedSets, StoreError> {
        let tag = feed_tag(feed_key);
        Ok(FeedSets {
            sets: store.seen_sets(&tag)?.into_iter().collect(),
            tag,
            changed: Default::default(),
        })
    }

    /// Takes `id` out of whichever set holds it.
    fn take(&mut self, id: &[u8; 16]) -> Option<SeenRecord> {
        let (bucket, record) = self
            .sets
            .iter_mut()
            .find_map(|(bucket, set)| set.remove(id).map(|record| (*bucket, record)))?;
        self.changed.insert(bucket);
        Some(record)
    }

    fn put(&mut self, bucket: u32, id: [u8; 16], record: SeenRecord) {
        self.sets.entry(bucket).or_default().put(id, record);
        self.changed.insert(bucket);
    }

    /// The changed sets as rows: `None` removes an emptied one.
    fn rows(&self) -> Vec<([u8; 12], Option<Vec<u8>>)> {
        self.changed
            .iter()
            .map(|bucket| {
                let value = self
                    .sets
                    .get(bucket)
                    .filter(|set| !set.is_empty())
                    .map(SeenSet::to_bytes);
                (seen_key(&self.tag, *bucket), value)
            })
            .collect()
    }
}

impl Store {
    /// Records one poll of one feed atomically: new articles with their pending
    /// entries and links, baseline and churned ids, copies from this feed of
    /// articles from other feeds, last-seen times and the feed's new state.
    pub fn ingest(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The sets are read here and written in the transaction: no other
        // poll may come between (a copy writes another feed's sets).
        let _one_at_a_time = self
            .ingesting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another feed's poll may have stored an article at one of these
        // links since this batch was planned: whatever awaits between a plan
        // and its commit (encoding titles with the model) lets another poll
        // plan and commit. Planned again, the poll finds a copy of that
        // article; stored as it is, the article would be queued twice.
        for new in &batch.deliver {
            if let Some(link) = &new.canonical_link
                && let Some(owner) = self.link_owner(feed_key, link)?
                && !owner.same_feed
                && owner.has_body
                && owner.id != new.article.id
            {
                return Err(StoreError::LinkClaimed {
                    feed: feed_key.to_owned(),
                    link: link.clone(),
                });
            }
        }
        let fresh = |delivered| SeenRecord {
            first_seen: now,
            last_seen: now,
            delivered,
        };
        let mut sets = FeedSets::read(self, feed_key)?;
        let mut legacy_moved = Vec::new();
        // What the document holds now: known ids (their last_seen moves on,
        // and those that had left come back), then the new ones.
        let mut present = SeenSet::default();
        let originals = batch
            .churned
            .iter()
            .chain(&batch.renamed)
            .map(|(_, original)| original);
        for id in batch.still_present.iter().chain(originals) {
            let bytes = id_bytes(id);
            let known = match sets.take(&bytes) {
                Some(record) => Some(record),
                None => {
                    let record = self.legacy_seen(id)?;
                    if record.is_some() {
                        legacy_moved.push(id.as_str().to_owned());
                    }
                    record
                }
            };
            if let Some(mut record) = known {
                record.last_seen = now;
                present.put(bytes, record);
            }
        }
        for new in &batch.deliver {
            present.put(id_bytes(&new.article.id), fresh(true));
        }
        let others = batch.baseline.iter().map(|(id, _)| id);
        let others = others
            .chain(batch.churned.iter().chain(&batch.renamed).map(|(id, _)| id))
            .chain(batch.cross_feed.iter().map(|copy| &copy.id));
        for id in others {
            let bytes = id_bytes(id);
            if present.get(&bytes).is_none() {
                present.put(bytes, fresh(false));
            }
        }
        // Ids of the last document that are not in this one left the feed.
        let left_at = day_bucket(now);
        let mut gone = Vec::new();
        if let Some(last) = sets.sets.get_mut(&PRESENT) {
            last.retain(|id, record| {
                let stays = present.get(id).is_some();
                if !stays {
                    gone.push((*id, *record));
                }
                stays
            });
        }
        if !gone.is_empty() {
            sets.changed.insert(PRESENT);
        }
        for (id, record) in gone {
            sets.put(left_at, id, record);
        }
        for (id, record) in present.iter() {
            sets.put(PRESENT, *id, *record);
        }
        // A copy keeps its original (another feed's) from being forgotten.
        let mut other_feeds: Vec<FeedSets> = Vec::new();
        for copy in &batch.cross_feed {
            let Some(original) = self.article(&copy.original)? else {
                continue;
            };
            if original.feed_key == feed_key {
                continue;
            }
            let at = match other_feeds
                .iter()
                .position(|f| f.tag == feed_tag(&original.feed_key))
            {
                Some(at) => at,
                None => {
                    other_feeds.push(FeedSets::read(self, &original.feed_key)?);
                    other_feeds.len() - 1
                }
            };
            let other = &mut other_feeds[at];
            let bytes = id_bytes(&copy.original);
            let found = other
                .sets
                .iter()
                .find_map(|(bucket, set)| set.get(&bytes).map(|record| (*bucket, *record)));
            if let Some((bucket, mut record)) = found {
                record.last_seen = now;
                other.put(bucket, bytes, record);
            }
        }
        let mut seen_rows = sets.rows();
        for other in &other_feeds {
            seen_rows.extend(other.rows());
        }
        // Serialise outside the closure: sled may run it more than once.
        let mut records = Vec::new();
        let mut pending_rows = Vec::new();
        let mut link_rows = Vec::new();
        let enqueued = encode(&now)?;
        for new in &batch.deliver {
            let id = &new.article.id;
            let mut article = new.article.clone();
            article.routed.clone_from(&new.recipients);
            records.push((id.as_str().to_owned(), encode(&article)?, article.first_seen));
            for email in &new.recipients {
                pending_rows.push(pending_key(email, id));
            }
            // Only an article with a body is found by its link: without it
            // the plan could not tell a copy or a regenerated guid anyway.
            if let Some(link) = &new.canonical_link {
                link_rows.push((link_key(link), encode_link(id, feed_key)));
            }
        }
        // Copies name their original's other feed, and whom it is now queued
        // for too. Read here, not in the transaction: only an ingest or a
        // prune writes articles, and both hold `ingesting`.
        let mut copies: HashMap<&ArticleId, (Article, bool)> = HashMap::new();
        for copy in &batch.cross_feed {
            let found = match copies.remove(&copy.original) {
                Some(found) => Some(found),
                None => self.article(&copy.original)?.map(|article| (article, false)),
            };
            let Some((mut article, mut changed)) = found else {
                continue;
            };
            if article.feed_key != copy.feed_key && !article.also_in.contains(&copy.feed_key) {
                article.also_in.push(copy.feed_key.clone());
                changed = true;
            }
            for email in &copy.recipients {
                if !article.routed.contains(email) {
                    article.routed.push(email.clone());
                    pending_rows.push(pending_key(email, &copy.original));
                    changed = true;
                }
            }
            copies.insert(&copy.original, (article, changed));
        }
        for (article, _) in copies.into_values().filter(|(_, changed)| *changed) {
            records.push((
                article.id.as_str().to_owned(),
                encode(&article)?,
                article.first_seen,
            ));
        }
        let frames: Vec<(&[u8], &[u8], DateTime<Utc>)> = records
            .iter()
            .map(|(key, value, first_seen)| (key.as_bytes(), value.as_slice(), *first_seen))
            .collect();
        let pointers = self.append_bodies(day_bucket(now), &frames)?;
        let article_rows: Vec<(&[u8], [u8; super::bodies::Pointer::ENCODED_LEN])> = frames
            .iter()
            .zip(&pointers)
            .map(|((key, _, _), pointer)| (*key, pointer.to_bytes()))
            .collect();
        let state_row = encode(state)?;
        (
            &self.seen,
            &self.seen_legacy,
            &self.articles,
            &self.pending,
            &self.feeds,
            &self.links,
        )
            .transaction(|(seen, seen_legacy, articles, pending, feeds, links)| {
                for (key, value) in &seen_rows {
                    match value {
                        Some(value) => seen.insert(key.as_slice(), value.as_slice())?,
                        None => seen.remove(key.as_slice())?,
                    };
                }
                for key in &legacy_moved {
                    seen_legacy.remove(key.as_bytes())?;
                }
                for (key, pointer) in &article_rows {
                    articles.insert(*key, pointer.as_slice())?;
                }
                for key in &pending_rows {
                    pending.insert(key.as_slice(), enqueued.as_slice())?;
                }
                for (key, value) in &link_rows {
                    links.insert(key.as_slice(), value.as_slice())?;
                }
                feeds.insert(feed_key.as_bytes(), state_row.as_slice())?;
                Ok(())
            })
            .records(
                "seen, articles, pending, feeds and links",
                "commit a feed's poll to",
            )?;
        Ok(())
    }
}

impl Store {
    /// Answers what planning a document of `feed_key` asks of the past.
    pub fn known(&self, feed_key: &str, questions: &Questions) -> Result<Known, StoreError> {
        let mut known = Known::answering(questions);
        let sets = self.seen_sets(&feed_tag(feed_key))?;
        let check_legacy = !self.seen_legacy.is_empty();
        let mut seen = std::collections::HashSet::new();
        for id in &questions.ids {
            let bytes = id_bytes(id);
            let is_seen = sets.iter().any(|(_, set)| set.get(&bytes).is_some())
                || (check_legacy && self.legacy_seen(id)?.is_some());
            if is_seen {
                seen.insert(id);
                known.add_seen(id.clone());
            }
        }
        // Titles are read only for what is seen: the plan asks for no other.
        for id in questions.titles.iter().filter(|id| seen.contains(id)) {
            if let Some(stored) = self.stored(id)? {
                known.add_stored(id.clone(), stored);
            }
        }
        for (link, title_wanted) in &questions.links {
            let Some(owner) = self.link_owner(feed_key, link)? else {
                continue;
            };
            if *title_wanted
                && owner.same_feed
                && owner.has_body
                && let Some(stored) = self.stored(&owner.id)?
            {
                known.add_stored(owner.id.clone(), stored);
            }
            known.add_link_owner(link.clone(), owner);
        }
        Ok(known)
    }

    fn stored(&self, id: &ArticleId) -> Result<Option<Stored>, StoreError> {
        Ok(self.article(id)?.map(Stored::of))
    }
}
