//! Writing one poll of one feed: every effect in a single sled transaction.

use chrono::{DateTime, Utc};
use sled::Transactional;

use super::{
    FeedState, Records, SeenRecord, Store, StoreError, abort, decode, encode, encode_link, link_key,
    pending_key, seen_record,
};
use crate::article::Article;
use crate::article::ArticleId;
use crate::ingest::{IngestBatch, Known, Questions, Stored};

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
        let seen_new = |delivered| {
            SeenRecord {
                first_seen: now,
                last_seen: now,
                delivered,
            }
            .to_bytes()
        };
        // Serialise outside the closure: sled may run it more than once.
        let mut seen_rows: Vec<(String, [u8; SeenRecord::ENCODED_LEN])> = Vec::new();
        let mut article_rows = Vec::new();
        let mut pending_rows = Vec::new();
        let mut link_rows = Vec::new();
        let enqueued = encode(&now)?;
        for new in &batch.deliver {
            let id = &new.article.id;
            seen_rows.push((id.as_str().to_owned(), seen_new(true)));
            let mut article = new.article.clone();
            article.routed.clone_from(&new.recipients);
            article_rows.push((id.as_str().to_owned(), encode(&article)?));
            for email in &new.recipients {
                pending_rows.push(pending_key(email, id));
            }
            if let Some(link) = &new.canonical_link {
                link_rows.push((link_key(link), encode_link(id, feed_key)));
            }
        }
        for (id, link) in &batch.baseline {
            seen_rows.push((id.as_str().to_owned(), seen_new(false)));
            if let Some(link) = link {
                link_rows.push((link_key(link), encode_link(id, feed_key)));
            }
        }
        for (id, _) in batch.churned.iter().chain(&batch.renamed) {
            seen_rows.push((id.as_str().to_owned(), seen_new(false)));
        }
        for copy in &batch.cross_feed {
            seen_rows.push((copy.id.as_str().to_owned(), seen_new(false)));
        }
        let mut touched: Vec<String> = batch
            .still_present
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        touched.extend(
            batch
                .churned
                .iter()
                .chain(&batch.renamed)
                .map(|(_, original)| original.as_str().to_owned()),
        );
        let state_row = encode(state)?;
        (
            &self.seen,
            &self.articles,
            &self.pending,
            &self.feeds,
            &self.links,
        )
            .transaction(|(seen, articles, pending, feeds, links)| {
                for (key, value) in &seen_rows {
                    seen.insert(key.as_bytes(), value.as_slice())?;
                }
                for (key, value) in &article_rows {
                    articles.insert(key.as_bytes(), value.as_slice())?;
                }
                for key in &pending_rows {
                    pending.insert(key.as_slice(), enqueued.as_slice())?;
                }
                for (key, value) in &link_rows {
                    links.insert(key.as_slice(), value.as_slice())?;
                }
                for key in &touched {
                    if let Some(bytes) = seen.get(key.as_bytes())? {
                        let mut record = seen_record(key.as_bytes(), &bytes).map_err(abort)?;
                        record.last_seen = now;
                        seen.insert(key.as_bytes(), record.to_bytes().as_slice())?;
                    }
                }
                for copy in &batch.cross_feed {
                    let key = copy.original.as_str().as_bytes();
                    let Some(bytes) = articles.get(key)? else { continue };
                    let mut article: Article = decode("articles", key, &bytes).map_err(abort)?;
                    if article.feed_key != copy.feed_key && !article.also_in.contains(&copy.feed_key) {
                        article.also_in.push(copy.feed_key.clone());
                    }
                    for email in &copy.recipients {
                        if !article.routed.contains(email) {
                            article.routed.push(email.clone());
                            pending.insert(pending_key(email, &copy.original), enqueued.as_slice())?;
                        }
                    }
                    articles.insert(key, encode(&article).map_err(abort)?)?;
                    if let Some(bytes) = seen.get(key)? {
                        let mut record = seen_record(key, &bytes).map_err(abort)?;
                        record.last_seen = now;
                        seen.insert(key, record.to_bytes().as_slice())?;
                    }
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
        let mut seen = std::collections::HashSet::new();
        for id in &questions.ids {
            if self.is_seen(id)? {
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
        Ok(self.article(id)?.map(|article| Stored {
            title: article.title,
            published: article.published,
        }))
    }
}
