//! Fetching as the server sees it: per-host and global limits, next-poll
//! times from the server's and the feed's hints, permanent redirects adopted
//! after three polls, timeouts, compression and the size cap.

use std::time::Duration;

use chrono::{TimeDelta, Utc};

use feed_digest::poll::{self, FeedOutcome};

use crate::support::http::{Extra, FeedServer};
use crate::support::world::World;
use crate::support::{cli, rss};

fn one_item(title: &str) -> String {
    rss(title, &[("g1", "An item", "Its text", None)])
}

/// `feeds` feeds on each of the server's first `hosts` hosts, each answer held
/// for `delay` so that the requests the client allows do overlap; their URLs.
fn held_feeds(server: &FeedServer, hosts: usize, feeds: usize, delay: Duration) -> Vec<String> {
    let mut urls = Vec::new();
    for host in 1..=hosts {
        for n in 0..feeds {
            let path = format!("/held-{host}-{n}.xml");
            let extra = Extra {
                delay: Some(delay),
                ..Extra::default()
            };
            server.set_with(&path, one_item("F"), extra);
            urls.push(server.url_on(host, &path));
        }
    }
    urls
}

#[tokio::test]
async fn at_most_per_host_requests_run_at_once_on_each_host() {
    let server = FeedServer::start_hosts(3).await;
    let urls = held_feeds(&server, 3, 6, Duration::from_millis(150));
    let world = World::with_feeds(server, &urls, "[fetch]\nper_host = 2\nconcurrency = 16").await;
    let results = world.poll().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let (per_host, total) = world.feeds.peak_concurrency();
    assert_eq!(per_host.len(), 3, "{per_host:?}");
    for (host, peak) in &per_host {
        assert_eq!(*peak, 2, "host {host}: the limit is used and never exceeded");
    }
    assert!(total <= 6, "total {total}");
}

#[tokio::test]
async fn the_global_limit_caps_all_hosts_together() {
    let server = FeedServer::start_hosts(4).await;
    let urls = held_feeds(&server, 4, 3, Duration::from_millis(100));
    let world = World::with_feeds(server, &urls, "[fetch]\nper_host = 2\nconcurrency = 3").await;
    assert!(world.poll().await.iter().all(Result::is_ok));
    let (_, total) = world.feeds.peak_concurrency();
    assert_eq!(total, 3);
}

#[tokio::test]
async fn a_hosts_last_requests_close_their_connections_and_none_stays_idle() {
    let server = FeedServer::start_hosts(3).await;
    let mut urls = Vec::new();
    // Interleaved hosts in the config, as in an OPML import.
    for n in 0..5 {
        for host in 1..=3 {
            let path = format!("/c{host}-{n}.xml");
            server.set(&path, one_item("F"));
            urls.push(server.url_on(host, &path));
        }
    }
    let world = World::with_feeds(server, &urls, "[fetch]\nper_host = 2\nconcurrency = 4").await;
    assert!(world.poll().await.iter().all(Result::is_ok));
    let requests = world.feeds.requests();
    assert_eq!(requests.len(), 15);
    for host in 1..=3 {
        let prefix = format!("/c{host}-");
        let closing = requests
            .iter()
            .filter(|r| r.path.starts_with(&prefix) && r.connection.as_deref() == Some("close"))
            .count();
        // Two lanes per host: each lane's last request closes its connection.
        assert_eq!(closing, 2, "host {host}: {requests:?}");
    }
    // The poll is over but the client lives on (as in the daemon): it keeps
    // no idle connection open on the server. (One that went back to the pool
    // just after its lane's closing request had opened another is dropped by
    // the pool's idle timeout, 5 s.)
    let counts = world
        .feeds
        .connections_until(Duration::from_secs(30), |c| c.open == 0)
        .await;
    assert_eq!(counts.open, 0, "{counts:?}");
}

#[tokio::test]
async fn skipped_feeds_do_not_keep_a_hosts_last_request_open() {
    let server = FeedServer::start().await;
    server.set("/ok.xml", one_item("OK"));
    server.set_status("/gone-1.xml", 410);
    server.set_status("/gone-2.xml", 410);
    let urls: Vec<String> = ["/ok.xml", "/gone-1.xml", "/gone-2.xml"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let world = World::with_feeds(server, &urls, "[fetch]\nper_host = 2").await;
    world.poll().await;
    let asked = world.feeds.requests().len();
    // Now the two gone feeds are skipped: the one real request is the host's last.
    let results = world.poll().await;
    assert!(
        matches!(results[1], Ok(FeedOutcome::Skipped { .. })),
        "{results:?}"
    );
    let requests = world.feeds.requests();
    let second: Vec<_> = requests[asked..].iter().collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].path, "/ok.xml");
    assert_eq!(second[0].connection.as_deref(), Some("close"), "{second:?}");
}

#[tokio::test]
async fn next_poll_follows_the_interval_raised_by_server_and_feed_hints() {
    let server = FeedServer::start().await;
    server.set("/plain.xml", one_item("Plain"));
    server.set_with(
        "/max-age.xml",
        one_item("Cached"),
        Extra {
            headers: vec![("cache-control".into(), "public, max-age=7200".into())],
            ..Extra::default()
        },
    );
    server.set_with(
        "/week.xml",
        one_item("Weekly"),
        Extra {
            headers: vec![("cache-control".into(), "max-age=604800".into())],
            ..Extra::default()
        },
    );
    let ttl = one_item("TTL").replace(
        "<description>d</description>",
        "<description>d</description><ttl>180</ttl>",
    );
    server.set("/ttl.xml", ttl);
    let sy = one_item("Sy")
        .replace(
            "<rss version=\"2.0\">",
            "<rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\">",
        )
        .replace(
            "<description>d</description>",
            "<description>d</description><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>",
        );
    server.set("/sy.xml", sy);
    server.set("/own.xml", one_item("Own interval"));
    let names = ["/plain.xml", "/max-age.xml", "/week.xml", "/ttl.xml", "/sy.xml"];
    let mut urls: Vec<String> = names.iter().map(|p| server.url(p)).collect();
    urls.push(server.url("/own.xml"));
    let world = World::with_feeds(server, &urls, "poll = \"30m\"").await;
    // The per-feed interval, written after the list so it lands on the last feed.
    let mut config = world.config.clone();
    config.feeds[5].interval = Some(Duration::from_secs(2 * 3600));
    let world = World { config, ..world };
    let before = Utc::now();
    assert!(world.poll().await.iter().all(Result::is_ok));
    let after = Utc::now();
    let expected = [
        ("/plain.xml", TimeDelta::minutes(30)),
        ("/max-age.xml", TimeDelta::hours(2)),
        ("/week.xml", TimeDelta::hours(24)),
        ("/ttl.xml", TimeDelta::hours(3)),
        ("/sy.xml", TimeDelta::hours(1)),
        ("/own.xml", TimeDelta::hours(2)),
    ];
    for (path, wait) in expected {
        let next = world
            .feed_state(&world.feeds.url(path))
            .next_poll
            .unwrap_or_else(|| panic!("{path}: no next poll"));
        let jitter = (wait / 10).min(TimeDelta::minutes(15));
        assert!(
            next >= before + wait && next <= after + wait + jitter,
            "{path}: next poll {next} not within {wait} + {jitter} of the poll"
        );
    }
    // The daemon's poll right after finds nothing due and asks nothing.
    let requests = world.feeds.requests().len();
    assert!(world.poll_due().await.is_empty());
    assert_eq!(world.feeds.requests().len(), requests);
}

#[tokio::test]
async fn a_reload_applies_a_changed_interval_now_within_the_servers_hint() {
    let server = FeedServer::start().await;
    server.set("/plain.xml", one_item("Plain"));
    server.set_with(
        "/max-age.xml",
        one_item("Cached"),
        Extra {
            headers: vec![("cache-control".into(), "max-age=7200".into())],
            ..Extra::default()
        },
    );
    server.set_status("/broken.xml", 500);
    let urls: Vec<String> = ["/plain.xml", "/max-age.xml", "/broken.xml"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let world = World::with_feeds(server, &urls, "poll = \"6h\"").await;
    world.poll().await;
    let polled = |url: &str| {
        world
            .feed_state(url)
            .last_success
            .unwrap_or_else(|| panic!("{url}: never polled"))
    };
    let (plain, cached) = (polled(&urls[0]), polled(&urls[1]));
    assert!(world.feed_state(&urls[0]).next_poll >= Some(plain + TimeDelta::hours(6)));
    let broken_next = world.feed_state(&urls[2]).next_poll;
    assert_eq!(
        poll::reschedule(&world.config, &world.store)
            .await
            .expect("reschedule"),
        0,
        "an unchanged config moves nothing"
    );
    // The user lowers the interval and reloads.
    let mut config = world.config.clone();
    for feed in &mut config.feeds {
        feed.interval = Some(Duration::from_secs(30 * 60));
    }
    assert_eq!(
        poll::reschedule(&config, &world.store).await.expect("reschedule"),
        2
    );
    let next = |url: &str| {
        world
            .feed_state(url)
            .next_poll
            .unwrap_or_else(|| panic!("{url}: no next poll"))
    };
    let plain_next = next(&urls[0]);
    assert!(
        plain_next >= plain + TimeDelta::minutes(30) && plain_next <= plain + TimeDelta::minutes(33),
        "{plain_next} vs last poll {plain}"
    );
    // The server asked for two hours: still honoured without a fetch.
    let cached_next = next(&urls[1]);
    assert!(
        cached_next >= cached + TimeDelta::hours(2) && cached_next <= cached + TimeDelta::minutes(135),
        "{cached_next} vs last poll {cached}"
    );
    // A failing feed keeps its backoff.
    assert_eq!(world.feed_state(&urls[2]).next_poll, broken_next);
    assert_eq!(
        poll::reschedule(&config, &world.store).await.expect("reschedule"),
        0
    );
}

#[tokio::test]
async fn a_reload_never_pulls_forward_a_feed_polled_before_hints_were_kept() {
    let server = FeedServer::start().await;
    server.set("/old.xml", one_item("Old"));
    let url = server.url("/old.xml");
    let world = World::with_feeds(server, std::slice::from_ref(&url), "poll = \"6h\"").await;
    world.poll().await;
    // As an older feed-digest left it: the server's hint was not recorded.
    let mut state = world.feed_state(&url);
    state.hints_recorded = false;
    state.http_hint_secs = None;
    world.store.put_feed_state(&url, &state).expect("write state");
    let mut config = world.config.clone();
    config.feeds[0].interval = Some(Duration::from_secs(30 * 60));
    poll::reschedule(&config, &world.store).await.expect("reschedule");
    assert_eq!(world.feed_state(&url).next_poll, state.next_poll);
    // A longer interval still applies.
    config.feeds[0].interval = Some(Duration::from_secs(24 * 3600));
    assert_eq!(
        poll::reschedule(&config, &world.store).await.expect("reschedule"),
        1
    );
    assert!(world.feed_state(&url).next_poll > state.next_poll);
}

#[tokio::test]
async fn a_permanent_redirect_is_adopted_after_three_polls_and_shown_by_status() {
    let server = FeedServer::start().await;
    server.set("/new.xml", one_item("Moved"));
    server.redirect_with("/old.xml", "/new.xml", 308);
    server.set("/elsewhere.xml", one_item("Temporary"));
    server.redirect_with("/temp.xml", "/elsewhere.xml", 302);
    let old = server.url("/old.xml");
    let temp = server.url("/temp.xml");
    let world = World::with_feeds(server, &[old.clone(), temp.clone()], "").await;
    for poll in 1..=2 {
        assert!(world.poll().await.iter().all(Result::is_ok));
        let state = world.feed_state(&old);
        assert_eq!(state.moved_to, None, "poll {poll}");
        assert_eq!(state.redirect_streak, poll);
    }
    assert!(world.poll().await.iter().all(Result::is_ok));
    let new = world.feeds.url("/new.xml");
    assert_eq!(world.feed_state(&old).moved_to.as_deref(), Some(new.as_str()));
    assert_eq!(world.feed_state(&temp).moved_to, None, "a 302 is never adopted");
    // From now on the old URL is not asked at all.
    let asked_old = |w: &World| w.feeds.requests().iter().filter(|r| r.path == "/old.xml").count();
    let before = asked_old(&world);
    assert!(world.poll().await.iter().all(Result::is_ok));
    assert_eq!(asked_old(&world), before);
    assert_eq!(
        world.feeds.requests().last().map(|r| r.status),
        Some(304),
        "the moved feed is asked conditionally at its new URL"
    );
    drop(world.store);
    let config_path = world.dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "state_dir = \"state\"\n[delivery]\ntransport = \"file\"\ndir = \"out\"\n[[feeds]]\nurl = \"{old}\"\n[[feeds]]\nurl = \"{temp}\"\n"
        ),
    )
    .expect("write config");
    let status = cli::feed_digest(&config_path, &["status"], &[]);
    let text = cli::stdout(&status);
    assert!(
        text.contains(&format!("moved permanently to {new} (update the config)")),
        "{text}"
    );
    let json = cli::feed_digest(&config_path, &["status", "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status JSON");
    assert_eq!(json["feeds"][0]["moved_to"], new.as_str());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_the_others_are_polled() {
    let server = FeedServer::start().await;
    server.set_with(
        "/hang.xml",
        one_item("Hang"),
        Extra {
            hang: true,
            ..Extra::default()
        },
    );
    server.set("/ok.xml", one_item("Fine"));
    let urls = [server.url("/hang.xml"), server.url("/ok.xml")];
    let world = World::with_feeds(server, &urls, "[fetch]\ntimeout = \"1s\"").await;
    let results = world.poll().await;
    let error = results[0].as_ref().err().cloned().unwrap_or_default();
    assert!(
        error.contains("/hang.xml") && error.contains("timed out"),
        "{error}"
    );
    assert!(results[1].is_ok());
}

#[tokio::test]
async fn gzip_and_brotli_bodies_are_accepted_and_the_cap_holds_after_decompression() {
    let server = FeedServer::start().await;
    for (path, coding) in [("/gz.xml", "gzip"), ("/br.xml", "br")] {
        server.set_with(
            path,
            one_item(coding),
            Extra {
                compress: Some(coding),
                ..Extra::default()
            },
        );
    }
    // 64 KiB of text that compresses to far less than the 8 KiB cap: the
    // Content-Length passes, the decompressed stream must not.
    let bomb = rss("Bomb", &[("g", "Big", &"壹".repeat(22_000), None)]);
    server.set_with(
        "/bomb.xml",
        bomb,
        Extra {
            compress: Some("gzip"),
            ..Extra::default()
        },
    );
    server.set("/large.xml", "x".repeat(9 * 1024));
    let urls = ["/gz.xml", "/br.xml", "/bomb.xml", "/large.xml"].map(|p| server.url(p));
    let world = World::with_feeds(server, &urls, "[fetch]\nmax_body_size = \"8KiB\"").await;
    let results = world.poll().await;
    assert!(
        matches!(results[0], Ok(FeedOutcome::Fetched { items: 1, .. })),
        "{results:?}"
    );
    assert!(
        matches!(results[1], Ok(FeedOutcome::Fetched { items: 1, .. })),
        "{results:?}"
    );
    for result in &results[2..] {
        let error = result.as_ref().err().cloned().unwrap_or_default();
        assert!(error.contains("larger than the 8192-byte limit"), "{error}");
    }
    let accept = world.feeds.requests()[0]
        .accept_encoding
        .clone()
        .unwrap_or_default();
    for coding in ["gzip", "br", "deflate"] {
        assert!(accept.contains(coding), "Accept-Encoding: {accept}");
    }
}

#[tokio::test]
async fn backoff_doubles_with_each_failure_and_is_capped_by_max_interval() {
    let server = FeedServer::start().await;
    server.set_status("/down.xml", 500);
    let url = server.url("/down.xml");
    let world = World::with_feeds(
        server,
        std::slice::from_ref(&url),
        "[fetch]\nmax_interval = \"12m\"",
    )
    .await;
    let mut waits = Vec::new();
    for _ in 0..4 {
        // --force goes past the backoff, so each poll is one more failure.
        assert!(world.poll_forced().await[0].is_err());
        let state = world.feed_state(&url);
        let (Some(error_at), Some(next)) = (state.last_error_at, state.next_attempt) else {
            panic!("no backoff recorded: {state:?}");
        };
        waits.push((next - error_at).num_minutes());
        assert_eq!(
            state.next_poll, state.next_attempt,
            "the daemon waits for the backoff"
        );
    }
    assert_eq!(waits, [5, 10, 12, 12]);
}

/// A Location in raw UTF-8 (some servers send it so) is followed as a
/// browser follows it, percent-encoded.
#[tokio::test]
async fn a_redirect_to_a_location_in_raw_utf8_is_followed() {
    let server = FeedServer::start().await;
    server.redirect_with("/old.xml", "/新闻/rss.xml", 302);
    server.set(
        "/%E6%96%B0%E9%97%BB/rss.xml",
        rss("新闻", &[("n1", "新闻一", "正文", Some(Utc::now()))]),
    );
    let url = server.url("/old.xml");
    let world = World::with_feeds(server, std::slice::from_ref(&url), "").await;
    let outcome = world.poll().await.remove(0);
    assert!(
        matches!(outcome, Ok(FeedOutcome::Fetched { new_articles: 1, .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_and_says_so() {
    let server = FeedServer::start().await;
    server.redirect_with("/loop-a.xml", "/loop-b.xml", 302);
    server.redirect_with("/loop-b.xml", "/loop-a.xml", 302);
    let url = server.url("/loop-a.xml");
    let world = World::with_feeds(server, std::slice::from_ref(&url), "").await;
    let error = world.poll().await[0].as_ref().err().cloned().unwrap_or_default();
    assert!(error.contains("more than 5 redirects"), "{error}");
    assert_eq!(
        world.feeds.requests().len(),
        6,
        "the first request and five redirects"
    );
}

#[tokio::test]
async fn the_daemon_polls_a_feed_again_once_its_time_has_come() {
    let server = FeedServer::start().await;
    server.set("/a.xml", one_item("A"));
    server.set("/b.xml", one_item("B"));
    let urls = [server.url("/a.xml"), server.url("/b.xml")];
    let world = World::with_feeds(server, &urls, "").await;
    assert_eq!(world.poll_due().await.len(), 2, "never polled: both are due");
    assert!(world.poll_due().await.is_empty(), "then neither");
    // Time passes for feed a only.
    let mut state = world.feed_state(&urls[0]);
    state.next_poll = Some(Utc::now() - TimeDelta::seconds(1));
    world.store.put_feed_state(&urls[0], &state).expect("store state");
    let polled = world.poll_due().await;
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].0, urls[0]);
    assert!(matches!(polled[0].1, Ok(FeedOutcome::NotModified)), "{polled:?}");
}

#[tokio::test]
async fn a_moved_feed_whose_new_url_disappears_goes_back_to_the_configured_one() {
    let server = FeedServer::start().await;
    server.set("/new.xml", one_item("Moved"));
    server.redirect_with("/old.xml", "/new.xml", 301);
    let old = server.url("/old.xml");
    let world = World::with_feeds(server, std::slice::from_ref(&old), "").await;
    for _ in 0..3 {
        assert!(world.poll().await[0].is_ok());
    }
    assert!(world.feed_state(&old).moved_to.is_some());
    // The new URL goes away; the publisher serves the old one again.
    world.feeds.set_status("/new.xml", 404);
    world.feeds.set("/old.xml", one_item("Back"));
    let error = world.poll_forced().await[0]
        .as_ref()
        .err()
        .cloned()
        .unwrap_or_default();
    assert!(error.contains("404"), "{error}");
    assert_eq!(world.feed_state(&old).moved_to, None, "the move is undone");
    assert!(
        world.poll_forced().await[0].is_ok(),
        "the configured URL works again"
    );
}

#[tokio::test]
async fn a_feed_under_retry_after_is_not_due_until_then() {
    let server = FeedServer::start().await;
    server.set_status_with_retry_after("/busy.xml", 503, "7200");
    let url = server.url("/busy.xml");
    let world = World::with_feeds(server, std::slice::from_ref(&url), "").await;
    assert!(world.poll_due().await[0].1.is_err());
    let state = world.feed_state(&url);
    let retry = state.retry_after.expect("Retry-After on record");
    assert!(state.next_poll.is_some_and(|next| next >= retry), "{state:?}");
    let requests = world.feeds.requests().len();
    assert!(world.poll_due().await.is_empty(), "not due: nothing asked");
    assert_eq!(world.feeds.requests().len(), requests);
}
