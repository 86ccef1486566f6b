//! The database's tables and their versioned migrations.
//!
//! Every instance applies what is missing when it connects, in one
//! transaction under an advisory lock: instances starting together apply
//! each migration once, and a failed migration leaves the schema as it was.
//! A migration, once released, is never edited: a change is a new one.

use tokio_postgres::Client;

use super::Pg;
use crate::store::StoreError;

/// The advisory lock all instances take to migrate ("feeddigs" in ASCII).
const LOCK: i64 = 0x6665_6564_6469_6773;

/// The schema version this build writes; a newer database is refused.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The first schema: one table per record kind, as in `store::Kind`.
/// Article ids are the 32-hex text ids; seen ids and links are the bytes
/// sled keys them by, so an export reads back unchanged.
const V1: &str = "
CREATE TABLE meta (
    key text PRIMARY KEY,
    value jsonb NOT NULL
);
-- A feed's row exists once it is leased or has a state.
CREATE TABLE feeds (
    feed_key text PRIMARY KEY,
    state jsonb,
    lease_holder text,
    lease_until timestamptz
);
-- A feed's seen ids: left_on is the day (days since 1970) the id left the
-- feed's document, NULL while it is in the latest one.
CREATE TABLE seen (
    feed_tag bytea NOT NULL,
    id bytea NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    delivered boolean NOT NULL,
    left_on integer,
    PRIMARY KEY (feed_tag, id)
);
CREATE INDEX seen_by_id ON seen (id);
CREATE TABLE seen_legacy (
    id text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    delivered boolean NOT NULL
);
-- first_seen repeats the article's own, for the prune.
CREATE TABLE articles (
    id text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    article jsonb NOT NULL
);
CREATE TABLE links (
    link bytea PRIMARY KEY,
    id text NOT NULL,
    feed_tag bytea NOT NULL
);
CREATE INDEX links_by_article ON links (id);
-- A subscriber's row exists once it is leased or registered.
CREATE TABLE subscribers (
    email text PRIMARY KEY,
    state jsonb,
    lease_holder text,
    lease_until timestamptz
);
-- enqueued is the JSON time sled keeps, to the nanosecond (a timestamptz
-- would round it to microseconds, and a restore must give back what it got).
CREATE TABLE pending (
    email text NOT NULL,
    id text NOT NULL,
    enqueued jsonb NOT NULL,
    PRIMARY KEY (email, id)
);
CREATE INDEX pending_by_article ON pending (id);
CREATE TABLE outbox (
    email text PRIMARY KEY,
    entry jsonb NOT NULL
);
-- One digest's stories (a JSON array), keyed by its sent time in
-- milliseconds, as sled keys them.
CREATE TABLE sent (
    email text NOT NULL,
    sent_ms bigint NOT NULL,
    stories jsonb NOT NULL,
    PRIMARY KEY (email, sent_ms)
);
CREATE TABLE opt_outs (
    email text PRIMARY KEY,
    opt_out jsonb NOT NULL
);
";

/// Since when a lease has been held by its holder (renewals keep it), for
/// `status`.
const V2: &str = "
ALTER TABLE feeds ADD COLUMN lease_since timestamptz;
ALTER TABLE subscribers ADD COLUMN lease_since timestamptz;
";

/// Brings the database to [`VERSION`]; returns the versions this call
/// applied (none when another instance got there first).
pub async fn migrate(client: &mut Client, target: &str) -> Result<Vec<i32>, StoreError> {
    let tx = client.transaction().await.pg("schema", "begin migrating")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .pg("schema", "lock for migrating")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS feed_digest_schema (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .pg("schema", "create the version table of")?;
    let found: Option<i32> = tx
        .query_one("SELECT max(version) FROM feed_digest_schema", &[])
        .await
        .pg("schema", "read the version of")?
        .get(0);
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(StoreError::DatabaseTooNew {
            target: target.to_owned(),
            found,
            supported: VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(sql).await.pg("schema", "migrate")?;
        tx.execute(
            "INSERT INTO feed_digest_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .pg("schema", "record the version of")?;
        applied.push(version);
    }
    tx.commit().await.pg("schema", "commit the migration of")?;
    Ok(applied)
}
