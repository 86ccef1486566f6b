//! The PostgreSQL backend against a real server (a throwaway cluster per
//! test, `support::postgres`): migrations, the password's handling, feed
//! states and the leases that let several instances share one database.

use chrono::{TimeDelta, Utc};
use feed_digest::feed_state::FeedState;
use feed_digest::store::postgres::{PgStore, SCHEMA_VERSION};
use feed_digest::store::{Delivery, Feeds, Holder, LeaseTerm, Maintenance, Storage, StoreError};

use crate::support::postgres::Cluster;

const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

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

/// A database at schema 1 (as the first release left it: no lease_since),
/// holding a state and a lease, is brought to schema 2 on connect: the
/// rows stay, the lease still counts (since unknown), a new one records it.
#[tokio::test]
async fn a_populated_schema_1_database_is_migrated_to_2() {
    let cluster = cluster!();
    let first = store(&cluster).await;
    let state = FeedState {
        title: Some("迁移前".to_owned()),
        ..FeedState::default()
    };
    first
        .put_feed_state("https://old.example/feed", &state)
        .await
        .expect("write");
    assert!(
        first
            .lease_feed(
                "https://old.example/feed",
                &Holder("old:1".to_owned()),
                LeaseTerm::Take(HOUR)
            )
            .await
            .expect("lease")
    );
    drop(first);
    // Back to schema 1 exactly: migration 2 only added these columns.
    let admin = cluster.client().await;
    admin
        .batch_execute(
            "ALTER TABLE feeds DROP COLUMN lease_since;
             ALTER TABLE subscribers DROP COLUMN lease_since;
             DELETE FROM feed_digest_schema WHERE version = 2;",
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let (store, applied) = PgStore::connect_migrating(&cluster.url("postgres"), Some(&cluster.password()))
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    assert_eq!(applied, vec![2]);
    assert_eq!(
        store.feed_state("https://old.example/feed").await.expect("read"),
        Some(state)
    );
    let (feeds, _) = store.leases().await.expect("leases");
    assert_eq!(feeds.len(), 1);
    assert_eq!((feeds[0].holder.0.as_str(), feeds[0].since), ("old:1", None));
    assert!(
        !store
            .lease_feed(
                "https://old.example/feed",
                &Holder("new:2".to_owned()),
                LeaseTerm::Take(HOUR)
            )
            .await
            .expect("lease"),
        "the lease taken before the migration still holds"
    );
    assert!(
        store
            .lease_feed(
                "https://other.example/feed",
                &Holder("new:2".to_owned()),
                LeaseTerm::Take(HOUR)
            )
            .await
            .expect("lease")
    );
    let (feeds, _) = store.leases().await.expect("leases");
    assert!(
        feeds.iter().any(|l| l.holder.0 == "new:2" && l.since.is_some()),
        "{feeds:?}"
    );
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

/// `sslmode=require` over TCP: the certificate is verified (a private CA's
/// certificate is refused until the URL names the CA with `sslrootcert`),
/// and then the connection is TLS (the server takes nothing else over TCP).
#[tokio::test]
async fn tls_is_used_when_the_url_asks_and_the_certificate_is_verified() {
    let Some(cluster) = Cluster::start_tls() else {
        return;
    };
    let password = cluster.password();
    let (_, ca) = cluster.tls.clone().expect("tls");
    // The server refuses plain connections over TCP: what succeeds below is TLS.
    let plain = PgStore::connect(&cluster.tls_url("postgres", "sslmode=disable"), Some(&password)).await;
    assert!(plain.is_err(), "a plain TCP connection was accepted");
    // The system's roots do not know the test CA: refused, and said why.
    let Err(untrusted) =
        PgStore::connect(&cluster.tls_url("postgres", "sslmode=require"), Some(&password)).await
    else {
        panic!("a certificate from an unknown CA was accepted");
    };
    // As the CLI prints it: the error and its causes.
    let message = anyhow::Error::new(untrusted);
    let message = format!("{message:#}");
    assert!(
        message.contains("TLS handshake") && message.to_lowercase().contains("certificate"),
        "{message}"
    );
    // A missing CA file is named.
    let Err(missing) = PgStore::connect(
        &cluster.tls_url("postgres", "sslmode=require&sslrootcert=/nonexistent/ca.pem"),
        Some(&password),
    )
    .await
    else {
        panic!("a missing sslrootcert file was ignored");
    };
    assert!(missing.to_string().contains("/nonexistent/ca.pem"), "{missing}");
    // With the CA named, it connects, and the store works over it.
    let url = cluster.tls_url(
        "postgres",
        &format!("sslmode=require&sslrootcert={}", ca.display()),
    );
    let store = PgStore::connect(&url, Some(&password))
        .await
        .unwrap_or_else(|err| panic!("connect over TLS: {err}"));
    let state = FeedState {
        title: Some("加密的".to_owned()),
        ..FeedState::default()
    };
    store
        .put_feed_state("https://tls.example/feed", &state)
        .await
        .expect("write");
    assert_eq!(
        store.feed_state("https://tls.example/feed").await.expect("read"),
        Some(state)
    );
    let client = cluster.client().await;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'feed-digest'",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    let (tls, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(all > 0 && tls == all, "{tls} of {all} connections use TLS");
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
            .lease_feed("https://b.example/feed", &holder, LeaseTerm::Take(MINUTE))
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
    let five = LeaseTerm::Take(5 * MINUTE);
    let feed = "https://news.example/rss";
    let lease = |store: &PgStore, holder: &Holder, term| {
        let (store, holder) = (store.clone(), holder.clone());
        async move {
            match store.lease_feed(feed, &holder, term).await {
                Ok(taken) => taken,
                Err(err) => panic!("lease: {err}"),
            }
        }
    };
    let held = |store: &PgStore| {
        let store = store.clone();
        async move {
            match store.leases().await {
                Ok((feeds, subscribers)) => {
                    assert!(subscribers.is_empty());
                    feeds
                }
                Err(err) => panic!("{err}"),
            }
        }
    };
    assert!(lease(&a, &ha, five).await, "a free feed is leased");
    let first = held(&a).await;
    assert!(
        !lease(&b, &hb, five).await,
        "a held feed is not leased to another"
    );
    assert!(
        !lease(&b, &hb, LeaseTerm::Renew(5 * MINUTE)).await,
        "nor renewed by another"
    );
    assert!(
        lease(&a, &ha, LeaseTerm::Take(6 * MINUTE)).await,
        "the holder renews"
    );
    let renewed = held(&a).await;
    assert_eq!(renewed.len(), 1);
    assert_eq!((renewed[0].key.as_str(), &renewed[0].holder), (feed, &ha));
    assert!(renewed[0].until > first[0].until, "renewed until later");
    assert!(
        renewed[0].since.is_some() && renewed[0].since == first[0].since,
        "held since it was taken, whatever the renewals: {renewed:?} {first:?}"
    );
    // Lapsed, and nobody took it: still the holder's to renew.
    assert!(lease(&a, &ha, LeaseTerm::Take(std::time::Duration::ZERO)).await);
    assert!(lease(&a, &ha, LeaseTerm::Renew(5 * MINUTE)).await);
    // A's lease lapses (as when A is killed): B takes it, A no longer can.
    assert!(lease(&a, &ha, LeaseTerm::Release).await);
    assert!(!lease(&a, &ha, LeaseTerm::Release).await, "given back once");
    assert!(lease(&b, &hb, five).await, "a lapsed lease goes to the next");
    assert!(!lease(&a, &ha, five).await, "the old holder lost it");
    let taken_over = held(&b).await;
    assert_eq!(taken_over[0].holder, hb);
    assert!(
        taken_over[0].since > first[0].since,
        "the new holder's since is its own: {taken_over:?} {first:?}"
    );
    // B gives it back: free to take, but A, whose lease B took meanwhile,
    // may not renew it (the fence before a send: B may have sent).
    assert!(lease(&b, &hb, LeaseTerm::Release).await);
    assert!(!lease(&a, &ha, LeaseTerm::Renew(5 * MINUTE)).await);
    assert!(lease(&a, &ha, five).await, "but may take it anew");

    // Subscribers the same way, apart from feeds.
    let email = "读者@example.org";
    let sub = |store: &PgStore, holder: &Holder, term| {
        let (store, holder) = (store.clone(), holder.clone());
        async move {
            match store.lease_subscriber(email, &holder, term).await {
                Ok(taken) => taken,
                Err(err) => panic!("lease: {err}"),
            }
        }
    };
    assert!(sub(&a, &ha, five).await);
    assert!(!sub(&b, &hb, five).await);
    assert!(sub(&a, &ha, LeaseTerm::Renew(5 * MINUTE)).await);
    assert!(!sub(&b, &hb, LeaseTerm::Renew(5 * MINUTE)).await);

    // Many contenders at once for one new feed: exactly one wins.
    let contenders = (0..24).map(|n| {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let holder = Holder(format!("host-{n}:{n}"));
            match store.lease_feed("https://race.example/feed", &holder, five).await {
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

/// A sled store that holds every kind of record: a poll, a digest sent to
/// one reader while another's waits (with an outbox entry), an opt-out, a
/// prune, and an id from before schema 3 (through an import, the only way
/// such a record comes to be now). Returns the world and its export.
async fn sled_with_every_kind() -> (crate::support::world::World, String) {
    use crate::support::{rss, world::World};
    use feed_digest::store::{Delivery, Maintenance, Readers, Store};
    let w = World::start(|port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\nname = \"新闻\"\n[[subscribers]]\nemail = \"ann@example.org\"\n\
             [[subscribers]]\nemail = \"Bo@example.org\"\n[[subscribers]]\nemail = \"cy@example.org\"\n",
            crate::support::world::config_top(port, ""),
            feeds.url("/news.xml")
        )
    })
    .await;
    let now = Utc::now();
    w.feeds.set(
        "/news.xml",
        rss(
            "新闻",
            &[
                ("a", "欧洲央行维持利率不变", "通胀压力有所缓解", Some(now)),
                ("b", "Fed holds rates steady", "Markets rose.", Some(now)),
            ],
        ),
    );
    w.poll_ok().await;
    // "a" leaves the feed: its id goes into the day's set of ids that left.
    w.feeds.set(
        "/news.xml",
        rss(
            "新闻",
            &[("b", "Fed holds rates steady", "Markets rose.", Some(now))],
        ),
    );
    w.poll_ok().await;
    assert!(w.send("ann@example.org").await.is_ok());
    let waiting = Delivery::pending(&w.store, "bo@example.org")
        .await
        .unwrap_or_default();
    assert_eq!(waiting.len(), 2, "bo's articles wait");
    let entry = feed_digest::outbox::OutboxEntry {
        message_id: "<1@example.org>".to_owned(),
        article_ids: waiting,
        created_at: now,
        message: "Subject: x\r\n\r\nbody".to_owned(),
        html: "<p>body</p>".to_owned(),
        dropped: Vec::new(),
    };
    assert!(
        Delivery::put_outbox(&w.store, "bo@example.org", &entry)
            .await
            .is_ok()
    );
    let opt_out = feed_digest::subscriber::OptOut {
        since: now,
        by: feed_digest::subscriber::OptOutWay::Page,
    };
    assert!(matches!(
        Readers::opt_out(&w.store, "cy@example.org", &opt_out).await,
        Ok(true)
    ));
    assert!(
        Maintenance::prune(&w.store, now, TimeDelta::days(30), TimeDelta::days(7))
            .await
            .is_ok()
    );
    let mut export = Vec::new();
    assert!(Maintenance::export(&w.store, &mut export).await.is_ok());
    let mut export = String::from_utf8(export).unwrap_or_default();
    export.push_str(&format!(
        "{{\"tree\":\"seen_legacy\",\"key\":\"00112233445566778899aabbccddeeff\",\"value\":\
         {{\"first_seen\":\"2024-01-01T00:00:00Z\",\"last_seen\":\"{}\",\"delivered\":true}}}}\n",
        (now - TimeDelta::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    ));
    // Into a second sled store: the original, every kind in it.
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let original = Store::open(dir.path()).unwrap_or_else(|err| panic!("{err}"));
    assert!(
        Maintenance::import(&original, &mut export.as_bytes())
            .await
            .is_ok()
    );
    let mut again = Vec::new();
    assert!(Maintenance::export(&original, &mut again).await.is_ok());
    drop(original);
    (w, String::from_utf8(again).unwrap_or_default())
}

/// An export's records by kind, sorted by key.
fn by_kind(export: &str) -> std::collections::BTreeMap<String, Vec<(String, serde_json::Value)>> {
    let mut kinds: std::collections::BTreeMap<String, Vec<(String, serde_json::Value)>> = Default::default();
    for line in export.lines().filter(|l| !l.trim().is_empty()) {
        let record: feed_digest::store::ExportedRecord =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        kinds
            .entry(record.tree)
            .or_default()
            .push((record.key, record.value));
    }
    for records in kinds.values_mut() {
        records.sort_by(|a, b| a.0.cmp(&b.0));
    }
    kinds
}

async fn export_of<S: feed_digest::store::Maintenance>(store: &S) -> String {
    let mut out = Vec::new();
    if let Err(err) = store.export(&mut out).await {
        panic!("export: {err}");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[tokio::test]
async fn a_sled_backup_restored_into_postgres_and_back_holds_every_record() {
    use feed_digest::store::{Kind, Maintenance, Store};
    let cluster = cluster!();
    let (_world, original) = sled_with_every_kind().await;
    let expected = by_kind(&original);
    for kind in Kind::ALL {
        assert!(expected.contains_key(kind.name()), "the original lacks {kind}");
    }
    let pg = store(&cluster).await;
    match pg.import(&mut original.as_bytes()).await {
        Ok(count) => assert_eq!(count, original.lines().count()),
        Err(err) => panic!("import into PostgreSQL: {err}"),
    }
    let restored = by_kind(&export_of(&pg).await);
    for kind in Kind::ALL {
        assert_eq!(
            restored.get(kind.name()),
            expected.get(kind.name()),
            "{kind} differs"
        );
    }
    match pg.check().await {
        Ok(report) => {
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            // Bo's two and cy's two (an opt-out keeps what waits for a while).
            assert_eq!(
                (report.articles, report.pending, report.sent, report.opt_outs),
                (2, 4, 1, 1)
            );
            assert_eq!(report.seen, 3, "two ids of the feed and the legacy one");
        }
        Err(err) => panic!("{err}"),
    }
    // A second import finds the database in use and says just that.
    match pg.import(&mut original.as_bytes()).await {
        Err(err @ StoreError::DatabaseNotEmpty { .. }) => {
            assert!(err.to_string().contains("is not empty"), "{err}");
        }
        other => panic!("a second import gave {other:?}"),
    }
    // And back into sled: the same records again.
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let back = Store::open(dir.path()).unwrap_or_else(|err| panic!("{err}"));
    let from_pg = export_of(&pg).await;
    assert!(Maintenance::import(&back, &mut from_pg.as_bytes()).await.is_ok());
    let round_trip = by_kind(&export_of(&back).await);
    for kind in Kind::ALL {
        assert_eq!(
            round_trip.get(kind.name()),
            expected.get(kind.name()),
            "{kind} differs after the way back"
        );
    }
}

#[tokio::test]
async fn the_prune_on_postgres_forgets_what_the_prune_on_sled_forgets() {
    use feed_digest::store::{Maintenance, Store};
    let cluster = cluster!();
    let (_world, original) = sled_with_every_kind().await;
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let sled = Store::open(dir.path()).unwrap_or_else(|err| panic!("{err}"));
    assert!(Maintenance::import(&sled, &mut original.as_bytes()).await.is_ok());
    let pg = store(&cluster).await;
    assert!(pg.import(&mut original.as_bytes()).await.is_ok());
    // What waits for bo and cy first stays, whatever its age; once dropped
    // (through the seam, on both), the prune may take it.
    let now = Utc::now();
    for email in ["bo@example.org", "cy@example.org"] {
        let (a, b) = (
            feed_digest::store::Readers::drop_waiting(&sled, email).await,
            feed_digest::store::Readers::drop_waiting(&pg, email).await,
        );
        assert!(matches!((&a, &b), (Ok(2), Ok(2))), "{email}: {a:?} {b:?}");
    }
    let mut total = feed_digest::store::PruneReport::default();
    for (after, what) in [
        (TimeDelta::days(8), "bodies nobody needs go, ids stay"),
        (TimeDelta::days(40), "ids past the retention go, what waits stays"),
    ] {
        let (a, b) = (
            Maintenance::prune(&sled, now + after, TimeDelta::days(30), TimeDelta::days(7)).await,
            pg.prune(now + after, TimeDelta::days(30), TimeDelta::days(7))
                .await,
        );
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(b, a, "{what}: the reports differ");
                total.seen_removed += a.seen_removed;
                total.bodies_removed += a.bodies_removed;
                total.links_removed += a.links_removed;
                total.sent_removed += a.sent_removed;
            }
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(
            by_kind(&export_of(&pg).await),
            by_kind(&export_of(&sled).await),
            "{what}"
        );
    }
    // Every rule took something: the id that left its feed and the legacy
    // one (the id still in the feed stays), both bodies and their links,
    // ann's digest of two stories.
    let expected = feed_digest::store::PruneReport {
        seen_removed: 2,
        bodies_removed: 2,
        links_removed: 2,
        sent_removed: 2,
    };
    assert_eq!(total, expected);
    match pg.check().await {
        Ok(report) => {
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!((report.articles, report.seen, report.pending), (0, 1, 0));
        }
        Err(err) => panic!("{err}"),
    }
}

/// `store = "postgres://…"` in the config, through the binary as a user
/// runs it: an install on sled exported, imported into PostgreSQL with
/// `store import`, then polled and sent from there: nothing is new again,
/// nothing is mailed twice, and what arrives later is mailed once.
#[test]
fn an_install_moved_from_sled_to_postgres_mails_nothing_twice() {
    use crate::support::cli::{feed_digest, stdout, write_config};
    let Some(cluster) = Cluster::start() else { return };
    let smtp = crate::support::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let sled_config = write_config(dir.path(), smtp.port, "07:00");
    let run = |config: &std::path::Path, args: &[&str]| {
        let output = feed_digest(config, args, &[]);
        assert!(
            output.status.success(),
            "feed-digest {args:?} failed:\n{}{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    run(&sled_config, &["poll"]);
    run(&sled_config, &["send"]);
    let first = smtp.messages().len();
    assert_eq!(first, 1, "one digest from sled");
    let backup = dir.path().join("backup.jsonl");
    run(
        &sled_config,
        &["store", "export", "--output", &backup.display().to_string()],
    );

    // The same config on the database: the password from a file.
    let password_file = dir.path().join("db-password");
    std::fs::write(&password_file, format!("{}\n", cluster.password)).unwrap_or_else(|err| panic!("{err}"));
    let text = std::fs::read_to_string(&sled_config).unwrap_or_default();
    let pg_config = dir.path().join("pg.toml");
    std::fs::write(
        &pg_config,
        format!(
            "store = \"{}\"\nstore_password_file = \"{}\"\n{}",
            cluster.url("postgres"),
            password_file.display(),
            text.replace("state_dir = \"state\"", "state_dir = \"state-pg\"")
        ),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let imported = run(&pg_config, &["store", "import", &backup.display().to_string()]);
    assert!(
        stdout(&imported).contains("feed_digest@"),
        "{}",
        stdout(&imported)
    );
    let check = run(&pg_config, &["store", "check"]);
    assert!(!stdout(&check).contains("problem"), "{}", stdout(&check));
    run(&pg_config, &["poll"]);
    run(&pg_config, &["send"]);
    assert_eq!(smtp.messages().len(), first, "the move mailed nothing again");

    // A new item after the move is mailed once, from the database.
    let feed = dir.path().join("tech-en.atom");
    let atom = std::fs::read_to_string(&feed).unwrap_or_default();
    let entry = "<entry><id>urn:moved:1</id><title>Written after the move</title>\
                 <updated>2030-01-01T00:00:00Z</updated><link href=\"https://example.org/moved\"/>\
                 <summary>New.</summary></entry>";
    std::fs::write(&feed, atom.replacen("<entry>", &format!("{entry}<entry>"), 1))
        .unwrap_or_else(|err| panic!("{err}"));
    run(&pg_config, &["poll"]);
    run(&pg_config, &["send"]);
    let messages = smtp.messages();
    assert_eq!(messages.len(), first + 1);
    let last = crate::support::decode(&messages[first].data);
    assert!(last.text.contains("Written after the move"), "{}", last.text);
    run(&pg_config, &["send"]);
    assert_eq!(smtp.messages().len(), first + 1, "sent once");

    // Another instance holding the reader: `send` leaves it to that one,
    // and `status` says who holds what.
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|err| panic!("{err}"));
    runtime.block_on(async {
        let admin = cluster.client().await;
        admin
            .execute(
                "UPDATE subscribers SET lease_holder = 'elsewhere:7', lease_until = now() + interval '1 hour',
                     lease_since = now() WHERE email = 'alice@example.org'",
                &[],
            )
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    });
    let sent = run(&pg_config, &["send"]);
    assert!(
        stdout(&sent).contains("another instance is sending it"),
        "{}",
        stdout(&sent)
    );
    let status = run(&pg_config, &["status"]);
    assert!(
        stdout(&status).contains("lease: subscriber alice@example.org held by elsewhere:7 since "),
        "{}",
        stdout(&status)
    );

    // A password in the URL is refused by the config check, naming the key.
    let bad = dir.path().join("bad.toml");
    let with_password =
        cluster
            .url("postgres")
            .replacen("feed_digest@", &format!("feed_digest:{}@", cluster.password), 1);
    std::fs::write(&bad, format!("store = \"{with_password}\"\n{text}"))
        .unwrap_or_else(|err| panic!("{err}"));
    let refused = feed_digest(&bad, &["check"], &[]);
    let said = format!("{}{}", stdout(&refused), String::from_utf8_lossy(&refused.stderr));
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("store") && said.contains("holds a password"),
        "{said}"
    );
    assert!(!said.contains(&cluster.password), "the password is shown: {said}");
}

#[tokio::test]
async fn metrics_say_which_instance_this_is_and_what_it_holds() {
    let cluster = cluster!();
    let w = crate::support::world::World::start_pg(&cluster, |port, feeds| {
        format!(
            "{}[[feeds]]\nurl = \"{}\"\n[[subscribers]]\nemail = \"ann@example.org\"\n",
            crate::support::world::config_top(port, ""),
            feeds.url("/news.xml")
        )
    })
    .await;
    let me = Holder::this_process();
    let soon = LeaseTerm::Take(5 * MINUTE);
    let feed = &w.config.feeds[0].key;
    assert!(matches!(w.store.lease_feed(feed, me, soon).await, Ok(true)));
    // Another instance's lease is not this one's.
    assert!(matches!(
        w.store
            .lease_subscriber("ann@example.org", &Holder("elsewhere:9".to_owned()), soon)
            .await,
        Ok(true)
    ));
    let text = feed_digest::metrics::render(&Default::default(), &w.config, &w.store).await;
    for expected in [
        format!("feed_digest_instance_info{{holder=\"{}\"}} 1", me.0),
        "feed_digest_leases_held{kind=\"feed\"} 1".to_owned(),
        "feed_digest_leases_held{kind=\"subscriber\"} 0".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing from\n{text}");
    }
}

/// Two instances poll one feed at once (a lease lapsed under a slow poll)
/// and both plan the same article as new. The first commits and its digest
/// goes out (the pending row gone); the second's commit is refused, to be
/// planned again, rather than queueing the article a second time.
#[tokio::test]
async fn a_second_poll_of_one_feed_does_not_queue_again_what_the_first_stored() {
    let cluster = cluster!();
    let (a, b) = (store(&cluster).await, store(&cluster).await);
    let feed = "https://news.example/rss";
    let batch = feed_digest::ingest::IngestBatch {
        deliver: vec![crate::support::new_article(
            feed,
            "story-1",
            "https://news.example/story-1",
            "ann@example.org",
        )],
        ..Default::default()
    };
    let state = FeedState::default();
    let now = Utc::now();
    assert!(a.ingest(feed, &state, &batch, now).await.is_ok());
    // The first instance's digest went out: its pending row is gone.
    let admin = cluster.client().await;
    let sent = admin
        .execute("DELETE FROM pending WHERE email = 'ann@example.org'", &[])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(sent, 1);
    match b.ingest(feed, &state, &batch, now).await {
        Err(StoreError::PolledMeanwhile { feed: named }) => assert_eq!(named, feed),
        other => panic!("the second commit should be refused, got {other:?}"),
    }
    assert_eq!(
        b.pending("ann@example.org").await.map(|p| p.len()).ok(),
        Some(0),
        "not queued again"
    );
}
