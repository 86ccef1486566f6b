//! Upgrading stores written by older versions, at open, in place.
//!
//! Each step can be cut short by a crash and run again: it writes what it
//! derives before it removes what it derived it from, and merges rather than
//! overwrites, so a second run finishes the first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    PRESENT, Records, SeenRecord, SeenSet, Store, StoreError, decode, encode, encode_link, feed_tag,
    id_bytes, link_key, seen_key, seen_set,
};
use crate::article::{Article, ArticleId, canonical_link};

/// Brings a store of schema `from` up to [`super::SCHEMA_VERSION`].
pub(super) fn upgrade(store: &Store, from: u32) -> Result<(), StoreError> {
    if from <= 1 {
        v1_routes(store)?;
    }
    if from <= 2 {
        v2_to_v3(store)?;
    }
    // Schema 4 only added the `opt_outs` tree, opened empty: an older
    // feed-digest must refuse the store rather than ignore who unsubscribed.
    if from <= 4 {
        v4_to_v5(store)?;
    }
    // Schema 6 deflates large values as they are written; plain ones read as
    // before and leave with the prune, so there is nothing to rewrite (the
    // version keeps an older feed-digest from taking them for corruption).
    if from <= 6 {
        bodies_out(store)?;
    }
    tracing::info!(from, to = super::SCHEMA_VERSION, "store schema migrated");
    Ok(())
}

/// Version 1 kept seen records as JSON.
#[derive(Deserialize)]
struct SeenV1 {
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    delivered: bool,
}

/// Version 1 did not record whom an article was queued for: it is known
/// only for what is still pending.
fn v1_routes(store: &Store) -> Result<(), StoreError> {
    // (Through `article_bytes`: a run cut short after `bodies_out` began
    // left pointers.)
    for row in store.articles.iter() {
        let (key, bytes) = row.records("articles", "scan")?;
        let mut article: Article = decode("articles", &key, &store.article_bytes(&key, bytes)?)?;
        for pending in store.pending.iter().keys() {
            let pending = pending.records("pending", "scan")?;
            if pending.ends_with(article.id.as_str().as_bytes())
                && let Some(email) = pending.split(|b| *b == 0).next()
            {
                let email = String::from_utf8_lossy(email).into_owned();
                if !article.routed.contains(&email) {
                    article.routed.push(email);
                }
            }
        }
        store
            .articles
            .insert(&key, encode(&article)?)
            .records("articles", "write")?;
    }
    Ok(())
}

/// Versions 1 and 2 kept a record per seen id (by id alone) and, in 2, a
/// link for every id that had one (as 48 hex characters). Version 3 keeps
/// each feed's ids in sets, and links only while the article's body is
/// stored. An id's feed is known from its body or its link; the others
/// (copies, regenerated guids, bodies long pruned) stay by id, in
/// `seen_legacy`, until the retention lets them go.
fn v2_to_v3(store: &Store) -> Result<(), StoreError> {
    // Which feed each id belongs to, from bodies and links.
    let mut feeds: HashMap<ArticleId, [u8; 8]> = HashMap::new();
    let mut links: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for row in store.articles.iter() {
        let (key, bytes) = row.records("articles", "scan")?;
        let article: Article = decode("articles", &key, &store.article_bytes(&key, bytes)?)?;
        feeds.insert(article.id.clone(), feed_tag(&article.feed_key));
        if let Some(link) = &article.link {
            links.push((
                link_key(&canonical_link(link)),
                encode_link(&article.id, &article.feed_key),
            ));
        }
    }
    for row in store.links.iter() {
        let (_, bytes) = row.records("links", "scan")?;
        // Version 2: 32 hex of the id, then 16 hex of the feed tag.
        if let Ok(text) = std::str::from_utf8(&bytes)
            && text.len() == 48
            && let (Some(id), Some(tag)) = (ArticleId::from_stored(&text[..32]), super::unhex(&text[32..]))
            && let Ok(tag) = <[u8; 8]>::try_from(tag)
        {
            feeds.entry(id).or_insert(tag);
        }
    }
    let mut sets: HashMap<[u8; 8], SeenSet> = HashMap::new();
    let mut legacy: Vec<(ArticleId, SeenRecord)> = Vec::new();
    let mut old_keys = Vec::new();
    for row in store.seen.iter() {
        let (key, bytes) = row.records("seen", "scan")?;
        let Some(id) = std::str::from_utf8(&key).ok().and_then(ArticleId::from_stored) else {
            continue; // a set, written by an earlier run of this step
        };
        let record = match SeenRecord::from_bytes(&bytes) {
            Some(record) => record,
            None => {
                let old: SeenV1 = decode("seen", &key, &bytes)?;
                SeenRecord {
                    first_seen: old.first_seen,
                    last_seen: old.last_seen,
                    delivered: old.delivered,
                }
            }
        };
        // Which ids are in the feed's latest document is not known: all
        // are taken as present, and the next poll moves those that left.
        match feeds.get(&id) {
            Some(tag) => sets.entry(*tag).or_default().put(id_bytes(&id), record),
            None => legacy.push((id, record)),
        }
        old_keys.push(key);
    }
    for (tag, set) in sets {
        let key = seen_key(&tag, PRESENT);
        let mut merged = match store.seen.get(key).records("seen", "read")? {
            Some(bytes) => seen_set(&key, &bytes)?,
            None => SeenSet::default(),
        };
        for (id, record) in set.iter() {
            merged.put(*id, *record);
        }
        store
            .seen
            .insert(key, merged.to_bytes())
            .records("seen", "write")?;
    }
    for (id, record) in &legacy {
        store
            .seen_legacy
            .insert(id.as_str(), record.to_bytes().as_slice())
            .records("seen_legacy", "write")?;
    }
    store.flush_blocking()?;
    // What the sets now hold, and the links as version 3 keeps them.
    for key in old_keys {
        store.seen.remove(key).records("seen", "remove")?;
    }
    store.links.clear().records("links", "clear")?;
    for (key, value) in links {
        store.links.insert(key, value).records("links", "write")?;
    }
    store.flush_blocking()?;
    Ok(())
}

/// Schema 4 and before kept a `sent` record per article; schema 5 one per
/// digest (address and sent time), the stories in one array. One batch
/// writes the digests and removes the old records: sled applies it whole
/// or not at all, so a crash leaves either layout, never both.
fn v4_to_v5(store: &Store) -> Result<(), StoreError> {
    let mut digests: std::collections::BTreeMap<Vec<u8>, Vec<crate::digest::SentStory>> =
        std::collections::BTreeMap::new();
    let mut batch = sled::Batch::default();
    for row in store.sent.iter() {
        let (key, bytes) = row.records("sent", "scan")?;
        if !super::sent::is_per_article(&key) {
            continue;
        }
        let story = decode("sent", &key, &bytes)?;
        digests
            .entry(super::sent::packed_key(&key)?)
            .or_default()
            .push(story);
        batch.remove(key);
    }
    // A schema 4 store holds no digest record yet: nothing to merge with.
    for (key, stories) in digests {
        batch.insert(key, encode(&stories)?);
    }
    store.sent.apply_batch(batch).records("sent", "write")?;
    store.flush_blocking()?;
    Ok(())
}

/// Schema 7 keeps articles in the day files of `bodies/` and a pointer in
/// sled: every record still held whole moves there, as it is (no
/// re-encoding: an export reads the same bytes). Also what an import ends
/// with. Each chunk's frames are synced before their pointers replace the
/// records, so a crash leaves records or pointers, and a second run
/// finishes the first.
pub(super) fn bodies_out(store: &Store) -> Result<(), StoreError> {
    let mut whole = Vec::new();
    for row in store.articles.iter() {
        let (key, bytes) = row.records("articles", "scan")?;
        if super::bodies::Pointer::from_bytes(&bytes).is_none() {
            whole.push(key);
        }
    }
    let day = super::day_bucket(Utc::now());
    for chunk in whole.chunks(512) {
        let mut values = Vec::with_capacity(chunk.len());
        for key in chunk {
            let Some(bytes) = store.articles.get(key).records("articles", "read")? else {
                continue;
            };
            let first_seen = super::maintenance::first_seen(key, &bytes)?;
            values.push((key, bytes, first_seen));
        }
        let records: Vec<(&[u8], &[u8], DateTime<Utc>)> = values
            .iter()
            .map(|(key, bytes, first_seen)| (key.as_ref(), bytes.as_ref(), *first_seen))
            .collect();
        store.move_to_day_file(day, &records)?;
    }
    if !whole.is_empty() {
        store.flush_blocking()?;
        tracing::info!(articles = whole.len(), "article records moved to the body files");
    }
    Ok(())
}
