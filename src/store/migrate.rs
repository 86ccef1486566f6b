//! Upgrading stores written by older versions, at open, in place.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Records, Store, StoreError, decode, encode, encode_link, link_key, seen_record};
use crate::article::{Article, canonical_link};

/// Brings a store of schema `from` up to [`super::SCHEMA_VERSION`].
pub(super) fn upgrade(store: &Store, from: u32) -> Result<(), StoreError> {
    if from <= 1 {
        v1_to_v2(store)?;
    }
    tracing::info!(from, to = super::SCHEMA_VERSION, "store schema migrated");
    Ok(())
}

/// Version 1 kept seen records as JSON and had no link index.
#[derive(Deserialize)]
struct SeenV1 {
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    delivered: bool,
}

fn v1_to_v2(store: &Store) -> Result<(), StoreError> {
    for row in store.seen.iter() {
        let (key, bytes) = row.records("seen", "scan")?;
        if seen_record(&key, &bytes).is_ok() {
            continue;
        }
        let old: SeenV1 = decode("seen", &key, &bytes)?;
        let record = super::SeenRecord {
            first_seen: old.first_seen,
            last_seen: old.last_seen,
            delivered: old.delivered,
        };
        store
            .seen
            .insert(key, record.to_bytes().as_slice())
            .records("seen", "write")?;
    }
    for row in store.articles.iter() {
        let (key, bytes) = row.records("articles", "scan")?;
        let mut article: Article = decode("articles", &key, &bytes)?;
        // Who it was queued for is known only for what is still pending.
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
        if let Some(link) = &article.link {
            store
                .links
                .insert(
                    link_key(&canonical_link(link)),
                    encode_link(&article.id, &article.feed_key),
                )
                .records("links", "write")?;
        }
    }
    Ok(())
}
