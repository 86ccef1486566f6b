//! `feed-digest run` as systemd runs it: notifications in order, catch-up,
//! SIGHUP reload, SIGTERM in the middle of a send, the control socket, metrics.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use feed_digest::store::Store;

use crate::support::cli::{Daemon, feed_digest, stdout, write_config};
use crate::support::smtp::SmtpServer;

/// Makes the subscriber's last slot `days` ago, so a digest is due at once.
fn missed_slots(state_dir: &Path, days: i64) {
    let store = Store::open(state_dir).expect("open store");
    let mut state = store
        .register_subscriber(
            "alice@example.org",
            &feed_digest::subscriber::SubscriberState::new(Utc::now()),
        )
        .expect("state");
    state.added_at = Utc::now() - chrono::Duration::days(days);
    state.last_slot = Some(state.added_at);
    store
        .put_subscriber_state("alice@example.org", &state)
        .expect("write state");
}

#[test]
fn the_daemon_catches_up_with_one_digest_and_stops_cleanly_on_sigterm() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    // The daemon was down for three days: three 07:00 slots were missed.
    missed_slots(&dir.path().join("state"), 3);

    let daemon = Daemon::start(&config, Some(dir.path()), &[("WATCHDOG_USEC", "200000")]);
    assert_eq!(
        daemon.notification(),
        "READY=1",
        "READY comes first, once the store is open"
    );
    let status = daemon.notification();
    assert!(
        status.starts_with("STATUS=polling 2 feeds for 1 subscriber;"),
        "{status}"
    );
    assert!(
        status.contains("next digest") && status.contains("alice@…"),
        "{status}"
    );
    // The watchdog (WATCHDOG_USEC=0.2 s) pings after a store read; more
    // STATUS lines (the next digest moving on) may come first.
    assert_eq!(daemon.wait_for_notification("WATCHDOG"), "WATCHDOG=1");

    let messages = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(messages.len(), 1, "one catch-up digest");
    let (clean, log) = daemon_stop_with_notifications(daemon);
    assert!(clean.0, "{log}");
    assert!(clean.1, "STOPPING=1 is sent on SIGTERM");
    assert_eq!(
        smtp.messages().len(),
        1,
        "three missed slots make one digest, not three"
    );
    // The scheduler's own start-up chatter stays out of the log.
    assert!(log.contains("digest sent"), "{log}");
    assert!(
        !log.contains("Uninited") && !log.contains("Job creator created"),
        "{log}"
    );
}

/// Stops the daemon; returns (exited 0, sent STOPPING=1) and its log.
fn daemon_stop_with_notifications(daemon: Daemon) -> ((bool, bool), String) {
    daemon.signal("-TERM");
    let mut stopping = false;
    // STOPPING comes before the exit; read until it (or time out).
    for _ in 0..1000 {
        let message = daemon.notification();
        if message == "STOPPING=1" {
            stopping = true;
            break;
        }
    }
    let (clean, log) = daemon.stop();
    ((clean, stopping), log)
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_invalid() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let daemon = Daemon::start(&config, Some(dir.path()), &[]);
    assert!(
        daemon
            .wait_for_notification("STATUS=")
            .contains("for 1 subscriber;")
    );

    // A new subscriber: taken without a restart.
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(
        &config,
        format!("{text}\n[[subscribers]]\nemail = \"bob@example.org\"\n"),
    )
    .expect("write");
    daemon.signal("-HUP");
    assert_eq!(daemon.wait_for_notification("RELOADING=1"), "RELOADING=1");
    assert!(
        daemon
            .wait_for_notification("STATUS=")
            .contains("for 2 subscribers")
    );

    // An invalid config: rejected, the running one stays.
    std::fs::write(&config, "this is = not [valid").expect("write");
    daemon.signal("-HUP");
    daemon.wait_for_notification("RELOADING=1");
    assert!(
        daemon
            .wait_for_notification("STATUS=")
            .contains("for 2 subscribers"),
        "the old config keeps running"
    );
    let rejected = daemon.wait_for_log("config reload rejected, keeping the running config");
    assert!(
        rejected.contains("config.toml:1:"),
        "the rejection names the file and line: {rejected}"
    );

    let (clean, log) = daemon.stop();
    assert!(clean, "{log}");
}

#[test]
fn sigterm_in_the_middle_of_a_send_finishes_it_and_exits_cleanly() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    missed_slots(&dir.path().join("state"), 1);
    smtp.hold(true);
    let daemon = Daemon::start(&config, None, &[]);
    assert!(
        smtp.wait_until_held(Duration::from_secs(30)),
        "the daemon starts sending"
    );
    daemon.signal("-TERM");
    daemon.wait_for_log("SIGTERM received");
    // SIGTERM arrived mid-send. The send is finished, not cut: the server now answers 250.
    smtp.hold(false);
    let (clean, log) = daemon.stop();
    assert!(clean, "{log}");
    assert!(log.contains("digest sent"), "{log}");
    assert_eq!(smtp.messages().len(), 1);
    // Committed before exit: nothing pending, nothing to resend.
    let again = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(again.contains("alice@example.org: nothing pending"), "{again}");
    assert_eq!(smtp.messages().len(), 1);
}

#[test]
fn commands_talk_to_the_running_daemon_over_its_control_socket() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let daemon = Daemon::start(&config, Some(dir.path()), &[]);
    assert_eq!(daemon.notification(), "READY=1");
    let control = dir.path().join("state/control.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&control).expect("socket").permissions());
    assert_eq!(mode & 0o777, 0o600, "the service user only");

    // The daemon holds the store; every command still works, through it.
    let poll = feed_digest(&config, &["poll"], &[]);
    assert!(poll.status.success(), "{}", String::from_utf8_lossy(&poll.stderr));
    assert!(
        stdout(&poll).contains("2 feeds polled, 0 failed"),
        "{}",
        stdout(&poll)
    );
    let preview = stdout(&feed_digest(
        &config,
        &["preview", "--subscriber", "alice@example.org"],
        &[],
    ));
    assert!(preview.contains("<html") && preview.contains("朝鲜"), "{preview}");
    let json = stdout(&feed_digest(&config, &["status", "--json"], &[]));
    let report: serde_json::Value = serde_json::from_str(&json).expect("status --json through the socket");
    assert!(
        report["subscribers"][0]["pending"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{json}"
    );
    let sent = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(sent.contains("alice@example.org: sent"), "{sent}");
    assert_eq!(smtp.messages().len(), 1);
    assert!(stdout(&feed_digest(&config, &["store", "check"], &[])).contains("store OK"));
    let export = stdout(&feed_digest(&config, &["store", "export"], &[]));
    assert!(
        export.lines().count() > 5 && export.starts_with("{\"tree\":\"meta\""),
        "{export}"
    );

    let (clean, log) = daemon.stop();
    assert!(clean, "{log}");
    assert!(!control.exists(), "the socket goes with the daemon");
    // And without the daemon, the same commands open the store themselves.
    assert!(stdout(&feed_digest(&config, &["store", "check"], &[])).contains("store OK"));
}

#[test]
fn the_daemon_serves_prometheus_metrics_when_asked() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(&config, format!("metrics_listen = \"127.0.0.1:0\"\n{text}")).expect("write config");
    let daemon = Daemon::start(&config, None, &[]);
    // The daemon binds port 0 and says which port it got.
    let line = daemon.wait_for_log("metrics listening on http://");
    let address = line
        .split("metrics listening on http://")
        .nth(1)
        .map(|rest| rest.trim_end_matches("/metrics").to_owned())
        .expect("an address");
    daemon.wait_for_log("poll done");
    let mut stream = std::net::TcpStream::connect(&address).expect("connect to the metrics port");
    std::io::Write::write_all(&mut stream, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    for expected in [
        "feed_digest_polls_total 1",
        "feed_digest_articles_ingested_total 7",
        "feed_digest_feeds{state=\"ok\"} 2",
        "feed_digest_pending_articles{subscriber=\"alice@example.org\"} 7",
        "# TYPE feed_digest_digests_sent_total counter",
        // sled: one process, no leases; the daemon names itself.
        "feed_digest_leases_held{kind=\"feed\"} 0",
        // host:pid:tag
        &format!(":{}:", daemon.child.id()),
    ] {
        assert!(
            response.contains(expected),
            "{expected:?} missing from\n{response}"
        );
    }
    assert!(
        response.contains("feed_digest_instance_info{holder=\""),
        "{response}"
    );
    let (clean, log) = daemon.stop();
    assert!(clean, "{log}");
}
