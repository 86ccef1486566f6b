//! The embedded store (sled 0.34): seen ids, feed state, pending articles per
//! subscriber, and a per-subscriber outbox.
//!
//! Trees and key layouts are defined here and nowhere else:
//! - `seen`: feed tag (8 bytes of SHA-256 of the feed key) and a bucket
//!   (4 bytes: [`PRESENT`] for the ids in the feed's latest document, else
//!   the day ids left it) → [`SeenSet`], 25 bytes an id: a poll reads and
//!   writes a feed's few sets, not a record per id;
//! - `seen_legacy`: article id (32 hex) → [`SeenRecord`] (17 bytes), ids from
//!   before schema 3 whose feed is not known; they move into their feed's
//!   set when they show up again, or leave with the retention;
//! - `articles`: article id → a 25-byte pointer into the day files of
//!   `bodies/` (schema 7, `bodies.rs`), where the [`Article`] is kept (JSON),
//!   while pending and a while after; a full record of schema 6 still reads;
//! - `links`: 16 bytes of SHA-256 of a canonical link → article id (16 bytes) and feed tag
//!   (8), for GUID churn and the same article in two feeds: kept while the article's body
//!   is (the plan uses a link only with its owner's body);
//! - `feeds`: feed key → [`FeedState`]; `subscribers`: email → [`SubscriberState`];
//! - `pending`: `email \0 article id` → enqueue time; `outbox`: email → [`OutboxEntry`];
//! - `sent`: `email \0 sent time (ms, big-endian)` → the [`SentStory`](crate::digest::SentStory)s of
//!   one digest (JSON array), what a subscriber received lately, for follow-ups (kept a week;
//!   a record per digest since schema 5, per article before);
//! - `opt_outs`: email → [`OptOut`](crate::subscriber::OptOut) (JSON), who
//!   unsubscribed and since when (schema 4);
//! - the default tree: `schema_version`, `last_prune`.
//!
//! JSON values longer than [`DEFLATE_ABOVE`] bytes (bodies, sent digests) are
//! stored deflated behind a tag byte since schema 6; [`decode`] reads both.
//!
//! A crash must not undo what a caller committed: callers call [`Store::flush`]
//! at each commit point. Invariants ([`Store::check`] verifies them):
//! - an id leaves `seen` only by pruning, `retention` after it left its feed;
//! - an id in `pending` has its body in `articles`, and a body's id is seen;
//! - a link's article has its body;
//! - `pending` entries leave only in [`Store::commit_sent`], together with the
//!   outbox entry whose message the server accepted.

pub mod any;
mod blocking;
mod bodies;
mod deflate;
mod ingest;
mod kinds;
mod maintenance;
mod migrate;
pub mod postgres;
mod readers;
mod records;
mod seam;
mod sent;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::TransactionError;

use crate::article::{Article, ArticleId};
use crate::digest::SentStory;
use crate::feed_state::FeedState;
use crate::ingest::LinkOwner;
use crate::outbox::OutboxEntry;
use crate::subscriber::SubscriberState;
pub use records::{SeenRecord, SeenSet};

/// The default tree's key of the last background prune.
const LAST_PRUNE_KEY: &[u8] = b"last_prune";

/// Bumped when a record or key layout changes; older stores are migrated at open.
pub const SCHEMA_VERSION: u32 = 7;

const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store in {} is in use by another feed-digest process (is `feed-digest run` running?)",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("cannot open the store in {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(
        "the store in {} has schema version {found}, newer than this feed-digest supports ({supported}); upgrade feed-digest",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A sled call failed: which records, doing what.
    #[error("cannot {op} {kind} records: {source}")]
    Db {
        kind: &'static str,
        op: &'static str,
        #[source]
        source: sled::Error,
    },
    #[error("corrupt record in tree {tree:?} at key {key:?}: {message}")]
    Corrupt {
        tree: &'static str,
        key: String,
        message: String,
    },
    #[error("cannot encode a record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the store in {} is not empty: import a backup into a new state_dir", path.display())]
    NotEmpty { path: PathBuf },
    /// A long call on a thread of its own panicked (a bug: reported, not a crash).
    #[error("the store's {op} failed: {message}")]
    Panicked { op: &'static str, message: String },
    /// The `store` URL cannot be used as it is (never echoes a password).
    #[error("the store URL {reason}")]
    DatabaseUrl { reason: String },
    /// No connection to the database: `target` names it without a password.
    #[error("cannot connect to the database {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: deadpool_postgres::PoolError,
    },
    /// A database call failed: which records, doing what.
    #[error("cannot {op} {kind} records in the database: {source}")]
    Database {
        kind: &'static str,
        op: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the database {target} is not empty: import a backup into a new database")]
    DatabaseNotEmpty { target: String },
    #[error(
        "the database {target} has schema version {found}, newer than this feed-digest supports ({supported}); upgrade feed-digest"
    )]
    DatabaseTooNew {
        target: String,
        found: i32,
        supported: i32,
    },
    /// Between planning a poll of `feed` and storing it, another feed's poll
    /// (another instance, or a concurrent poll) stored an article at `link`:
    /// the poll is planned again, and finds it a copy of that article.
    #[error("while polling {feed}, another feed's poll stored an article at {link}")]
    LinkClaimed { feed: String, link: String },
    /// Another instance's poll of the same feed stored some of the articles
    /// this poll planned as new (its lease lapsed under a slow poll): the
    /// poll is planned again, and finds them known.
    #[error("{feed} was polled by another instance meanwhile; planning its poll again")]
    PolledMeanwhile { feed: String },
}

/// Names the records and the operation of a failed sled call.
trait Records<T> {
    fn records(self, kind: &'static str, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Records<T> for Result<T, sled::Error> {
    fn records(self, kind: &'static str, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Db { kind, op, source })
    }
}

impl<T> Records<T> for Result<T, TransactionError<StoreError>> {
    /// `kind`: the records the transaction spans.
    fn records(self, kind: &'static str, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(source) => StoreError::Db { kind, op, source },
        })
    }
}

pub use kinds::Kind;
pub use maintenance::{CheckReport, ExportedRecord, PruneReport};
pub use seam::{
    Backend, Delivery, Feeds, Holder, Lease, LeaseTerm, Maintenance, Readers, Storage, in_round_order,
};

#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    /// Our own exclusive lock on the state directory, held as long as any clone lives.
    _lock: std::sync::Arc<std::fs::File>,
    db: sled::Db,
    seen: sled::Tree,
    seen_legacy: sled::Tree,
    articles: sled::Tree,
    feeds: sled::Tree,
    subscribers: sled::Tree,
    pending: sled::Tree,
    outbox: sled::Tree,
    links: sled::Tree,
    sent: sled::Tree,
    opt_outs: sled::Tree,
    /// The day files the `articles` pointers name.
    bodies: std::sync::Arc<bodies::Bodies>,
    /// Held by [`Store::ingest`] from reading a feed's seen sets to writing
    /// them, and by the prune while it removes and moves article records.
    ingesting: std::sync::Arc<std::sync::Mutex<()>>,
}

/// JSON values longer than this are kept deflated. Article bodies and a
/// digest's sent stories are text and repetitive JSON that deflate to about a
/// third, and sled keeps every live byte several times over in its log; the
/// small records (states, stamps) stay plain JSON, readable with any tool.
const DEFLATE_ABOVE: usize = 512;

/// The first byte of a deflated value (schema 6). JSON never starts with it,
/// so a plain value written by schema 5 reads as before.
const DEFLATED: u8 = 0xd1;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(value)?;
    if json.len() <= DEFLATE_ABOVE {
        return Ok(json);
    }
    Ok(deflate::deflate(&[DEFLATED], &json).unwrap_or(json))
}

fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        message,
    };
    match bytes.split_first() {
        Some((&DEFLATED, deflated)) => {
            let json = deflate::inflate(deflated).map_err(corrupt)?;
            serde_json::from_slice(&json).map_err(|err| corrupt(err.to_string()))
        }
        _ => serde_json::from_slice(bytes).map_err(|err| corrupt(err.to_string())),
    }
}

fn seen_record(key: &[u8], bytes: &[u8]) -> Result<SeenRecord, StoreError> {
    SeenRecord::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt {
        tree: "seen_legacy",
        key: String::from_utf8_lossy(key).into_owned(),
        message: format!("{} bytes, expected {}", bytes.len(), SeenRecord::ENCODED_LEN),
    })
}

/// A `links` record: the article that has a canonical link, and a tag of its feed.
struct StoredLink {
    id: ArticleId,
    feed_tag: [u8; 8],
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// `links` keys: 16 bytes of SHA-256 of the canonical link (links are long;
/// there are as many as stored bodies).
fn link_key(canonical_link: &str) -> Vec<u8> {
    sha256(canonical_link)[..16].to_vec()
}

/// 8 bytes naming a feed, enough to tell feeds apart.
fn feed_tag(feed_key: &str) -> [u8; 8] {
    let hash = sha256(feed_key);
    let mut tag = [0; 8];
    tag.copy_from_slice(&hash[..8]);
    tag
}

/// An article id's 16 bytes (ids are 32 hex characters).
fn id_bytes(id: &ArticleId) -> [u8; 16] {
    let mut out = [0; 16];
    if let Some(bytes) = unhex(id.as_str()) {
        out.copy_from_slice(&bytes[..16.min(bytes.len())]);
    }
    out
}

fn id_from_bytes(bytes: &[u8; 16]) -> ArticleId {
    // Hex of 16 bytes is always an id.
    ArticleId::from_stored(&hex(bytes)).unwrap_or_else(|| unreachable!("32 hex characters"))
}

/// The `seen` bucket of a feed's ids in its latest document.
const PRESENT: u32 = u32::MAX;

/// `seen` keys: the feed's tag, then the bucket.
fn seen_key(tag: &[u8; 8], bucket: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(tag);
    key[8..].copy_from_slice(&bucket.to_be_bytes());
    key
}

/// The bucket of ids that leave their feed at `at`: one a day.
fn day_bucket(at: DateTime<Utc>) -> u32 {
    u32::try_from(at.timestamp().max(0) / 86_400).unwrap_or(PRESENT - 1)
}

/// `links` values: the article id's 16 bytes, then the feed tag.
fn encode_link(id: &ArticleId, feed_key: &str) -> Vec<u8> {
    let mut value = id_bytes(id).to_vec();
    value.extend_from_slice(&feed_tag(feed_key));
    value
}

fn decode_link(key: &[u8], bytes: &[u8]) -> Result<StoredLink, StoreError> {
    let corrupt = || StoreError::Corrupt {
        tree: "links",
        key: hex(key),
        message: "not an article id and a feed tag".to_owned(),
    };
    let id: [u8; 16] = bytes
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let feed_tag: [u8; 8] = bytes
        .get(16..)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok(StoredLink {
        id: id_from_bytes(&id),
        feed_tag,
    })
}

fn seen_set(key: &[u8], bytes: &[u8]) -> Result<SeenSet, StoreError> {
    SeenSet::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt {
        tree: "seen",
        key: hex(key),
        message: format!("{} bytes, not a set of seen ids", bytes.len()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// `email \0 article_id`: one subscriber's pending entries share a prefix.
fn pending_key(email: &str, id: &ArticleId) -> Vec<u8> {
    let mut key = pending_prefix(email);
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

fn pending_prefix(email: &str) -> Vec<u8> {
    let mut key = email.to_lowercase().into_bytes();
    key.push(0);
    key
}

fn subscriber_key(email: &str) -> Vec<u8> {
    email.to_lowercase().into_bytes()
}

/// What `find_articles` looks for: the query's canonical link, or the
/// query in a title, without case (every backend asks the same).
struct ArticleQuery {
    link: String,
    needle: String,
}

impl ArticleQuery {
    fn new(query: &str) -> ArticleQuery {
        ArticleQuery {
            link: crate::article::canonical_link(query),
            needle: query.trim().to_lowercase(),
        }
    }

    fn matches(&self, article: &Article) -> bool {
        let same_link = article
            .link
            .as_deref()
            .is_some_and(|l| crate::article::canonical_link(l) == self.link);
        same_link || article.title.to_lowercase().contains(&self.needle)
    }
}

/// Takes `state_dir/lock` exclusively, so a second process is refused with a
/// clear message before it touches sled's files.
fn lock_state_dir(dir: &Path, store_path: &Path) -> Result<std::fs::File, StoreError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { action, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create the state directory", dir))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(io("open the lock file", &dir.join("lock")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: store_path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(err)) => Err(io("lock", &dir.join("lock"))(err)),
    }
}

/// Opens sled. We hold the state directory's lock, so sled's own file lock can
/// only be held by a handle of ours that is shutting down (sled releases it when
/// its flusher thread ends, a moment after the last handle is dropped): wait a
/// little for it rather than fail.
/// sled's page cache: small boxes first (docs/benchmarks.md).
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

fn open_sled(path: &Path) -> Result<sled::Db, StoreError> {
    let mut attempts = 0;
    loop {
        // sled's default cache (1 GiB) keeps everything a poll writes; the
        // working set (seen ids, feed states, pending) is far smaller.
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                attempts += 1;
                if attempts >= 100 {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// sled 0.34 writes a snapshot at every open as `snap.N.generating` and renames
/// it when complete; a process killed in between leaves the partial file, which
/// the next open takes for the newest snapshot and fails on (sled issue #1527).
/// The previous snapshot and the log still hold everything, so the partial file
/// is deleted. Only called with the state directory locked: no live process can
/// be writing it.
fn remove_unfinished_snapshots(store_path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(store_path) else {
        return Ok(()); // a new store
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing a snapshot left unfinished by a crash");
            std::fs::remove_file(entry.path()).map_err(|source| StoreError::Io {
                action: "remove the unfinished snapshot",
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in `dir`. A second process gets [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("store");
        let lock = lock_state_dir(dir, &path)?;
        remove_unfinished_snapshots(&path)?;
        let db = open_sled(&path)?;
        let found = match db.get(SCHEMA_KEY).records("meta", "read")? {
            // A new store, or one from before versions were written.
            None if db.tree_names().len() <= 1 => SCHEMA_VERSION,
            None => 1,
            Some(bytes) => <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    tree: "default",
                    key: "schema_version".to_owned(),
                    message: "not a 4-byte version".to_owned(),
                })?,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let tree = |kind: Kind| db.open_tree(kind.name()).records(kind.name(), "open");
        let store = Store {
            _lock: std::sync::Arc::new(lock),
            seen: tree(Kind::Seen)?,
            seen_legacy: tree(Kind::LegacySeen)?,
            articles: tree(Kind::Articles)?,
            feeds: tree(Kind::Feeds)?,
            subscribers: tree(Kind::Subscribers)?,
            pending: tree(Kind::Pending)?,
            outbox: tree(Kind::Outbox)?,
            links: tree(Kind::Links)?,
            sent: tree(Kind::Sent)?,
            opt_outs: tree(Kind::OptOuts)?,
            bodies: std::sync::Arc::new(bodies::Bodies::open(dir.join("bodies"))?),
            ingesting: Default::default(),
            db,
            path,
        };
        if found < SCHEMA_VERSION {
            migrate::upgrade(&store, found)?;
        }
        store
            .db
            .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
            .records("meta", "write")?;
        store.db.flush().records("all", "flush")?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tree that holds `kind`.
    fn tree(&self, kind: Kind) -> &sled::Tree {
        match kind {
            Kind::Meta => &self.db,
            Kind::Seen => &self.seen,
            Kind::LegacySeen => &self.seen_legacy,
            Kind::Articles => &self.articles,
            Kind::Links => &self.links,
            Kind::Feeds => &self.feeds,
            Kind::Subscribers => &self.subscribers,
            Kind::Pending => &self.pending,
            Kind::Outbox => &self.outbox,
            Kind::Sent => &self.sent,
            Kind::OptOuts => &self.opt_outs,
        }
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await.records("all", "flush")?;
        Ok(())
    }

    /// Every set of seen ids of the feed `feed_key`, by bucket.
    fn seen_sets(&self, tag: &[u8; 8]) -> Result<Vec<(u32, SeenSet)>, StoreError> {
        let mut sets = Vec::new();
        for row in self.seen.scan_prefix(tag) {
            let (key, bytes) = row.records("seen", "scan")?;
            let bucket = key
                .get(8..12)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt {
                    tree: "seen",
                    key: hex(&key),
                    message: "not a feed tag and a bucket".to_owned(),
                })?;
            sets.push((bucket, seen_set(&key, &bytes)?));
        }
        Ok(sets)
    }

    /// The seen record of `id` of the feed `feed_key`, if it is seen.
    pub fn seen(&self, feed_key: &str, id: &ArticleId) -> Result<Option<SeenRecord>, StoreError> {
        let bytes = id_bytes(id);
        for (_, set) in self.seen_sets(&feed_tag(feed_key))? {
            if let Some(record) = set.get(&bytes) {
                return Ok(Some(*record));
            }
        }
        self.legacy_seen(id)
    }

    /// An id from before schema 3, recorded without its feed.
    fn legacy_seen(&self, id: &ArticleId) -> Result<Option<SeenRecord>, StoreError> {
        self.seen_legacy
            .get(id.as_str())
            .records("seen_legacy", "read")?
            .map(|bytes| seen_record(id.as_str().as_bytes(), &bytes))
            .transpose()
    }

    /// The article that already owns `canonical_link`, and whether it came
    /// from `feed_key`.
    pub fn link_owner(&self, feed_key: &str, canonical_link: &str) -> Result<Option<LinkOwner>, StoreError> {
        let key = link_key(canonical_link);
        let Some(bytes) = self.links.get(&key).records("links", "read")? else {
            return Ok(None);
        };
        let link = decode_link(&key, &bytes)?;
        Ok(Some(LinkOwner {
            has_body: self
                .articles
                .contains_key(link.id.as_str())
                .records("articles", "read")?,
            same_feed: link.feed_tag == feed_tag(feed_key),
            id: link.id,
        }))
    }

    pub fn feed_state(&self, feed_key: &str) -> Result<Option<FeedState>, StoreError> {
        self.feeds
            .get(feed_key)
            .records("feeds", "read")?
            .map(|bytes| decode("feeds", feed_key.as_bytes(), &bytes))
            .transpose()
    }

    pub fn put_feed_state(&self, feed_key: &str, state: &FeedState) -> Result<(), StoreError> {
        self.feeds
            .insert(feed_key, encode(state)?)
            .records("feeds", "write")?;
        Ok(())
    }

    pub fn article(&self, id: &ArticleId) -> Result<Option<Article>, StoreError> {
        let key = id.as_str().as_bytes();
        self.articles
            .get(key)
            .records("articles", "read")?
            .map(|bytes| decode("articles", key, &self.article_bytes(key, bytes)?))
            .transpose()
    }

    /// An `articles` value as the record it stands for: read from its day
    /// file when it is a pointer, else (schema 6) as it is.
    fn article_bytes(&self, key: &[u8], stored: sled::IVec) -> Result<sled::IVec, StoreError> {
        match bodies::Pointer::from_bytes(&stored) {
            Some(pointer) => Ok(self.bodies.read(key, pointer)?.into()),
            None => Ok(stored),
        }
    }

    /// Appends article records to `day`'s file, synced (see `bodies.rs`).
    fn append_bodies(
        &self,
        day: u32,
        rows: &[(&[u8], &[u8], DateTime<Utc>)],
    ) -> Result<Vec<bodies::Pointer>, StoreError> {
        self.bodies.append(day, rows, &|day| self.committed_end(day))
    }

    /// Stores article records (outside a poll: a move or a migration) in
    /// `day`'s file and points at them, replacing what was there.
    fn move_to_day_file(
        &self,
        day: u32,
        records: &[(&[u8], &[u8], DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let pointers = self.append_bodies(day, records)?;
        let mut batch = sled::Batch::default();
        for ((key, _, _), pointer) in records.iter().zip(pointers) {
            batch.insert(*key, pointer.to_bytes().as_slice());
        }
        self.articles.apply_batch(batch).records("articles", "write")
    }

    /// Where the frames that pointers name end in `day`'s file: a scan of
    /// the pointers, once a process opens a day's file for appending.
    fn committed_end(&self, day: u32) -> Result<u64, StoreError> {
        let mut end = 0;
        for row in self.articles.iter() {
            let (_, bytes) = row.records("articles", "scan")?;
            if let Some(pointer) = bodies::Pointer::from_bytes(&bytes)
                && pointer.day == day
            {
                end = end.max(pointer.offset + u64::from(pointer.len));
            }
        }
        Ok(end)
    }

    /// Every record of `kind` in key order, an article as its record (not its pointer).
    fn rows(&self, kind: Kind) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + '_ {
        self.tree(kind).iter().map(move |row| {
            let (key, bytes) = row.records(kind.name(), "scan")?;
            match kind {
                Kind::Articles => {
                    let bytes = self.article_bytes(&key, bytes)?;
                    Ok((key, bytes))
                }
                _ => Ok((key, bytes)),
            }
        })
    }

    /// The subscriber's state, created (added now) on first sight.
    /// The stored state of `email`, or `fresh` stored as it when there is
    /// none (the caller decides what a new subscriber's state is).
    pub fn register_subscriber(
        &self,
        email: &str,
        fresh: &SubscriberState,
    ) -> Result<SubscriberState, StoreError> {
        if let Some(state) = self.subscriber_state(email)? {
            return Ok(state);
        }
        self.put_subscriber_state(email, fresh)?;
        Ok(fresh.clone())
    }

    pub fn subscriber_state(&self, email: &str) -> Result<Option<SubscriberState>, StoreError> {
        let key = subscriber_key(email);
        self.subscribers
            .get(&key)
            .records("subscribers", "read")?
            .map(|bytes| decode("subscribers", &key, &bytes))
            .transpose()
    }

    pub fn put_subscriber_state(&self, email: &str, state: &SubscriberState) -> Result<(), StoreError> {
        self.subscribers
            .insert(subscriber_key(email), encode(state)?)
            .records("subscribers", "write")?;
        Ok(())
    }

    /// Pending article ids of one subscriber.
    pub fn pending(&self, email: &str) -> Result<Vec<ArticleId>, StoreError> {
        let prefix = pending_prefix(email);
        let mut ids = Vec::new();
        for row in self.pending.scan_prefix(&prefix) {
            let (key, _) = row.records("pending", "scan")?;
            let id_text = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            match ArticleId::from_stored(&id_text) {
                Some(id) => ids.push(id),
                None => {
                    return Err(StoreError::Corrupt {
                        tree: "pending",
                        key: String::from_utf8_lossy(&key).into_owned(),
                        message: "not an article id".to_owned(),
                    });
                }
            }
        }
        Ok(ids)
    }

    pub fn outbox(&self, email: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let key = subscriber_key(email);
        self.outbox
            .get(&key)
            .records("outbox", "read")?
            .map(|bytes| decode("outbox", &key, &bytes))
            .transpose()
    }

    pub fn put_outbox(&self, email: &str, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.outbox
            .insert(subscriber_key(email), encode(entry)?)
            .records("outbox", "write")?;
        Ok(())
    }

    /// Forgets an outbox entry that the server definitely refused: its
    /// articles stay pending and go into the next digest.
    pub fn drop_outbox(&self, email: &str) -> Result<(), StoreError> {
        self.outbox
            .remove(subscriber_key(email))
            .records("outbox", "remove")?;
        Ok(())
    }

    /// After the server's 2xx, in one transaction: removes the outbox entry
    /// and its articles from pending, stores the subscriber's new `state`
    /// and what is remembered of each article sent (`sent`, by article id).
    pub fn commit_sent(
        &self,
        email: &str,
        entry: &OutboxEntry,
        state: &SubscriberState,
        sent: &[(ArticleId, SentStory)],
    ) -> Result<(), StoreError> {
        let sub_key = subscriber_key(email);
        let state_row = encode(state)?;
        let pending_keys: Vec<Vec<u8>> = entry
            .article_ids
            .iter()
            .chain(&entry.dropped)
            .map(|id| pending_key(email, id))
            .collect();
        let digests = sent::group(email, sent);
        (&self.outbox, &self.pending, &self.subscribers, &self.sent)
            .transaction(|(outbox, pending, subscribers, sent)| {
                outbox.remove(sub_key.as_slice())?;
                for key in &pending_keys {
                    pending.remove(key.as_slice())?;
                }
                subscribers.insert(sub_key.as_slice(), state_row.as_slice())?;
                for (key, stories) in &digests {
                    let existing = sent.get(key.as_slice())?;
                    let row = sent::merged(key, existing.as_deref(), stories)
                        .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                    sent.insert(key.as_slice(), row)?;
                }
                Ok(())
            })
            .records("outbox, pending, subscribers and sent", "commit a sent digest to")?;
        Ok(())
    }

    /// Makes everything written so far durable, from synchronous code.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush().records("all", "flush")?;
        Ok(())
    }

    /// A cheap read that proves the database answers (for the watchdog).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.get(SCHEMA_KEY).records("meta", "read")?;
        Ok(())
    }

    /// Bytes the database files take on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk().records("all", "measure")? + self.bodies.size()?)
    }

    /// Stored articles whose canonical link is `query`'s, or whose title
    /// contains it (at most `limit`), for `topics explain`.
    pub fn find_articles(&self, query: &str, limit: usize) -> Result<Vec<Article>, StoreError> {
        let query = ArticleQuery::new(query);
        let mut found = Vec::new();
        for row in self.rows(Kind::Articles) {
            let (key, bytes) = row?;
            let article: Article = decode("articles", &key, &bytes)?;
            if query.matches(&article) {
                found.push(article);
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Number of seen ids, for status and metrics (the sets' lengths are
    /// read, not their entries).
    pub fn seen_count(&self) -> Result<usize, StoreError> {
        let mut count = self.seen_legacy.len();
        for row in self.seen.iter() {
            let (_, bytes) = row.records("seen", "scan")?;
            count += SeenSet::count_in(&bytes);
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_value_is_stored_deflated_a_plain_one_still_reads_and_a_broken_one_is_named() {
        let body: String = (0..40)
            .map(|n| format!("第{n}段：央行宣布下调存款准备金率，paragraph {n} of the story. "))
            .collect();
        let value = serde_json::json!({ "title": "降准", "text": body });
        let stored = encode(&value).unwrap();
        let plain = serde_json::to_vec(&value).unwrap();
        assert_eq!(stored.first(), Some(&DEFLATED));
        assert!(
            stored.len() * 3 < plain.len(),
            "{} of {}",
            stored.len(),
            plain.len()
        );
        assert_eq!(
            decode::<serde_json::Value>("articles", b"k", &stored).unwrap(),
            value
        );
        // What schema 5 wrote: plain JSON, read unchanged.
        assert_eq!(
            decode::<serde_json::Value>("articles", b"k", &plain).unwrap(),
            value
        );
        // A small record stays plain JSON.
        assert_eq!(encode(&"2026-12-04").unwrap(), b"\"2026-12-04\"");
        // Cut short: a clear error naming the records, not a panic.
        let cut = &stored[..stored.len() / 2];
        let err = decode::<serde_json::Value>("articles", b"k", cut)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.starts_with("corrupt record in tree \"articles\" at key \"k\"")),
            "{err:?}"
        );
    }

    #[test]
    fn a_failed_call_names_its_records_and_operation_and_an_abort_passes_through() {
        let failed: Result<(), sled::Error> = Err(sled::Error::Unsupported("test".to_owned()));
        let err = failed.records("pending", "scan").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("cannot scan pending records: Unsupported: test")
        );
        let storage: Result<(), TransactionError<StoreError>> = Err(TransactionError::Storage(
            sled::Error::Unsupported("disk".to_owned()),
        ));
        let err = storage
            .records("outbox and sent", "commit a sent digest to")
            .err();
        assert!(
            matches!(
                &err,
                Some(StoreError::Db {
                    kind: "outbox and sent",
                    op: "commit a sent digest to",
                    ..
                })
            ),
            "{err:?}"
        );
        let aborted: Result<(), TransactionError<StoreError>> =
            Err(TransactionError::Abort(StoreError::NotEmpty {
                path: PathBuf::from("/x"),
            }));
        let err = aborted.records("outbox", "write").err();
        assert!(matches!(err, Some(StoreError::NotEmpty { .. })), "{err:?}");
    }
}
