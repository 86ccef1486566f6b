//! Polling on PostgreSQL: what planning a document asks of the past, and
//! the poll's one transaction. The same effects as sled's `ingest.rs`, on
//! rows: a seen id is a row of its feed (`left_on` NULL while it is in the
//! feed's latest document, else the day it left), so a poll updates the
//! rows its document touches instead of rewriting sets.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::types::Json;

use super::Leased;
use super::{PUT_FEED_STATE, Pg, PgStore, col, decode_json};
use crate::article::{Article, ArticleId};
use crate::feed_state::FeedState;
use crate::ingest::{IngestBatch, Known, LinkOwner, Questions, Stored};
use crate::store::{Feeds, Holder, LeaseTerm};
use crate::store::{StoreError, day_bucket, feed_tag, id_bytes, link_key};

impl Feeds for PgStore {
    async fn lease_feed(&self, feed_key: &str, holder: &Holder, term: LeaseTerm) -> Result<bool, StoreError> {
        self.lease(Leased::Feed, feed_key, holder, term).await
    }

    async fn put_feed_state(&self, feed_key: &str, state: &FeedState) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(PUT_FEED_STATE, &[&feed_key, &Json(state)])
            .await
            .pg("feeds", "write")?;
        Ok(())
    }

    async fn known(&self, feed_key: &str, questions: &Questions) -> Result<Known, StoreError> {
        let client = self.client().await?;
        let mut known = Known::answering(questions);
        let tag = feed_tag(feed_key).to_vec();
        let by_bytes: HashMap<Vec<u8>, &ArticleId> = questions
            .ids
            .iter()
            .map(|id| (id_bytes(id).to_vec(), id))
            .collect();
        let wanted: Vec<&Vec<u8>> = by_bytes.keys().collect();
        let mut seen: HashSet<&ArticleId> = HashSet::new();
        for row in client
            .query(
                "SELECT id FROM seen WHERE feed_tag = $1 AND id = ANY($2)",
                &[&tag, &wanted],
            )
            .await
            .pg("seen", "read")?
        {
            let bytes: Vec<u8> = col(&row, 0)?;
            if let Some(id) = by_bytes.get(&bytes) {
                seen.insert(id);
            }
        }
        let texts: Vec<&str> = questions.ids.iter().map(ArticleId::as_str).collect();
        for row in client
            .query("SELECT id FROM seen_legacy WHERE id = ANY($1)", &[&texts])
            .await
            .pg("seen_legacy", "read")?
        {
            let text: String = col(&row, 0)?;
            if let Some(id) = questions.ids.iter().find(|id| id.as_str() == text) {
                seen.insert(id);
            }
        }
        for id in &seen {
            known.add_seen((*id).clone());
        }
        // Titles are read only for what is seen: the plan asks for no other.
        let titles: Vec<&str> = questions
            .titles
            .iter()
            .filter(|id| seen.contains(id))
            .map(ArticleId::as_str)
            .collect();
        let links: Vec<(Vec<u8>, &String, bool)> = questions
            .links
            .iter()
            .map(|(link, title_wanted)| (link_key(link), link, *title_wanted))
            .collect();
        let link_keys: Vec<&Vec<u8>> = links.iter().map(|(key, _, _)| key).collect();
        let mut owners: HashMap<Vec<u8>, (ArticleId, Vec<u8>, bool)> = HashMap::new();
        for row in client
            .query(
                "SELECT l.link, l.id, l.feed_tag, a.id IS NOT NULL
                 FROM links l LEFT JOIN articles a ON a.id = l.id
                 WHERE l.link = ANY($1)",
                &[&link_keys],
            )
            .await
            .pg("links", "read")?
        {
            let key: Vec<u8> = col(&row, 0)?;
            let id: String = col(&row, 1)?;
            let id = ArticleId::from_stored(&id).ok_or_else(|| StoreError::Corrupt {
                tree: "links",
                key: crate::store::hex(&key),
                message: format!("{id:?} is not an article id"),
            })?;
            owners.insert(key, (id, col(&row, 2)?, col(&row, 3)?));
        }
        let mut stored_wanted: Vec<&str> = titles;
        for (key, _, title_wanted) in &links {
            if let Some((id, owner_tag, has_body)) = owners.get(key)
                && *title_wanted
                && *owner_tag == tag
                && *has_body
            {
                stored_wanted.push(id.as_str());
            }
        }
        let stored = self.stored(&client, &stored_wanted).await?;
        for id in questions.titles.iter().filter(|id| seen.contains(id)) {
            if let Some(found) = stored.get(id.as_str()) {
                known.add_stored(id.clone(), found.clone());
            }
        }
        for (key, link, title_wanted) in links {
            let Some((id, owner_tag, has_body)) = owners.remove(&key) else {
                continue;
            };
            let same_feed = owner_tag == tag;
            if title_wanted
                && same_feed
                && has_body
                && let Some(found) = stored.get(id.as_str())
            {
                known.add_stored(id.clone(), found.clone());
            }
            known.add_link_owner(
                link.clone(),
                LinkOwner {
                    id,
                    same_feed,
                    has_body,
                },
            );
        }
        Ok(known)
    }

    /// Records one poll of one feed in one transaction (see `store::ingest`),
    /// tried again when the database chose it as a deadlock's victim (two
    /// polls of different feeds can meet on a copy's original).
    async fn ingest(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match self.ingest_once(feed_key, state, batch, now).await {
                Err(err) if tries < 3 && super::is_retryable(&err) => tries += 1,
                result => return result,
            }
        }
    }
}

/// The advisory-lock class of links ("link" in ASCII); the two-key lock
/// space does not overlap the one-key locks of migrations and prunes.
const LINK_LOCKS: i32 = 0x6c69_6e6b;

/// Makes sure no other feed stored an article at one of the new articles'
/// links since `known` answered (the poll planned them as new on that
/// answer): each link is locked for the transaction, in one order, so two
/// polls claiming one link go one after the other, and the second sees the
/// first's article and is planned again (`LinkClaimed`), as a copy of it.
async fn claim_links(
    tx: &tokio_postgres::Transaction<'_>,
    feed_key: &str,
    tag: &[u8],
    batch: &IngestBatch,
) -> Result<(), StoreError> {
    let links: HashMap<Vec<u8>, &str> = batch
        .deliver
        .iter()
        .filter_map(|new| new.canonical_link.as_deref())
        .map(|link| (link_key(link), link))
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    let mut locks: Vec<i32> = links
        .keys()
        .map(|key| i32::from_be_bytes([key[0], key[1], key[2], key[3]]))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, k) FROM (SELECT k FROM unnest($2::int4[]) AS k ORDER BY k) AS sorted",
        &[&LINK_LOCKS, &locks],
    )
    .await
    .pg("links", "lock")?;
    let keys: Vec<&Vec<u8>> = links.keys().collect();
    let claimed = tx
        .query_opt(
            "SELECT l.link FROM links l JOIN articles a ON a.id = l.id
             WHERE l.link = ANY($1) AND l.feed_tag <> $2 LIMIT 1",
            &[&keys, &tag],
        )
        .await
        .pg("links", "read")?;
    match claimed {
        Some(row) => {
            let key: Vec<u8> = col(&row, 0)?;
            Err(StoreError::LinkClaimed {
                feed: feed_key.to_owned(),
                link: links.get(&key).copied().unwrap_or_default().to_owned(),
            })
        }
        None => Ok(()),
    }
}

/// Makes sure no other poll of this feed stored one of the new articles
/// since `known` answered: a lease that lapsed under a slow poll lets two
/// instances poll one feed, and the second's commit would queue again what
/// the first stored, perhaps sent already (its pending rows gone). The
/// feed's row is locked for the transaction, so two commits of one feed go
/// one after the other, and the second sees the first's ids.
async fn claim_ids(
    tx: &tokio_postgres::Transaction<'_>,
    feed_key: &str,
    tag: &[u8],
    batch: &IngestBatch,
) -> Result<(), StoreError> {
    if batch.deliver.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT 1 FROM feeds WHERE feed_key = $1 FOR UPDATE", &[&feed_key])
        .await
        .pg("feeds", "lock")?;
    let ids: Vec<Vec<u8>> = batch
        .deliver
        .iter()
        .map(|new| id_bytes(&new.article.id).to_vec())
        .collect();
    let stored = tx
        .query_opt(
            "SELECT 1 FROM seen WHERE feed_tag = $1 AND id = ANY($2) LIMIT 1",
            &[&tag, &ids],
        )
        .await
        .pg("seen", "read")?;
    match stored {
        Some(_) => Err(StoreError::PolledMeanwhile {
            feed: feed_key.to_owned(),
        }),
        None => Ok(()),
    }
}

impl PgStore {
    /// The titles and dates of the stored articles among `ids`.
    async fn stored(
        &self,
        client: &tokio_postgres::Client,
        ids: &[&str],
    ) -> Result<HashMap<String, Stored>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let articles = super::articles_by_id(client, ids).await?;
        Ok(articles
            .into_iter()
            .map(|(id, article)| (id, Stored::of(article)))
            .collect())
    }

    async fn ingest_once(
        &self,
        feed_key: &str,
        state: &FeedState,
        batch: &IngestBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.pg("feeds", "begin a poll of")?;
        let tag = feed_tag(feed_key).to_vec();
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&super::maintenance::PRUNE_FENCE],
        )
        .await
        .pg("meta", "hold off the prune for")?;
        claim_links(&tx, feed_key, &tag, batch).await?;
        claim_ids(&tx, feed_key, &tag, batch).await?;
        let poll_time = now;
        // Seen times are whole seconds, as sled keeps them.
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        // Known ids still in the document (and the originals of churn and
        // renames): their last_seen moves on, and those that had left are back.
        let originals = batch
            .churned
            .iter()
            .chain(&batch.renamed)
            .map(|(_, original)| original);
        let known_ids: Vec<&ArticleId> = batch.still_present.iter().chain(originals).collect();
        let known_bytes: Vec<Vec<u8>> = known_ids.iter().map(|id| id_bytes(id).to_vec()).collect();
        let mut present: HashSet<Vec<u8>> = HashSet::new();
        for row in tx
            .query(
                "UPDATE seen SET last_seen = $3, left_on = NULL
                 WHERE feed_tag = $1 AND id = ANY($2) RETURNING id",
                &[&tag, &known_bytes, &now],
            )
            .await
            .pg("seen", "update")?
        {
            present.insert(col(&row, 0)?);
        }
        // Ids from before sled's schema 3 move into their feed when they show up.
        let unplaced: Vec<&str> = known_ids
            .iter()
            .filter(|id| !present.contains(id_bytes(id).as_slice()))
            .map(|id| id.as_str())
            .collect();
        if !unplaced.is_empty() {
            for row in tx
                .query(
                    "DELETE FROM seen_legacy WHERE id = ANY($1) RETURNING id, first_seen, delivered",
                    &[&unplaced],
                )
                .await
                .pg("seen_legacy", "move")?
            {
                let id: String = col(&row, 0)?;
                let first: DateTime<Utc> = col(&row, 1)?;
                let delivered: bool = col(&row, 2)?;
                let Some(id) = ArticleId::from_stored(&id) else {
                    continue;
                };
                let bytes = id_bytes(&id).to_vec();
                tx.execute(
                    "INSERT INTO seen (feed_tag, id, first_seen, last_seen, delivered, left_on)
                     VALUES ($1, $2, $3, $4, $5, NULL)
                     ON CONFLICT (feed_tag, id) DO UPDATE SET last_seen = EXCLUDED.last_seen, left_on = NULL",
                    &[&tag, &bytes, &first, &now, &delivered],
                )
                .await
                .pg("seen", "write")?;
                present.insert(bytes);
            }
        }
        // New articles, then what is recorded without delivery.
        let delivered: Vec<Vec<u8>> = batch
            .deliver
            .iter()
            .map(|new| id_bytes(&new.article.id).to_vec())
            .collect();
        present.extend(delivered.iter().cloned());
        let others = batch.baseline.iter().map(|(id, _)| id);
        let mut undelivered: Vec<Vec<u8>> = Vec::new();
        for id in others
            .chain(batch.churned.iter().chain(&batch.renamed).map(|(id, _)| id))
            .chain(batch.cross_feed.iter().map(|copy| &copy.id))
        {
            let bytes = id_bytes(id).to_vec();
            if present.insert(bytes.clone()) {
                undelivered.push(bytes);
            }
        }
        for (ids, was_delivered) in [(&delivered, true), (&undelivered, false)] {
            if ids.is_empty() {
                continue;
            }
            tx.execute(
                "INSERT INTO seen (feed_tag, id, first_seen, last_seen, delivered, left_on)
                 SELECT $1, u.id, $3, $3, $4, NULL FROM unnest($2::bytea[]) AS u(id)
                 ON CONFLICT (feed_tag, id) DO UPDATE SET first_seen = EXCLUDED.first_seen,
                     last_seen = EXCLUDED.last_seen, delivered = EXCLUDED.delivered, left_on = NULL",
                &[&tag, ids, &now, &was_delivered],
            )
            .await
            .pg("seen", "write")?;
        }
        // Ids of the last document that are not in this one left the feed today.
        let present: Vec<Vec<u8>> = present.into_iter().collect();
        let today = i32::try_from(day_bucket(now)).unwrap_or(i32::MAX);
        tx.execute(
            "UPDATE seen SET left_on = $3
             WHERE feed_tag = $1 AND left_on IS NULL AND NOT (id = ANY($2))",
            &[&tag, &present, &today],
        )
        .await
        .pg("seen", "update")?;
        // The new articles, what waits for each recipient, their links.
        let mut ids: Vec<&str> = Vec::new();
        let mut bodies: Vec<(DateTime<Utc>, Value)> = Vec::new();
        let mut pending_emails: Vec<String> = Vec::new();
        let mut pending_ids: Vec<&str> = Vec::new();
        let mut link_keys: Vec<Vec<u8>> = Vec::new();
        let mut link_ids: Vec<&str> = Vec::new();
        for new in &batch.deliver {
            let mut article = new.article.clone();
            article.routed.clone_from(&new.recipients);
            ids.push(new.article.id.as_str());
            bodies.push((article.first_seen, serde_json::to_value(&article)?));
            for email in &new.recipients {
                pending_emails.push(email.to_lowercase());
                pending_ids.push(new.article.id.as_str());
            }
            // Only an article with a body is found by its link.
            if let Some(link) = &new.canonical_link {
                link_keys.push(link_key(link));
                link_ids.push(new.article.id.as_str());
            }
        }
        // One row each: a later one wins, as a later sled insert would.
        let (ids, bodies) = last_of_each(ids, bodies);
        let (link_keys, link_ids) = last_of_each(link_keys, link_ids);
        if !ids.is_empty() {
            let (firsts, bodies): (Vec<DateTime<Utc>>, Vec<Value>) = bodies.into_iter().unzip();
            tx.execute(
                "INSERT INTO articles (id, first_seen, article)
                 SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[])
                 ON CONFLICT (id) DO UPDATE SET first_seen = EXCLUDED.first_seen, article = EXCLUDED.article",
                &[&ids, &firsts, &bodies],
            )
            .await
            .pg("articles", "write")?;
        }
        insert_pending(&tx, &pending_emails, &pending_ids, poll_time).await?;
        if !link_keys.is_empty() {
            tx.execute(
                "INSERT INTO links (link, id, feed_tag)
                 SELECT u.link, u.id, $3 FROM unnest($1::bytea[], $2::text[]) AS u(link, id)
                 ON CONFLICT (link) DO UPDATE SET id = EXCLUDED.id, feed_tag = EXCLUDED.feed_tag",
                &[&link_keys, &link_ids, &tag],
            )
            .await
            .pg("links", "write")?;
        }
        // Copies from this feed of other feeds' articles: the original is
        // kept from being forgotten, names this feed too, and goes to the
        // copy's recipients it had not reached.
        for copy in &batch.cross_feed {
            let Some(row) = tx
                .query_opt(
                    "SELECT article FROM articles WHERE id = $1 FOR UPDATE",
                    &[&copy.original.as_str()],
                )
                .await
                .pg("articles", "read")?
            else {
                continue;
            };
            let mut article: Article = decode_json("articles", copy.original.as_str(), col(&row, 0)?)?;
            if article.feed_key != feed_key {
                tx.execute(
                    "UPDATE seen SET last_seen = $3 WHERE feed_tag = $1 AND id = $2",
                    &[
                        &feed_tag(&article.feed_key).to_vec(),
                        &id_bytes(&copy.original).to_vec(),
                        &now,
                    ],
                )
                .await
                .pg("seen", "update")?;
            }
            if article.feed_key != copy.feed_key && !article.also_in.contains(&copy.feed_key) {
                article.also_in.push(copy.feed_key.clone());
            }
            let mut emails = Vec::new();
            for email in &copy.recipients {
                if !article.routed.contains(email) {
                    article.routed.push(email.clone());
                    emails.push(email.to_lowercase());
                }
            }
            let original_ids = vec![copy.original.as_str(); emails.len()];
            insert_pending(&tx, &emails, &original_ids, poll_time).await?;
            tx.execute(
                "UPDATE articles SET article = $2 WHERE id = $1",
                &[&copy.original.as_str(), &Json(&article)],
            )
            .await
            .pg("articles", "write")?;
        }
        tx.execute(PUT_FEED_STATE, &[&feed_key, &Json(state)])
            .await
            .pg("feeds", "write")?;
        tx.commit().await.pg(
            "seen, articles, pending, feeds and links",
            "commit a feed's poll to",
        )?;
        Ok(())
    }
}

/// `keys` and `values` with each key once, holding its last value: one
/// statement may not write a row twice.
fn last_of_each<K: Clone + Eq + std::hash::Hash, V>(keys: Vec<K>, values: Vec<V>) -> (Vec<K>, Vec<V>) {
    let mut at: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<(K, V)> = Vec::new();
    for (key, value) in keys.into_iter().zip(values) {
        match at.get(&key) {
            Some(&index) => out[index].1 = value,
            None => {
                at.insert(key.clone(), out.len());
                out.push((key, value));
            }
        }
    }
    out.into_iter().unzip()
}

async fn insert_pending(
    tx: &tokio_postgres::Transaction<'_>,
    emails: &[String],
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let pairs: Vec<(&str, &str)> = emails
        .iter()
        .map(String::as_str)
        .zip(ids.iter().copied())
        .collect();
    let (pairs, _) = last_of_each(pairs, vec![(); emails.len()]);
    if pairs.is_empty() {
        return Ok(());
    }
    let (emails, ids): (Vec<&str>, Vec<&str>) = pairs.into_iter().unzip();
    tx.execute(
        "INSERT INTO pending (email, id, enqueued)
         SELECT u.email, u.id, $3 FROM unnest($1::text[], $2::text[]) AS u(email, id)
         ON CONFLICT (email, id) DO UPDATE SET enqueued = EXCLUDED.enqueued",
        &[&emails, &ids, &Json(now)],
    )
    .await
    .pg("pending", "write")?;
    Ok(())
}
