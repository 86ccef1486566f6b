//! The readers' web endpoint on a real listener (port 0) over raw HTTP:
//! one-click unsubscribe, the page a GET shows, undoing it, refused tokens,
//! and the limits on slow and oversized requests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use feed_digest::deliver::Delivered;
use feed_digest::links::{Key, create_key};
use feed_digest::subscriber::OptOutWay;
use feed_digest::web::{self, WebLimits};

use crate::support::http::FeedServer;
use crate::support::rss;
use crate::support::world::World;

const READER: &str = "all@example.org";

/// A world with one feed, the web endpoint configured (its key made in the
/// state dir) and serving on port 0.
struct Site {
    world: World,
    addr: SocketAddr,
    key: Key,
    cancel: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

async fn site(limits: WebLimits) -> Site {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/a.xml",
        rss(
            "A",
            &[
                ("a-1", "第一条新闻", "正文", None),
                ("a-2", "Second story", "Body", None),
            ],
        ),
    );
    let url = feeds.url("/a.xml");
    let extra = "[web]\nlisten = \"127.0.0.1:0\"\nbase_url = \"https://digest.example.org/news\"\n";
    let mut world = World::with_feeds(feeds, &[url], extra).await;
    let web_settings = world.config.web.as_mut().expect("[web] parsed");
    let key = create_key(&web_settings.key_file).expect("key made");
    web_settings.key = Some(key.clone());
    let (addr, cancel, server) = serve_on_port_0(&world, limits).await;
    // The sender may go: the server keeps the last config.
    world.poll_ok().await;
    Site {
        world,
        addr,
        key,
        cancel,
        server,
    }
}

impl Site {
    fn token(&self) -> String {
        self.key.subscriber_token(READER)
    }

    fn opted_out(&self) -> Option<feed_digest::subscriber::OptOut> {
        self.world.store.opted_out(READER).expect("read opt-outs")
    }

    async fn stop(self) {
        self.cancel.cancel();
        self.server.await.expect("server ends");
    }
}

/// The endpoint on the world's store and config, on port 0.
async fn serve_on_port_0(
    world: &World,
    limits: WebLimits,
) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = web::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    // The sender may go: the server keeps the last config.
    let (_tx, config) = tokio::sync::watch::channel(world.config.clone());
    let cancel = CancellationToken::new();
    let server = tokio::spawn(web::serve(
        listener,
        config,
        world.store.clone(),
        limits,
        cancel.clone(),
    ));
    (addr, cancel, server)
}

/// One request on its own connection: the status and the body.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    request_as(addr, method, path, "application/x-www-form-urlencoded", body).await
}

async fn request_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: digest.example.org\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// RFC 8058 prefers the one-click POST as multipart/form-data.
#[tokio::test]
async fn a_one_click_post_as_multipart_form_data_unsubscribes() {
    let site = site(WebLimits::default()).await;
    let path = format!("/news/u/{}", site.token());
    let body =
        "--b7\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b7--\r\n";
    let (status, page) = request_as(site.addr, "POST", &path, "multipart/form-data; boundary=b7", body).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(site.opted_out().map(|o| o.by), Some(OptOutWay::OneClick));
    site.stop().await;
}

#[tokio::test]
async fn a_get_changes_nothing_and_a_one_click_post_unsubscribes_until_undone() {
    let site = site(WebLimits::default()).await;
    let path = format!("/news/u/{}", site.token());
    // What a link scanner does: a GET, twice.
    for _ in 0..2 {
        let (status, page) = request(site.addr, "GET", &path, "").await;
        assert_eq!(status, 200);
        assert!(page.contains("<form method=\"post\""), "{page}");
        assert!(!page.contains(READER), "the page names nobody");
    }
    assert_eq!(site.opted_out(), None);
    // What a mail provider does (RFC 8058).
    let (status, page) = request(site.addr, "POST", &path, ONE_CLICK).await;
    assert_eq!(status, 200);
    assert!(page.contains("unsubscribed"), "{page}");
    assert_eq!(site.opted_out().map(|o| o.by), Some(OptOutWay::OneClick));
    let pending = site.world.pending(READER);
    assert_eq!(pending, 2);
    match site.world.send(READER).await {
        Ok(Delivered::OptedOut { .. }) => {}
        other => panic!("expected no digest, got {other:?}"),
    }
    assert!(site.world.smtp.messages().is_empty(), "nothing is mailed");
    assert_eq!(
        site.world.pending(READER),
        pending,
        "what waits is kept for a while"
    );
    // The page's own button: subscribing again.
    let (status, _) = request(
        site.addr,
        "POST",
        &format!("/news/r/{}", site.token()),
        "resubscribe=yes",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(site.opted_out(), None);
    assert!(matches!(
        site.world.send(READER).await,
        Ok(Delivered::Sent { articles: 2, .. })
    ));
    // An old digest's link still works: the reader's latest wish wins.
    let (status, _) = request(site.addr, "POST", &format!("{path}?via=page"), ONE_CLICK).await;
    assert_eq!(status, 200);
    assert_eq!(site.opted_out().map(|o| o.by), Some(OptOutWay::Page));
    site.stop().await;
}

#[tokio::test]
async fn every_wrong_token_gets_the_same_404_and_changes_nothing() {
    let site = site(WebLimits::default()).await;
    let token = site.token();
    let mut altered: Vec<char> = token.chars().collect();
    altered[5] = if altered[5] == 'x' { 'y' } else { 'x' };
    let altered: String = altered.into_iter().collect();
    let foreign = Key::new(&[9; 32]).expect("key").subscriber_token(READER);
    let stranger = site.key.subscriber_token("stranger@example.org");
    let mut answers = Vec::new();
    for bad in [altered.as_str(), &foreign, &stranger, "x", &"A".repeat(300)] {
        for method in ["GET", "POST"] {
            let (status, body) = request(site.addr, method, &format!("/news/u/{bad}"), ONE_CLICK).await;
            assert_eq!(status, 404, "{method} {bad}");
            answers.push(body);
        }
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "one answer for every wrong link: {answers:?}");
    assert_eq!(site.opted_out(), None);
    assert!(site.world.store.opt_outs().expect("read").is_empty());
    // A POST without the one-click field does not unsubscribe either.
    let (status, _) = request(site.addr, "POST", &format!("/news/u/{token}"), "").await;
    assert_eq!(status, 400);
    assert_eq!(site.opted_out(), None);
    site.stop().await;
}

#[tokio::test]
async fn the_digest_carries_the_readers_own_link_and_it_works() {
    let site = site(WebLimits::default()).await;
    assert!(matches!(
        site.world.send(READER).await,
        Ok(Delivered::Sent { .. })
    ));
    let mail = site.world.mail_to(READER).pop().expect("a digest");
    let expected = format!("https://digest.example.org/news/u/{}", site.token());
    let header = mail
        .raw
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .expect("List-Unsubscribe header");
    assert!(header.contains(&format!("<{expected}>")), "{header}");
    assert!(
        mail.raw
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );
    assert!(
        mail.html.contains(&expected),
        "the footer links the reader's page"
    );
    // The path the provider would POST to, as the mail gives it.
    let path = expected.trim_start_matches("https://digest.example.org");
    let (status, _) = request(site.addr, "POST", path, ONE_CLICK).await;
    assert_eq!(status, 200);
    assert!(site.opted_out().is_some());
    site.stop().await;
}

#[tokio::test]
async fn oversized_and_slow_requests_are_cut_off() {
    let limits = WebLimits {
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(2),
        ..WebLimits::default()
    };
    let site = site(limits).await;
    let path = format!("/news/u/{}", site.token());
    let big = format!("{ONE_CLICK}&{}", "x".repeat(64 * 1024));
    let (status, _) = request(site.addr, "POST", &path, &big).await;
    assert_eq!(status, 413);
    assert_eq!(site.opted_out(), None);
    // Headers that never end, and a body that never comes: the server
    // closes both (EOF here), the second after the connection's timeout.
    for partial in [
        "GET /news/u/x HTTP/1.1\r\nHost: a\r\n".to_owned(),
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 26\r\n\r\nList"),
    ] {
        let mut stream = TcpStream::connect(site.addr).await.expect("connect");
        stream.write_all(partial.as_bytes()).await.expect("write");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the server did not cut off {partial:?}");
        assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
    }
    assert_eq!(site.opted_out(), None);
    // The endpoint still answers.
    let (status, _) = request(site.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    site.stop().await;
}

/// The daemon's config of `support::cli` with every listener on port 0.
fn daemon_config(dir: &std::path::Path, smtp_port: u16) -> std::path::PathBuf {
    let path = crate::support::cli::write_config(dir, smtp_port, "0 7 * * *");
    let text = std::fs::read_to_string(&path).expect("read config");
    let text = format!(
        "shutdown_timeout = \"5s\"\nmetrics_listen = \"127.0.0.1:0\"\n{text}\n[web]\nlisten = \"127.0.0.1:0\"\nbase_url = \"https://digest.example.org\"\n"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The href of a mail's "N more articles in the full digest" link.
fn more_link(html: &str) -> String {
    html.split("id=\"more-online\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the more link")
        .to_owned()
}

/// A file's permission bits.
fn file_mode(path: &std::path::Path) -> u32 {
    let metadata = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777
}

/// The address after `http://` in a log line.
fn logged_address(line: &str) -> SocketAddr {
    let rest = line.split("http://").nth(1).expect("an address in the log");
    let addr = rest.split('/').next().unwrap_or_default();
    addr.parse().unwrap_or_else(|_| panic!("not an address: {line}"))
}

#[test]
fn sigterm_with_silent_clients_on_every_listener_still_exits_in_time() {
    use crate::support::cli::Daemon;
    let smtp = crate::support::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = daemon_config(dir.path(), smtp.port);
    let daemon = Daemon::start(&config, None, &[]);
    let web = logged_address(&daemon.wait_for_log("web endpoint listening on"));
    let metrics = logged_address(&daemon.wait_for_log("metrics listening on"));
    // Connected, and silent: nothing of a request is ever sent.
    let _web = std::net::TcpStream::connect(web).expect("connect web");
    let _metrics = std::net::TcpStream::connect(metrics).expect("connect metrics");
    let _control = std::os::unix::net::UnixStream::connect(dir.path().join("state/control.sock"))
        .expect("connect control");
    // The key was made for the service user only.
    assert_eq!(file_mode(&dir.path().join("state/web.key")), 0o600);
    // Past `shutdown_timeout` the daemon exits with an error instead.
    let (ok, log) = daemon.stop();
    assert!(ok, "the daemon did not exit cleanly within 5 s:\n{log}");
}

#[test]
fn the_operator_lists_unsubscribes_and_undoes_them() {
    use crate::support::cli::{feed_digest, stdout};
    let smtp = crate::support::smtp::SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = daemon_config(dir.path(), smtp.port);
    let list = |expect: &str| {
        let output = feed_digest(&config, &["subscribers", "list"], &[]);
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        assert!(text.contains(expect), "{text}");
    };
    list("alice@example.org: receiving");
    let output = feed_digest(&config, &["subscribers", "unsubscribe", "alice@example.org"], &[]);
    assert!(stdout(&output).contains("unsubscribed"), "{output:?}");
    list("unsubscribed since");
    list("by the operator");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    // `status` says it too, and what the web side serves.
    let table = stdout(&feed_digest(&config, &["status"], &[]));
    let alice = table
        .lines()
        .find(|l| l.starts_with("alice@example.org"))
        .unwrap_or_default();
    assert!(
        alice.contains("never")
            && alice.contains("unsubscribed since")
            && alice.contains("(by the operator)"),
        "{table}"
    );
    assert!(
        table.contains("readers' web endpoint: listening on 127.0.0.1:0, links at https://digest.example.org/; 0 archive pages"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&feed_digest(&config, &["status", "--json"], &[]))).expect("JSON");
    assert_eq!(json["subscribers"][0]["unsubscribed"]["by"], "operator");
    assert_eq!(json["subscribers"][0]["next_due"], serde_json::Value::Null);
    assert_eq!(json["web"]["base_url"], "https://digest.example.org/");
    let output = feed_digest(&config, &["send"], &[]);
    assert!(
        stdout(&output).contains("alice@example.org: unsubscribed since"),
        "{output:?}"
    );
    assert!(smtp.messages().is_empty());
    let output = feed_digest(&config, &["subscribers", "resubscribe", "alice@example.org"], &[]);
    assert!(stdout(&output).contains("subscribed again"), "{output:?}");
    list("alice@example.org: receiving");
    let output = feed_digest(
        &config,
        &["subscribers", "resubscribe", "nobody@example.org"],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a subscriber"));
    assert!(feed_digest(&config, &["send"], &[]).status.success());
    assert_eq!(smtp.messages().len(), 1);
    // That digest is an archive page now.
    let table = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(table.contains("; 1 archive page in "), "{table}");
    assert!(!table.contains("unsubscribed since"), "{table}");
}

/// A world whose reader gets at most `max_items` an issue, with `web` as
/// the `[web]` table (or none) and a feed of `items` items.
async fn busy_world(items: usize, max_items: usize, web: &str) -> World {
    let feeds = FeedServer::start().await;
    let entries: Vec<(String, String)> = (0..items)
        .map(|i| (format!("item-{i}"), format!("第 {i} 条新闻 story {i}")))
        .collect();
    let refs: Vec<(&str, &str, &str, Option<chrono::DateTime<chrono::Utc>>)> = entries
        .iter()
        .enumerate()
        .map(|(i, (guid, title))| {
            let at = chrono::Utc::now() - chrono::TimeDelta::minutes(i64::try_from(i).unwrap_or(0));
            (guid.as_str(), title.as_str(), "正文 body", Some(at))
        })
        .collect();
    feeds.set("/busy.xml", rss("Busy", &refs));
    let url = feeds.url("/busy.xml");
    let extra = format!("max_new_per_poll = 500\n[digest]\nmax_items = {max_items}\n{web}");
    let mut world = World::with_feeds(feeds, &[url], &extra).await;
    if let Some(web) = world.config.web.as_mut() {
        web.key = Some(create_key(&web.key_file).expect("key made"));
    }
    world.poll_ok().await;
    world
}

#[tokio::test]
async fn a_shortened_digest_links_its_archive_page_which_holds_every_article() {
    let world = busy_world(
        5,
        2,
        "[web]\nlisten = \"127.0.0.1:0\"\nbase_url = \"https://digest.example.org/news\"\n",
    )
    .await;
    assert_eq!(world.pending(READER), 5);
    assert!(matches!(
        world.send(READER).await,
        Ok(Delivered::Sent { articles: 5, .. })
    ));
    assert_eq!(
        world.pending(READER),
        0,
        "the whole digest is consumed, nothing waits"
    );
    let mail = world.mail_to(READER).pop().expect("a digest");
    let shown = (0..5)
        .filter(|i| mail.html.contains(&format!("第 {i} 条新闻")))
        .count();
    assert_eq!(shown, 2, "the mail carries max_items");
    assert!(
        mail.html.contains("3 more articles in the full digest"),
        "{}",
        mail.html
    );
    // (The plain text is wrapped at 72 columns: the link may start a line.)
    let text = mail.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("3 more articles in the full digest: https://digest.example.org/news/a/"),
        "{}",
        mail.text
    );
    let link = more_link(&mail.html);
    assert!(
        mail.html.contains("View in browser"),
        "the top links the page too"
    );
    // The endpoint serves the page at the link's path: every article.
    let (addr, cancel, server) = serve_on_port_0(&world, WebLimits::default()).await;
    let path = link.trim_start_matches("https://digest.example.org");
    let (status, page) = request(addr, "GET", path, "").await;
    assert_eq!(status, 200);
    for i in 0..5 {
        assert!(
            page.contains(&format!("第 {i} 条新闻")),
            "article {i} on the page"
        );
    }
    assert!(!page.contains("more articles in the full digest"));
    // A page that may be passed on names nobody and unsubscribes nobody.
    assert!(!page.contains(READER), "{page}");
    assert!(!page.contains("/news/u/"), "{page}");
    assert!(page.contains("The web copy of"), "{page}");
    // A name one digit off is nobody's page.
    let mut wrong = path.to_owned();
    let at = wrong.len() - ".html".len() - 1;
    let digit = if wrong.as_bytes()[at] == b'0' { "1" } else { "0" };
    wrong.replace_range(at..=at, digit);
    assert_eq!(request(addr, "GET", &wrong, "").await.0, 404);
    cancel.cancel();
    server.await.expect("server ends");
}

#[tokio::test]
async fn without_an_archive_what_waits_is_bounded_and_the_digest_says_so() {
    let world = busy_world(105, 1, "").await;
    assert_eq!(world.pending(READER), 105);
    let bound = feed_digest::deliver::waiting_bound(1);
    assert_eq!(bound, 100);
    assert!(matches!(
        world.send(READER).await,
        Ok(Delivered::Sent { articles: 1, .. })
    ));
    let mail = world.mail_to(READER).pop().expect("a digest");
    assert!(
        mail.html.contains("5 older articles were left out"),
        "the digest says what the bound did: {}",
        mail.html
    );
    assert!(mail.html.contains("99 more articles wait for the next digest"));
    assert_eq!(
        world.pending(READER),
        99,
        "one sent, five left out, the rest waits"
    );
    // The five left out were the oldest.
    let waiting = world.store.pending(READER).expect("pending");
    let titles: Vec<String> = waiting
        .iter()
        .filter_map(|id| world.store.article(id).expect("read"))
        .map(|a| a.title)
        .collect();
    for old in 100..105 {
        assert!(
            !titles.iter().any(|t| t.starts_with(&format!("第 {old} 条"))),
            "{old} left out"
        );
    }
}

#[tokio::test]
async fn without_the_endpoint_the_archive_is_files_another_web_server_can_serve() {
    let served = tempfile::tempdir().expect("temp dir");
    let dir = served.path().join("archive");
    let world = busy_world(
        3,
        2,
        &format!(
            "[web]\nbase_url = \"https://digest.example.org\"\narchive_dir = {:?}\n",
            dir.display().to_string()
        ),
    )
    .await;
    assert!(matches!(
        world.send(READER).await,
        Ok(Delivered::Sent { articles: 3, .. })
    ));
    let mail = world.mail_to(READER).pop().expect("a digest");
    let link = more_link(&mail.html)
        .strip_prefix("https://digest.example.org/a/")
        .expect("the more link names a page under base_url")
        .to_owned();
    // The page is the file the link names, whole, for any reader by name.
    let page = std::fs::read_to_string(dir.join(&link)).expect("the linked page is in archive_dir");
    for i in 0..3 {
        assert!(
            page.contains(&format!("第 {i} 条新闻")),
            "article {i} on the page"
        );
    }
    assert_eq!(file_mode(&dir.join(&link)), 0o644);
    assert_eq!(file_mode(&dir), 0o711, "a page by its name, no listing");
    // No endpoint answers them, so no signed unsubscribe link is advertised.
    assert!(!mail.html.contains("digest.example.org/u/"), "{}", mail.html);
}
