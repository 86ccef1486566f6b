//! The shared-database backend (issue 19): several instances on one
//! PostgreSQL, the database being the lock, the queue and the outbox. The
//! seam's traits are implemented where their work is: `Feeds` in
//! `feeds.rs`, `Delivery` and `Readers` in `delivery.rs`, `Maintenance` in
//! `maintenance.rs`, `Storage` here.
//!
//! Here: connecting (a password comes from a file or a systemd credential,
//! never from the URL, and no error or log shows it; TLS when the URL asks
//! for it, with the system's roots), the migrations run on connect
//! (`schema.rs`), and the leases on feeds and subscribers: `FOR UPDATE SKIP
//! LOCKED` on the row with an expiry, so one instance at a time holds one,
//! a contender gets "no" at once instead of waiting, and a killed
//! instance's lease lapses. Expiry is judged by the database's clock, one
//! clock for every instance.

mod delivery;
mod feeds;
mod maintenance;
mod schema;

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use super::StoreError;
use super::seam::{Holder, LeaseTerm, Storage};
use crate::feed_state::FeedState;

pub use schema::VERSION as SCHEMA_VERSION;

/// A database password, kept out of `Debug` and every message.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The store on PostgreSQL: a pool of connections; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The database as messages name it: no password.
    target: Arc<str>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Stores a feed's state, keeping the row's lease (a poll's commit, or alone).
const PUT_FEED_STATE: &str = "INSERT INTO feeds (feed_key, state) VALUES ($1, $2)
     ON CONFLICT (feed_key) DO UPDATE SET state = EXCLUDED.state";

/// Stores a subscriber's state, keeping the row's lease.
const PUT_SUBSCRIBER_STATE: &str = "INSERT INTO subscribers (email, state) VALUES ($1, $2)
     ON CONFLICT (email) DO UPDATE SET state = EXCLUDED.state";

/// Names the records and the operation of a failed database call.
pub(crate) trait Pg<T> {
    fn pg(self, kind: &'static str, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Pg<T> for Result<T, tokio_postgres::Error> {
    fn pg(self, kind: &'static str, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database { kind, op, source })
    }
}

/// The two kinds of row a lease is held on.
#[derive(Clone, Copy)]
pub(super) enum Leased {
    Feed,
    Subscriber,
}

impl Leased {
    /// Makes the row exist, so that there is a row to lock.
    fn ensure(self) -> &'static str {
        match self {
            Leased::Feed => "INSERT INTO feeds (feed_key) VALUES ($1) ON CONFLICT DO NOTHING",
            Leased::Subscriber => "INSERT INTO subscribers (email) VALUES ($1) ON CONFLICT DO NOTHING",
        }
    }

    /// Takes the lease when it is free, lapsed or the holder's own; a row
    /// another transaction has locked is skipped (that one is leasing it).
    fn take(self) -> &'static str {
        match self {
            Leased::Feed => {
                "WITH free AS (
                    SELECT feed_key FROM feeds
                    WHERE feed_key = $1
                      AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until <= now())
                    FOR UPDATE SKIP LOCKED)
                 UPDATE feeds SET lease_holder = $2, lease_until = now() + make_interval(secs => $3),
                     lease_since = CASE WHEN feeds.lease_holder = $2 AND feeds.lease_until > now()
                                        THEN feeds.lease_since ELSE now() END
                 FROM free WHERE feeds.feed_key = free.feed_key"
            }
            Leased::Subscriber => {
                "WITH free AS (
                    SELECT email FROM subscribers
                    WHERE email = $1
                      AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until <= now())
                    FOR UPDATE SKIP LOCKED)
                 UPDATE subscribers SET lease_holder = $2, lease_until = now() + make_interval(secs => $3),
                     lease_since = CASE WHEN subscribers.lease_holder = $2 AND subscribers.lease_until > now()
                                        THEN subscribers.lease_since ELSE now() END
                 FROM free WHERE subscribers.email = free.email"
            }
        }
    }

    /// Extends the holder's lease, only while nobody else took the row
    /// (taking it writes the taker's name, and giving it back keeps it).
    fn renew(self) -> &'static str {
        match self {
            Leased::Feed => {
                "UPDATE feeds SET lease_until = now() + make_interval(secs => $3)
                 WHERE feed_key = $1 AND lease_holder = $2"
            }
            Leased::Subscriber => {
                "UPDATE subscribers SET lease_until = now() + make_interval(secs => $3)
                 WHERE email = $1 AND lease_holder = $2"
            }
        }
    }

    /// Ends the holder's lease now, if it is still the holder's.
    fn release(self) -> &'static str {
        match self {
            Leased::Feed => {
                "UPDATE feeds SET lease_until = now()
                 WHERE feed_key = $1 AND lease_holder = $2 AND lease_until > now()"
            }
            Leased::Subscriber => {
                "UPDATE subscribers SET lease_until = now()
                 WHERE email = $1 AND lease_holder = $2 AND lease_until > now()"
            }
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Leased::Feed => "feeds",
            Leased::Subscriber => "subscribers",
        }
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user@host/db`,
    /// `?sslmode=require` for TLS), with `password` if it needs one, and
    /// brings its schema up to date.
    pub async fn connect(url: &str, password: Option<&Password>) -> Result<PgStore, StoreError> {
        Ok(PgStore::connect_migrating(url, password).await?.0)
    }

    /// Like [`connect`](Self::connect), and says which migrations this call
    /// applied (none when another instance got there first).
    pub async fn connect_migrating(
        url: &str,
        password: Option<&Password>,
    ) -> Result<(PgStore, Vec<i32>), StoreError> {
        let (url, root_file) = split_root_cert(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|err| StoreError::DatabaseUrl {
            reason: format!("is not a PostgreSQL URL: {err}"),
        })?;
        if config.get_password().is_some() {
            return Err(StoreError::DatabaseUrl {
                reason: "holds a password: put it in a file (or a systemd credential) instead, where no \
                         process listing, log or config dump shows it"
                    .to_owned(),
            });
        }
        let target: Arc<str> = describe(&config).into();
        if let Some(password) = password {
            config.password(password.0.as_bytes());
        }
        if config.get_application_name().is_none() {
            config.application_name("feed-digest");
        }
        let manager = Manager::from_config(
            config,
            tls(root_file.as_deref())?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|err| StoreError::DatabaseUrl {
                reason: format!("cannot be used: {err}"),
            })?;
        let store = PgStore { pool, target };
        let mut client = store.client().await?;
        let applied = schema::migrate(&mut client, &store.target).await?;
        drop(client);
        Ok((store, applied))
    }

    /// The database as messages name it (never with a password).
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|source| StoreError::Connect {
            target: self.target.to_string(),
            source,
        })
    }

    pub(super) async fn lease(
        &self,
        leased: Leased,
        key: &str,
        holder: &Holder,
        term: LeaseTerm,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let seconds = |duration: std::time::Duration| duration.as_secs_f64();
        let duration = match term {
            LeaseTerm::Take(duration) => seconds(duration),
            LeaseTerm::Renew(duration) => {
                let renewed = client
                    .execute(leased.renew(), &[&key, &holder.0, &seconds(duration)])
                    .await
                    .pg(leased.kind(), "renew the lease of")?;
                return Ok(renewed == 1);
            }
            LeaseTerm::Release => {
                let released = client
                    .execute(leased.release(), &[&key, &holder.0])
                    .await
                    .pg(leased.kind(), "end the lease of")?;
                return Ok(released == 1);
            }
        };
        let take = || async {
            client
                .execute(leased.take(), &[&key, &holder.0, &duration])
                .await
                .pg(leased.kind(), "lease")
        };
        // The row exists after the first lease: one statement, as a rule.
        if take().await? == 1 {
            return Ok(true);
        }
        client
            .execute(leased.ensure(), &[&key])
            .await
            .pg(leased.kind(), "create the leased row of")?;
        Ok(take().await? == 1)
    }
}

impl Storage for PgStore {
    async fn feed_state(&self, feed_key: &str) -> Result<Option<FeedState>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM feeds WHERE feed_key = $1", &[&feed_key])
            .await
            .pg("feeds", "read")?;
        let Some(row) = row else { return Ok(None) };
        let state: Option<serde_json::Value> = col(&row, 0)?;
        state
            .map(|value| decode_json("feeds", feed_key, value))
            .transpose()
    }

    async fn feed_states(&self, feed_keys: &[&str]) -> Result<Vec<(String, FeedState)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT feed_key, state FROM feeds WHERE feed_key = ANY($1) AND state IS NOT NULL",
                &[&feed_keys],
            )
            .await
            .pg("feeds", "read")?;
        let mut states = Vec::with_capacity(rows.len());
        for row in rows {
            let key: String = col(&row, 0)?;
            let state = decode_json("feeds", &key, col(&row, 1)?)?;
            states.push((key, state));
        }
        Ok(states)
    }

    fn shared(&self) -> bool {
        true
    }

    /// A commit is durable when the database answers it: nothing to do.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Whether `err` is a transaction the database rolled back to resolve a
/// conflict (a deadlock, a serialization failure): trying again is right.
fn is_retryable(err: &StoreError) -> bool {
    use tokio_postgres::error::SqlState;
    match err {
        StoreError::Database { source, .. } => source.code().is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        }),
        _ => false,
    }
}

/// Column `index` of `row`: an error, not a panic, when it is not a `T`.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|source| StoreError::Database {
        kind: "stored",
        op: "read a column of",
        source,
    })
}

/// A JSON column's value as `T`, or `Corrupt` naming the table and key.
fn decode_json<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    key: &str,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|err| StoreError::Corrupt {
        tree,
        key: key.to_owned(),
        message: err.to_string(),
    })
}

/// The stored articles among `ids`, by id: one statement.
async fn articles_by_id(
    client: &tokio_postgres::Client,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, crate::article::Article>, StoreError> {
    let rows = client
        .query("SELECT id, article FROM articles WHERE id = ANY($1)", &[&ids])
        .await
        .pg("articles", "read")?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = col(&row, 0)?;
        let article = decode_json("articles", &id, col(&row, 1)?)?;
        found.insert(id, article);
    }
    Ok(found)
}

/// `user@host:port/db`, for messages: what `config` connects to, no secret.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(dir) => format!("{}:{port}", dir.display()),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("(login user)");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{hosts}/{db}")
}

/// The URL without libpq's `sslrootcert=FILE` (which tokio-postgres does
/// not know), and that file: the roots to trust instead of the system's,
/// for a database whose certificate a private CA signed.
fn split_root_cert(url: &str) -> (String, Option<std::path::PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != "sslrootcert" {
                return true;
            }
            // Percent-decoded as libpq does (a `+` stays a `+`).
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            root = Some(std::path::PathBuf::from(value.as_ref()));
            false
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, root)
}

/// TLS for `sslmode=require` (and `prefer`, which tries it): rustls, which
/// always verifies the server's certificate and name, against the system's
/// roots as the SMTP client does, or only those in `root_file`
/// (`sslrootcert=FILE` in the URL, PEM).
fn tls(root_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match root_file {
        Some(file) => {
            let unusable = |reason: String| StoreError::DatabaseUrl {
                reason: format!("names sslrootcert={}, which {reason}", file.display()),
            };
            let certs = CertificateDer::pem_file_iter(file)
                .map_err(|err| unusable(format!("cannot be read: {err}")))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| unusable(format!("is not PEM certificates: {err}")))?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(unusable("holds no usable certificate".to_owned()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!("database TLS: a system root certificate could not be read: {error}");
            }
            let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::DatabaseUrl {
            reason: format!("cannot be used: TLS cannot be set up: {err}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslrootcert_is_taken_out_of_the_url_and_decoded() {
        assert_eq!(
            split_root_cert(
                "postgres://u@db/x?sslmode=require&sslrootcert=%2Fetc%2Fca%20one.pem&connect_timeout=5"
            ),
            (
                "postgres://u@db/x?sslmode=require&connect_timeout=5".to_owned(),
                Some(std::path::PathBuf::from("/etc/ca one.pem"))
            )
        );
        assert_eq!(
            split_root_cert("postgres://u@db/x?sslrootcert=ca.pem"),
            (
                "postgres://u@db/x".to_owned(),
                Some(std::path::PathBuf::from("ca.pem"))
            )
        );
        assert_eq!(
            split_root_cert("postgres://u@%2Frun%2Fpg/x?sslmode=disable"),
            ("postgres://u@%2Frun%2Fpg/x?sslmode=disable".to_owned(), None)
        );
    }
}
