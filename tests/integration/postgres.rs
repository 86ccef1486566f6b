//! The PostgreSQL backend against a real server (a throwaway cluster per
//! test, `support::postgres`): migrations, the password's handling, feed
//! states and the leases that let several instances share one database.

use chrono::{TimeDelta, Utc};
use feed_digest::feed_state::FeedState;
use feed_digest::store::postgres::{PgStore, SCHEMA_VERSION};
use feed_digest::store::{Holder, Storage, StoreError};

use crate::support::postgres::Cluster;

/// The cluster, or return: PostgreSQL is not installed (nor required).
macro_rules! cluster {
    () => {
        match Cluster::start() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

async fn store(cluster: &Cluster) -> PgStore {
    match PgStore::connect(&cluster.url("postgres"), Some(&cluster.password())).await {
        Ok(store) => store,
        Err(err) => panic!("connect: {err}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_apply_each_migration_once() {
    let cluster = cluster!();
    let url = cluster.url("postgres");
    let password = cluster.password();
    let starts = (0..3).map(|_| PgStore::connect_migrating(&url, Some(&password)));
    let mut applied = Vec::new();
    for result in futures_util::future::join_all(starts).await {
        match result {
            Ok((_, versions)) => applied.extend(versions),
            Err(err) => panic!("an instance failed to start: {err}"),
        }
    }
    applied.sort();
    let every: Vec<i32> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(
        applied, every,
        "each migration applied exactly once among the three"
    );
    let admin = cluster.client().await;
    let rows = admin
        .query("SELECT version FROM feed_digest_schema ORDER BY version", &[])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let recorded: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(recorded, every);
    // Every kind of record has its table.
    for table in [
        "meta",
        "feeds",
        "seen",
        "seen_legacy",
        "articles",
        "links",
        "subscribers",
        "pending",
        "outbox",
        "sent",
        "opt_outs",
    ] {
        let found = admin
            .query_opt("SELECT 1 FROM pg_tables WHERE tablename = $1", &[&table])
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(found.is_some(), "no table {table}");
    }
    // A later start has nothing to apply.
    match PgStore::connect_migrating(&url, Some(&password)).await {
        Ok((_, versions)) => assert!(versions.is_empty(), "applied again: {versions:?}"),
        Err(err) => panic!("{err}"),
    }
}

#[tokio::test]
async fn a_database_from_a_newer_feed_digest_is_refused_by_name() {
    let cluster = cluster!();
    let _ = store(&cluster).await;
    let admin = cluster.client().await;
    admin
        .execute(
            "INSERT INTO feed_digest_schema (version) VALUES ($1)",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    match PgStore::connect(&cluster.url("postgres"), Some(&cluster.password())).await {
        Err(err @ StoreError::DatabaseTooNew { .. }) => {
            let message = err.to_string();
            assert!(message.contains("feed_digest@"), "names the database: {message}");
            assert!(
                message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
                "{message}"
            );
            assert!(message.contains("upgrade feed-digest"), "{message}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test]
async fn the_password_never_comes_from_the_url_nor_shows_in_an_error() {
    let cluster = cluster!();
    let secret = cluster.password.clone();
    // In the URL: refused before any connection, without echoing it.
    let with_password =
        cluster
            .url("postgres")
            .replacen("feed_digest@", &format!("feed_digest:{secret}@"), 1);
    match PgStore::connect(&with_password, None).await {
        Err(err @ StoreError::DatabaseUrl { .. }) => {
            let message = format!("{err} {err:?}");
            assert!(message.contains("holds a password"), "{message}");
            assert!(
                !message.contains(&secret),
                "the error shows the password: {message}"
            );
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a URL with a password was accepted"),
    }
    // A wrong password: the server refuses, the message names the database.
    let wrong = feed_digest::store::postgres::Password::new(format!("{secret}-wrong"));
    match PgStore::connect(&cluster.url("postgres"), Some(&wrong)).await {
        Err(err @ StoreError::Connect { .. }) => {
            let message = format!("{err} {err:?}");
            assert!(message.contains("feed_digest@"), "{message}");
            assert!(message.contains("password authentication failed"), "{message}");
            assert!(
                !message.contains(&secret),
                "the error shows the password: {message}"
            );
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    // No password where one is needed.
    match PgStore::connect(&cluster.url("postgres"), None).await {
        Err(StoreError::Connect { .. }) => {}
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("connected without the password"),
    }
    let store = store(&cluster).await;
    let shown = format!("{store:?} {:?} {}", cluster.password(), store.target());
    assert!(!shown.contains(&secret), "{shown}");
}

#[tokio::test]
async fn feed_states_read_back_as_written_and_a_broken_one_is_named() {
    let cluster = cluster!();
    let store = store(&cluster).await;
    assert_eq!(store.feed_state("https://a.example/feed").await.ok(), Some(None));
    let now = Utc::now();
    let state = FeedState {
        title: Some("新闻 · News".to_owned()),
        etag: Some("\"abc\"".to_owned()),
        last_success: Some(now),
        items_known: 42,
        baselined: true,
        failures: 2,
        ..FeedState::default()
    };
    if let Err(err) = store.put_feed_state("https://a.example/feed", &state).await {
        panic!("{err}");
    }
    match store.feed_state("https://a.example/feed").await {
        Ok(Some(read)) => assert_eq!(read, state),
        other => panic!("{other:?}"),
    }
    // A lease alone makes a row without a state: still no state.
    let holder = Holder("host:1".to_owned());
    assert!(matches!(
        store
            .lease_feed("https://b.example/feed", &holder, now + TimeDelta::minutes(1))
            .await,
        Ok(true)
    ));
    assert_eq!(store.feed_state("https://b.example/feed").await.ok(), Some(None));
    let admin = cluster.client().await;
    admin
        .execute(
            "UPDATE feeds SET state = '{\"items_known\": \"many\"}' WHERE feed_key = 'https://a.example/feed'",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    match store.feed_state("https://a.example/feed").await {
        Err(err @ StoreError::Corrupt { .. }) => {
            let message = err.to_string();
            assert!(message.contains("\"feeds\""), "{message}");
            assert!(message.contains("https://a.example/feed"), "{message}");
        }
        other => panic!("a broken state read as {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_at_a_time_holds_a_lease_until_it_lapses() {
    let cluster = cluster!();
    // Two instances: two pools, two holders.
    let a = store(&cluster).await;
    let b = store(&cluster).await;
    let (ha, hb) = (Holder("host-a:1".to_owned()), Holder("host-b:2".to_owned()));
    let now = Utc::now();
    let soon = now + TimeDelta::minutes(5);
    let feed = "https://news.example/rss";
    let lease = |store: &PgStore, holder: &Holder, until| {
        let (store, holder) = (store.clone(), holder.clone());
        async move {
            match store.lease_feed(feed, &holder, until).await {
                Ok(taken) => taken,
                Err(err) => panic!("lease: {err}"),
            }
        }
    };
    assert!(lease(&a, &ha, soon).await, "a free feed is leased");
    assert!(
        !lease(&b, &hb, soon).await,
        "a held feed is not leased to another"
    );
    assert!(lease(&a, &ha, soon).await, "the holder renews");
    match a.leases().await {
        Ok((feeds, subscribers)) => {
            assert_eq!(feeds.len(), 1);
            assert_eq!((feeds[0].key.as_str(), &feeds[0].holder), (feed, &ha));
            assert!(subscribers.is_empty());
        }
        Err(err) => panic!("{err}"),
    }
    // A's lease lapses (as when A is killed): B takes it, A no longer can.
    assert!(lease(&a, &ha, now - TimeDelta::seconds(1)).await);
    assert!(lease(&b, &hb, soon).await, "a lapsed lease goes to the next");
    assert!(!lease(&a, &ha, soon).await, "the old holder lost it");

    // Subscribers the same way, apart from feeds.
    let email = "读者@example.org";
    let sub = |store: &PgStore, holder: &Holder, until| {
        let (store, holder) = (store.clone(), holder.clone());
        async move {
            match store.lease_subscriber(email, &holder, until).await {
                Ok(taken) => taken,
                Err(err) => panic!("lease: {err}"),
            }
        }
    };
    assert!(sub(&a, &ha, soon).await);
    assert!(!sub(&b, &hb, soon).await);

    // Many contenders at once for one new feed: exactly one wins.
    let contenders = (0..24).map(|n| {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let holder = Holder(format!("host-{n}:{n}"));
            match store.lease_feed("https://race.example/feed", &holder, soon).await {
                Ok(taken) => taken,
                Err(err) => panic!("lease: {err}"),
            }
        }
    });
    let won = futures_util::future::join_all(contenders)
        .await
        .into_iter()
        .filter(|taken| *taken)
        .count();
    assert_eq!(won, 1, "one lease among 24 contenders");
}
