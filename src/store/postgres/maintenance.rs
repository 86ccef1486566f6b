//! Keeping the database in shape: the prune (the same rules as sled's,
//! in one transaction), the invariant check, and export/import in sled's
//! JSON-lines format, so that `store export` from a sled `state_dir` then
//! `store import` into PostgreSQL moves an install, and back.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::Json;

use super::Leased;
use super::{Pg, PgStore, col, decode_json};
use crate::article::{Article, ArticleId};
use crate::digest::SentStory;
use crate::feed_state::FeedState;
use crate::outbox::OutboxEntry;
use crate::store::maintenance::{invalid_line, read_export};
use crate::store::{
    CheckReport, ExportedRecord, Kind, PRESENT, PruneReport, SCHEMA_VERSION, SeenRecord, StoreError,
    feed_tag, hex, id_bytes, unhex,
};
use crate::store::{Holder, Lease, Maintenance};
use crate::subscriber::{OptOut, SubscriberState};

/// One id of a `seen` set as sled's export writes it.
#[derive(Serialize, Deserialize)]
struct SeenValue {
    id: ArticleId,
    #[serde(flatten)]
    record: SeenRecord,
}

/// A `links` value as exported: the article id and the feed tag (16 hex).
#[derive(Serialize, Deserialize)]
struct LinkValue {
    id: ArticleId,
    feed_tag: String,
}

/// The advisory lock a prune holds ("fdprune!" in ASCII).
const PRUNE_LOCK: i64 = 0x6664_7072_756e_6521;

/// Held shared by every poll's commit and exclusively by the prune, so that
/// the prune's reading of what is needed and its removals see no commit in
/// between (sled's prune holds its ingest lock for the same reason): a copy
/// that queued an old original meanwhile would lose its body.
pub(super) const PRUNE_FENCE: i64 = 0x6664_6665_6e63_6521;

/// Every table but `meta`, in `Kind` order: what "empty" means for import.
const TABLES: [&str; 10] = [
    "seen",
    "seen_legacy",
    "articles",
    "links",
    "feeds",
    "subscribers",
    "pending",
    "outbox",
    "sent",
    "opt_outs",
];

/// A record of an export, typed, ready to insert.
enum Row {
    LastPrune(DateTime<Utc>),
    Seen {
        tag: Vec<u8>,
        left_on: Option<i32>,
        seen: Vec<SeenValue>,
    },
    LegacySeen(String, SeenRecord),
    Article(Box<Article>),
    Link(Vec<u8>, LinkValue),
    Feed(String, Box<FeedState>),
    Subscriber(String, SubscriberState),
    Pending(String, ArticleId, DateTime<Utc>),
    Outbox(String, OutboxEntry),
    Sent(String, i64, Vec<SentStory>),
    OptOut(String, OptOut),
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// An exported record as a row, or what is wrong with it.
fn row_of(kind: Kind, key: &str, value: Value) -> Result<Option<Row>, String> {
    Ok(Some(match kind {
        Kind::Meta if key == "schema_version" => return Ok(None),
        Kind::Meta if key == "last_prune" => Row::LastPrune(typed(value)?),
        Kind::Meta => return Err(format!("meta key {key:?} is not one this feed-digest writes")),
        Kind::Seen => {
            let bytes = unhex(key)
                .filter(|b| b.len() == 12)
                .ok_or_else(|| format!("key {key:?} is not a feed tag and a bucket"))?;
            let mut bucket = [0; 4];
            bucket.copy_from_slice(&bytes[8..]);
            let bucket = u32::from_be_bytes(bucket);
            let left_on = (bucket != PRESENT)
                .then(|| i32::try_from(bucket).map_err(|_| format!("bucket {bucket} is not a day")))
                .transpose()?;
            Row::Seen {
                tag: bytes[..8].to_vec(),
                left_on,
                seen: typed(value)?,
            }
        }
        Kind::LegacySeen => {
            ArticleId::from_stored(key).ok_or_else(|| format!("key {key:?} is not an article id"))?;
            Row::LegacySeen(key.to_owned(), typed(value)?)
        }
        Kind::Articles => {
            let article: Article = typed(value)?;
            if article.id.as_str() != key {
                return Err(format!("article {} under key {key:?}", article.id));
            }
            Row::Article(Box::new(article))
        }
        Kind::Links => {
            let link_key = unhex(key)
                .filter(|b| b.len() == 16)
                .ok_or_else(|| format!("key {key:?} is not 32 hex"))?;
            let link: LinkValue = typed(value)?;
            if unhex(&link.feed_tag).is_none_or(|tag| tag.len() != 8) {
                return Err(format!("feed tag {:?} is not 16 hex", link.feed_tag));
            }
            Row::Link(link_key, link)
        }
        Kind::Feeds => Row::Feed(key.to_owned(), Box::new(typed(value)?)),
        Kind::Subscribers => Row::Subscriber(key.to_owned(), typed(value)?),
        Kind::Pending => {
            let (email, id) = key
                .rsplit_once('/')
                .ok_or_else(|| format!("key {key:?} is not an address and an id"))?;
            let id = ArticleId::from_stored(id).ok_or_else(|| format!("{id:?} is not an article id"))?;
            Row::Pending(email.to_owned(), id, typed(value)?)
        }
        Kind::Outbox => Row::Outbox(key.to_owned(), typed(value)?),
        Kind::Sent => {
            let bytes = unhex(key).ok_or_else(|| format!("key {key:?} is not hex"))?;
            let nul = bytes
                .iter()
                .position(|b| *b == 0)
                .filter(|at| bytes.len() == at + 9)
                .ok_or_else(|| "key is not an address and a sent time".to_owned())?;
            let email = String::from_utf8(bytes[..nul].to_vec()).map_err(|e| e.to_string())?;
            let mut ms = [0; 8];
            ms.copy_from_slice(&bytes[nul + 1..]);
            Row::Sent(email, i64::from_be_bytes(ms), typed(value)?)
        }
        Kind::OptOuts => Row::OptOut(key.to_owned(), typed(value)?),
    }))
}

fn sent_key(email: &str, ms: i64) -> String {
    let mut key = email.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&ms.to_be_bytes());
    hex(&key)
}

fn seen_key(tag: &[u8], left_on: Option<i32>) -> String {
    let bucket = left_on.and_then(|day| u32::try_from(day).ok()).unwrap_or(PRESENT);
    let mut key = tag.to_vec();
    key.extend_from_slice(&bucket.to_be_bytes());
    hex(&key)
}

impl Maintenance for PgStore {
    async fn prune(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        keep_bodies: TimeDelta,
    ) -> Result<PruneReport, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.pg("all", "begin a prune of")?;
        // One prune at a time among the instances: another's is running, so
        // this one has nothing to do.
        let row = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
            .await
            .pg("meta", "lock for pruning")?;
        if !col::<bool>(&row, 0)? {
            return Ok(PruneReport::default());
        }
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PRUNE_FENCE])
            .await
            .pg("meta", "wait for the polls' commits before pruning")?;
        // What is pending or in an outbox stays, whatever its age.
        let mut needed: Vec<String> = Vec::new();
        for row in tx
            .query("SELECT DISTINCT id FROM pending", &[])
            .await
            .pg("pending", "scan")?
        {
            needed.push(col(&row, 0)?);
        }
        for row in tx
            .query("SELECT email, entry FROM outbox", &[])
            .await
            .pg("outbox", "scan")?
        {
            let email: String = col(&row, 0)?;
            let entry: OutboxEntry = decode_json("outbox", &email, col(&row, 1)?)?;
            needed.extend(entry.article_ids.iter().map(|id| id.as_str().to_owned()));
        }
        let needed_bytes: Vec<Vec<u8>> = needed
            .iter()
            .filter_map(|id| ArticleId::from_stored(id))
            .map(|id| id_bytes(&id).to_vec())
            .collect();
        let forget_before = now - retention;
        let left_before = i32::try_from(crate::store::day_bucket(forget_before)).unwrap_or(i32::MAX);
        let mut report = PruneReport {
            seen_removed: count(
                tx.execute(
                    // Only ids that left their feed, that long ago (see the sled prune).
                    "DELETE FROM seen WHERE left_on IS NOT NULL AND left_on < $3 AND last_seen < $1
                       AND NOT (id = ANY($2))",
                    &[&forget_before, &needed_bytes, &left_before],
                )
                .await
                .pg("seen", "prune")?,
            ),
            ..PruneReport::default()
        };
        report.seen_removed += count(
            tx.execute(
                "DELETE FROM seen_legacy WHERE last_seen < $1 AND NOT (id = ANY($2))",
                &[&forget_before, &needed],
            )
            .await
            .pg("seen_legacy", "prune")?,
        );
        // A body nobody needs goes after keep_bodies, or at once when its
        // id is no longer seen.
        report.bodies_removed = count(
            tx.execute(
                "DELETE FROM articles a
                 WHERE NOT (a.id = ANY($2))
                   AND (a.first_seen < $1
                        OR (NOT EXISTS (SELECT 1 FROM seen s WHERE s.id = decode(a.id, 'hex'))
                            AND NOT EXISTS (SELECT 1 FROM seen_legacy l WHERE l.id = a.id)))",
                &[&(now - keep_bodies), &needed],
            )
            .await
            .pg("articles", "prune")?,
        );
        report.links_removed = count(
            tx.execute(
                "DELETE FROM links l WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = l.id)",
                &[],
            )
            .await
            .pg("links", "prune")?,
        );
        let mut sent_removed = 0;
        for row in tx
            .query(
                "DELETE FROM sent WHERE sent_ms < $1 RETURNING jsonb_array_length(stories)",
                &[&(now - keep_bodies).timestamp_millis()],
            )
            .await
            .pg("sent", "prune")?
        {
            let stories: i32 = col(&row, 0)?;
            sent_removed += usize::try_from(stories).unwrap_or(0);
        }
        report.sent_removed = sent_removed;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('last_prune', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&Json(now)],
        )
        .await
        .pg("meta", "write")?;
        tx.commit().await.pg("all", "commit a prune of")?;
        Ok(report)
    }

    async fn last_prune(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM meta WHERE key = 'last_prune'", &[])
            .await
            .pg("meta", "read")?;
        row.map(|row| decode_json("meta", "last_prune", col(&row, 0)?))
            .transpose()
    }

    async fn export(&self, out: &mut (dyn Write + Send)) -> Result<usize, StoreError> {
        let mut count = 0;
        for record in self.records().await? {
            serde_json::to_writer(&mut *out, &record?)?;
            out.write_all(b"\n")
                .map_err(|e| StoreError::Encode(serde_json::Error::io(e)))?;
            count += 1;
        }
        Ok(count)
    }

    async fn check(&self) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport {
            schema_version: u32::try_from(super::SCHEMA_VERSION).unwrap_or(0),
            ..CheckReport::default()
        };
        for record in self.records().await? {
            match record {
                Err(err) => report.problems.push(err.to_string()),
                Ok(record) => match Kind::from_name(&record.tree) {
                    Some(Kind::Seen) => report.seen += record.value.as_array().map_or(0, Vec::len),
                    Some(Kind::LegacySeen) => report.seen += 1,
                    Some(Kind::Articles) => report.articles += 1,
                    Some(Kind::Links) => report.links += 1,
                    Some(Kind::Feeds) => report.feeds += 1,
                    Some(Kind::Subscribers) => report.subscribers += 1,
                    Some(Kind::Pending) => report.pending += 1,
                    Some(Kind::Outbox) => report.outbox += 1,
                    Some(Kind::Sent) => report.sent += 1,
                    Some(Kind::OptOuts) => report.opt_outs += 1,
                    Some(Kind::Meta) | None => {}
                },
            }
        }
        let client = self.client().await?;
        // Across kinds, as on sled: a body's id is seen among its feed's ids
        // (or a legacy record), and every pending entry and link has a body.
        for row in client
            .query(
                "SELECT a.id, a.article->>'feed_key',
                        (SELECT array_agg(s.feed_tag) FROM seen s WHERE s.id = decode(a.id, 'hex')),
                        EXISTS (SELECT 1 FROM seen_legacy l WHERE l.id = a.id)
                 FROM articles a ORDER BY a.id",
                &[],
            )
            .await
            .pg("articles and seen", "check")?
        {
            let id: String = col(&row, 0)?;
            let feed_key: Option<String> = col(&row, 1)?;
            let tags: Option<Vec<Vec<u8>>> = col(&row, 2)?;
            let legacy: bool = col(&row, 3)?;
            let own = feed_key.map(|key| feed_tag(&key).to_vec());
            match tags {
                Some(tags) if own.as_ref().is_some_and(|own| tags.contains(own)) => {}
                Some(_) => report
                    .problems
                    .push(format!("article {id} is seen, but not among its feed's ids")),
                None if legacy => {}
                None => report
                    .problems
                    .push(format!("article {id} has a body but is not in seen")),
            }
        }
        for row in client
            .query(
                "SELECT p.email, p.id FROM pending p
                 WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = p.id) ORDER BY p.email, p.id",
                &[],
            )
            .await
            .pg("pending and articles", "check")?
        {
            let (email, id): (String, String) = (col(&row, 0)?, col(&row, 1)?);
            report
                .problems
                .push(format!("pending entry {email}/{id} has no article body"));
        }
        for row in client
            .query(
                "SELECT l.link, l.id FROM links l
                 WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = l.id) ORDER BY l.link",
                &[],
            )
            .await
            .pg("links and articles", "check")?
        {
            let (link, id): (Vec<u8>, String) = (col(&row, 0)?, col(&row, 1)?);
            report.problems.push(format!(
                "link {} names article {id}, which has no body",
                hex(&link)
            ));
        }
        Ok(report)
    }

    /// Restores an export into this database, which must hold no records:
    /// every line is read and checked first, then all go in one transaction.
    async fn import(&self, input: &mut (dyn BufRead + Send)) -> Result<usize, StoreError> {
        let invalid = invalid_line;
        let mut client = self.client().await?;
        for table in TABLES {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
            let row = client.query_one(&sql, &[]).await.pg(table, "read")?;
            if col::<bool>(&row, 0)? {
                return Err(StoreError::DatabaseNotEmpty {
                    target: self.target().to_owned(),
                });
            }
        }
        let mut rows = Vec::new();
        let mut count = 0;
        for (number, kind, record) in read_export(input)? {
            if kind == Kind::Meta && record.key == "schema_version" {
                // Older exports carry records in older forms, which the sled
                // store upgrades: import them there, export again, then here.
                if record.value.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
                    return Err(invalid(
                        number,
                        format!(
                            "export has schema {}; the database reads schema {SCHEMA_VERSION} exports \
                             (import an older one into a sled state_dir, which upgrades it, and export that)",
                            record.value
                        ),
                    ));
                }
            }
            if let Some(row) = row_of(kind, &record.key, record.value)
                .map_err(|e| invalid(number, format!("{kind}: {e}")))?
            {
                rows.push(row);
            }
            count += 1;
        }
        let tx = client.transaction().await.pg("all", "begin an import into")?;
        for row in rows {
            insert(&tx, row).await?;
        }
        tx.commit().await.pg("all", "commit an import into")?;
        Ok(count)
    }

    /// The leases held now (not lapsed), feeds then subscribers, for `status`.
    async fn leases(&self) -> Result<(Vec<Lease>, Vec<Lease>), StoreError> {
        let client = self.client().await?;
        let mut out = (Vec::new(), Vec::new());
        for (leased, sql, into) in [
            (
                Leased::Feed,
                "SELECT feed_key, lease_holder, lease_until, lease_since FROM feeds
                 WHERE lease_until > now() ORDER BY feed_key",
                &mut out.0,
            ),
            (
                Leased::Subscriber,
                "SELECT email, lease_holder, lease_until, lease_since FROM subscribers
                 WHERE lease_until > now() ORDER BY email",
                &mut out.1,
            ),
        ] {
            for row in client
                .query(sql, &[])
                .await
                .pg(leased.kind(), "read the leases of")?
            {
                let holder: Option<String> = col(&row, 1)?;
                let until: Option<chrono::DateTime<chrono::Utc>> = col(&row, 2)?;
                if let (Some(holder), Some(until)) = (holder, until) {
                    into.push(Lease {
                        key: col(&row, 0)?,
                        holder: Holder(holder),
                        since: col(&row, 3)?,
                        until,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await.pg("meta", "read")?;
        Ok(())
    }

    async fn size_on_disk(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .pg("all", "measure")?;
        Ok(u64::try_from(col::<i64>(&row, 0)?).unwrap_or(0))
    }

    async fn seen_count(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM seen) + (SELECT count(*) FROM seen_legacy)",
                &[],
            )
            .await
            .pg("seen", "count")?;
        Ok(usize::try_from(col::<i64>(&row, 0)?).unwrap_or(0))
    }

    /// Articles whose canonical link is `query`'s or whose title contains it.
    async fn find_articles(&self, query: &str, limit: usize) -> Result<Vec<Article>, StoreError> {
        let client = self.client().await?;
        let query = crate::store::ArticleQuery::new(query);
        let mut found = Vec::new();
        for row in client
            .query("SELECT id, article FROM articles ORDER BY id", &[])
            .await
            .pg("articles", "scan")?
        {
            let id: String = col(&row, 0)?;
            let article: Article = decode_json("articles", &id, col(&row, 1)?)?;
            if query.matches(&article) {
                found.push(article);
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }
}

impl PgStore {
    /// Every record as sled's export writes it, kind by kind.
    async fn records(&self) -> Result<Vec<Result<ExportedRecord, StoreError>>, StoreError> {
        let mut connection = self.client().await?;
        // One snapshot for every kind: read kind by kind while instances
        // work, a backup could hold an article both pending and sent, or a
        // body whose id is not seen yet.
        let client = connection
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .pg("all", "begin a snapshot of")?;
        let mut out = Vec::new();
        let record = |tree: Kind, key: String, value: Value| ExportedRecord {
            tree: tree.name().to_owned(),
            key,
            value,
        };
        for kind in Kind::ALL {
            match kind {
                Kind::Meta => {
                    // The export's format is sled's schema, whatever the backend.
                    out.push(Ok(record(
                        kind,
                        "schema_version".to_owned(),
                        Value::from(SCHEMA_VERSION),
                    )));
                    let last_prune = client
                        .query_opt("SELECT value FROM meta WHERE key = 'last_prune'", &[])
                        .await
                        .pg("meta", "read")?
                        .map(|row| decode_json::<DateTime<Utc>>("meta", "last_prune", col(&row, 0)?))
                        .transpose()?;
                    if let Some(at) = last_prune {
                        out.push(Ok(record(
                            kind,
                            "last_prune".to_owned(),
                            serde_json::to_value(at)?,
                        )));
                    }
                }
                Kind::Seen => {
                    let mut sets: BTreeMap<String, Vec<SeenValue>> = BTreeMap::new();
                    for row in client
                        .query(
                            "SELECT feed_tag, left_on, id, first_seen, last_seen, delivered FROM seen
                             ORDER BY feed_tag, left_on, id",
                            &[],
                        )
                        .await
                        .pg("seen", "scan")?
                    {
                        let tag: Vec<u8> = col(&row, 0)?;
                        let id: Vec<u8> = col(&row, 2)?;
                        let id = <[u8; 16]>::try_from(id.as_slice()).map_err(|_| StoreError::Corrupt {
                            tree: "seen",
                            key: hex(&id),
                            message: "not a 16-byte id".to_owned(),
                        })?;
                        sets.entry(seen_key(&tag, col(&row, 1)?))
                            .or_default()
                            .push(SeenValue {
                                id: crate::store::id_from_bytes(&id),
                                record: SeenRecord {
                                    first_seen: col(&row, 3)?,
                                    last_seen: col(&row, 4)?,
                                    delivered: col(&row, 5)?,
                                },
                            });
                    }
                    for (key, ids) in sets {
                        out.push(Ok(record(kind, key, serde_json::to_value(ids)?)));
                    }
                }
                Kind::LegacySeen => {
                    for row in client
                        .query(
                            "SELECT id, first_seen, last_seen, delivered FROM seen_legacy ORDER BY id",
                            &[],
                        )
                        .await
                        .pg("seen_legacy", "scan")?
                    {
                        let value = SeenRecord {
                            first_seen: col(&row, 1)?,
                            last_seen: col(&row, 2)?,
                            delivered: col(&row, 3)?,
                        };
                        out.push(Ok(record(kind, col(&row, 0)?, serde_json::to_value(value)?)));
                    }
                }
                Kind::Links => {
                    for row in client
                        .query("SELECT link, id, feed_tag FROM links ORDER BY link", &[])
                        .await
                        .pg("links", "scan")?
                    {
                        let link: Vec<u8> = col(&row, 0)?;
                        let id: String = col(&row, 1)?;
                        let tag: Vec<u8> = col(&row, 2)?;
                        let id = ArticleId::from_stored(&id).ok_or_else(|| StoreError::Corrupt {
                            tree: "links",
                            key: hex(&link),
                            message: format!("{id:?} is not an article id"),
                        })?;
                        let value = LinkValue {
                            id,
                            feed_tag: hex(&tag),
                        };
                        out.push(Ok(record(kind, hex(&link), serde_json::to_value(value)?)));
                    }
                }
                Kind::Pending => {
                    for row in client
                        .query("SELECT email, id, enqueued FROM pending ORDER BY email, id", &[])
                        .await
                        .pg("pending", "scan")?
                    {
                        let email: String = col(&row, 0)?;
                        let id: String = col(&row, 1)?;
                        let key = format!("{email}/{id}");
                        let at: Result<DateTime<Utc>, _> = decode_json("pending", &key, col(&row, 2)?);
                        out.push(at.and_then(|at| Ok(record(kind, key, serde_json::to_value(at)?))));
                    }
                }
                Kind::Sent => {
                    for row in client
                        .query(
                            "SELECT email, sent_ms, stories FROM sent ORDER BY email, sent_ms",
                            &[],
                        )
                        .await
                        .pg("sent", "scan")?
                    {
                        let email: String = col(&row, 0)?;
                        let ms: i64 = col(&row, 1)?;
                        let key = sent_key(&email, ms);
                        let stories: Result<Vec<SentStory>, _> = decode_json("sent", &key, col(&row, 2)?);
                        out.push(stories.and_then(|s| Ok(record(kind, key, serde_json::to_value(s)?))));
                    }
                }
                Kind::Articles | Kind::Feeds | Kind::Subscribers | Kind::Outbox | Kind::OptOuts => {
                    let (sql, table) = match kind {
                        Kind::Articles => ("SELECT id, article FROM articles ORDER BY id", "articles"),
                        Kind::Feeds => (
                            "SELECT feed_key, state FROM feeds WHERE state IS NOT NULL ORDER BY feed_key",
                            "feeds",
                        ),
                        Kind::Subscribers => (
                            "SELECT email, state FROM subscribers WHERE state IS NOT NULL ORDER BY email",
                            "subscribers",
                        ),
                        Kind::Outbox => ("SELECT email, entry FROM outbox ORDER BY email", "outbox"),
                        _ => ("SELECT email, opt_out FROM opt_outs ORDER BY email", "opt_outs"),
                    };
                    for row in client.query(sql, &[]).await.pg(table, "scan")? {
                        let key: String = col(&row, 0)?;
                        let value: Value = col(&row, 1)?;
                        // Through the type: what does not read is a problem.
                        let checked = match kind {
                            Kind::Articles => decode_json::<Article>(table, &key, value).and_then(json),
                            Kind::Feeds => decode_json::<FeedState>(table, &key, value).and_then(json),
                            Kind::Subscribers => {
                                decode_json::<SubscriberState>(table, &key, value).and_then(json)
                            }
                            Kind::Outbox => decode_json::<OutboxEntry>(table, &key, value).and_then(json),
                            _ => decode_json::<OptOut>(table, &key, value).and_then(json),
                        };
                        out.push(checked.map(|value| record(kind, key, value)));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn json<T: Serialize>(value: T) -> Result<Value, StoreError> {
    Ok(serde_json::to_value(value)?)
}

fn count(rows: u64) -> usize {
    usize::try_from(rows).unwrap_or(usize::MAX)
}

async fn insert(tx: &tokio_postgres::Transaction<'_>, row: Row) -> Result<(), StoreError> {
    match row {
        Row::LastPrune(at) => {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('last_prune', $1)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&Json(at)],
            )
            .await
            .pg("meta", "import")?;
        }
        Row::Seen { tag, left_on, seen } => {
            // A set in one statement: a feed's ids can be many.
            let ids: Vec<Vec<u8>> = seen.iter().map(|v| id_bytes(&v.id).to_vec()).collect();
            let firsts: Vec<DateTime<Utc>> = seen.iter().map(|v| v.record.first_seen).collect();
            let lasts: Vec<DateTime<Utc>> = seen.iter().map(|v| v.record.last_seen).collect();
            let delivered: Vec<bool> = seen.iter().map(|v| v.record.delivered).collect();
            tx.execute(
                "INSERT INTO seen (feed_tag, id, first_seen, last_seen, delivered, left_on)
                 SELECT $1, u.id, u.first_seen, u.last_seen, u.delivered, $6
                 FROM unnest($2::bytea[], $3::timestamptz[], $4::timestamptz[], $5::bool[])
                     AS u(id, first_seen, last_seen, delivered)",
                &[&tag, &ids, &firsts, &lasts, &delivered, &left_on],
            )
            .await
            .pg("seen", "import")?;
        }
        Row::LegacySeen(id, record) => {
            tx.execute(
                "INSERT INTO seen_legacy (id, first_seen, last_seen, delivered) VALUES ($1, $2, $3, $4)",
                &[&id, &record.first_seen, &record.last_seen, &record.delivered],
            )
            .await
            .pg("seen_legacy", "import")?;
        }
        Row::Article(article) => {
            tx.execute(
                "INSERT INTO articles (id, first_seen, article) VALUES ($1, $2, $3)",
                &[&article.id.as_str(), &article.first_seen, &Json(&article)],
            )
            .await
            .pg("articles", "import")?;
        }
        Row::Link(link, value) => {
            let tag = unhex(&value.feed_tag).unwrap_or_default();
            tx.execute(
                "INSERT INTO links (link, id, feed_tag) VALUES ($1, $2, $3)",
                &[&link, &value.id.as_str(), &tag],
            )
            .await
            .pg("links", "import")?;
        }
        Row::Feed(key, state) => {
            tx.execute(
                "INSERT INTO feeds (feed_key, state) VALUES ($1, $2)",
                &[&key, &Json(&*state)],
            )
            .await
            .pg("feeds", "import")?;
        }
        Row::Subscriber(email, state) => {
            tx.execute(
                "INSERT INTO subscribers (email, state) VALUES ($1, $2)",
                &[&email, &Json(state)],
            )
            .await
            .pg("subscribers", "import")?;
        }
        Row::Pending(email, id, at) => {
            tx.execute(
                "INSERT INTO pending (email, id, enqueued) VALUES ($1, $2, $3)",
                &[&email, &id.as_str(), &Json(at)],
            )
            .await
            .pg("pending", "import")?;
        }
        Row::Outbox(email, entry) => {
            tx.execute(
                "INSERT INTO outbox (email, entry) VALUES ($1, $2)",
                &[&email, &Json(entry)],
            )
            .await
            .pg("outbox", "import")?;
        }
        Row::Sent(email, ms, stories) => {
            tx.execute(
                "INSERT INTO sent (email, sent_ms, stories) VALUES ($1, $2, $3)",
                &[&email, &ms, &Json(stories)],
            )
            .await
            .pg("sent", "import")?;
        }
        Row::OptOut(email, opt_out) => {
            tx.execute(
                "INSERT INTO opt_outs (email, opt_out) VALUES ($1, $2)",
                &[&email, &Json(opt_out)],
            )
            .await
            .pg("opt_outs", "import")?;
        }
    }
    Ok(())
}
