//! The binary as a user and systemd run it: exit codes, a crash between the
//! server's 2xx and the commit, and the daemon's catch-up and clean SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::Utc;

use feed_digest::store::Store;

use crate::support::decode;
use crate::support::smtp::SmtpServer;

const BIN: &str = env!("CARGO_BIN_EXE_feed-digest");

fn demo_feeds(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    for name in ["world-zh.xml", "tech-en.atom"] {
        std::fs::copy(source.join(name), dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn write_config(dir: &Path, smtp_port: u16, schedule: &str) -> std::path::PathBuf {
    demo_feeds(dir);
    let path = dir.join("config.toml");
    let text = format!(
        r#"
state_dir = "state"
first_poll_window = "all"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Digest <digest@example.org>"
[[feeds]]
url = "world-zh.xml"
[[feeds]]
url = "tech-en.atom"
[[subscribers]]
email = "alice@example.org"
schedule = "{schedule}"
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn feed_digest(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("FEED_DIGEST_FAULT");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run feed-digest")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn invalid_config_exits_78_and_names_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), 25, "07:00");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("07:00", "25:99");
    std::fs::write(&path, text).expect("write");
    for command in ["check", "poll", "run"] {
        let output = feed_digest(&path, &[command], &[]);
        assert_eq!(output.status.code(), Some(78), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("subscribers[0] (alice@example.org).schedule"),
            "{stderr}"
        );
        assert!(stderr.contains("config.toml"), "{stderr}");
    }
}

#[test]
fn the_log_filter_variable_is_not_a_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), 25, "07:00");
    let output = feed_digest(&path, &["check"], &[("FEED_DIGEST_LOG", "debug")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_crash_after_smtp_acceptance_resends_the_same_message_and_nothing_else() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());

    let crashed = feed_digest(&config, &["send"], &[("FEED_DIGEST_FAULT", "after-send")]);
    assert!(!crashed.status.success(), "the fault point must kill the process");
    let first = smtp.messages();
    assert_eq!(first.len(), 1, "the server accepted the message before the crash");

    let status = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(status.contains("a digest awaits resending"), "{status}");

    let resent = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(resent.contains("alice@example.org: resent"), "{resent}");
    let again = stdout(&feed_digest(&config, &["send"], &[]));
    assert!(again.contains("nothing pending"), "{again}");

    let all = smtp.messages();
    assert_eq!(all.len(), 2, "exactly one resend, nothing else");
    assert_eq!(all[0].data, all[1].data, "the resend is the very same message");
    let mail = decode(&all[1].data);
    assert!(mail.message_id.starts_with("digest."), "{}", mail.message_id);
    assert!(mail.text.contains("朝鲜"), "Chinese survives: {}", mail.text);
}

#[test]
fn the_daemon_catches_up_with_one_digest_and_stops_cleanly_on_sigterm() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());

    // The daemon was down for three days: three 07:00 slots were missed.
    {
        let store = Store::open(&dir.path().join("state")).expect("open store");
        let mut state = store
            .ensure_subscriber("alice@example.org", Utc::now())
            .expect("state");
        state.added_at = Utc::now() - chrono::Duration::days(3);
        state.last_slot = Some(state.added_at);
        store
            .put_subscriber_state("alice@example.org", &state)
            .expect("write state");
    }

    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let daemon = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");

    let mut buf = [0u8; 512];
    let mut next_message = || {
        let n = notify.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(buf[..n].trim_ascii()).into_owned()
    };
    assert_eq!(
        next_message(),
        "READY=1",
        "READY comes first, once the store is open"
    );
    let status = next_message();
    assert!(
        status.starts_with("STATUS=polling 2 feeds for 1 subscribers"),
        "{status}"
    );
    assert!(
        status.contains("next digest") && status.contains("alice@…"),
        "{status}"
    );
    // The watchdog (WATCHDOG_USEC=0.2 s) pings after a store read; more
    // STATUS lines (the next digest moving on) may come first.
    let mut after_status = next_message();
    while after_status.starts_with("STATUS=") {
        after_status = next_message();
    }
    assert_eq!(after_status, "WATCHDOG=1");
    let messages = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(messages.len(), 1, "one catch-up digest");

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let output = daemon.wait_with_output().expect("daemon exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}\n{stderr}",
        output.status
    );
    let mut saw_stopping = false;
    notify.set_nonblocking(true).expect("nonblocking");
    while let Ok(n) = notify.recv(&mut buf) {
        saw_stopping |= buf[..n].trim_ascii() == b"STOPPING=1";
    }
    assert!(saw_stopping, "STOPPING=1 is sent on SIGTERM");
    assert_eq!(
        smtp.messages().len(),
        1,
        "three missed slots make one digest, not three"
    );
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_invalid() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let daemon = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut buf = [0u8; 512];
    let mut wait_for = |prefix: &str| loop {
        let n = notify.recv(&mut buf).expect("a notification arrives");
        let message = String::from_utf8_lossy(buf[..n].trim_ascii()).into_owned();
        if message.starts_with(prefix) {
            return message;
        }
    };
    assert!(wait_for("STATUS=").contains("for 1 subscribers"));
    let hup = || {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(daemon.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    };

    // A new subscriber: taken without a restart.
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(
        &config,
        format!("{text}\n[[subscribers]]\nemail = \"bob@example.org\"\n"),
    )
    .expect("write");
    hup();
    assert_eq!(wait_for("RELOADING=1"), "RELOADING=1");
    assert!(wait_for("STATUS=").contains("for 2 subscribers"));

    // An invalid config: rejected, the running one stays.
    std::fs::write(&config, "this is = not [valid").expect("write");
    hup();
    wait_for("RELOADING=1");
    assert!(
        wait_for("STATUS=").contains("for 2 subscribers"),
        "the old config keeps running"
    );

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let output = daemon.wait_with_output().expect("daemon exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("config reload rejected, keeping the running config"),
        "{stderr}"
    );
    assert!(
        stderr.contains("config.toml:1:"),
        "the rejection names the file and line: {stderr}"
    );
}

#[test]
fn status_shows_a_table_and_json_for_scripts() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    assert!(feed_digest(&config, &["send"], &[]).status.success());
    let table = stdout(&feed_digest(&config, &["status"], &[]));
    assert!(table.starts_with("FEED"), "{table}");
    assert!(
        table.contains("SUBSCRIBER") && table.contains("alice@example.org"),
        "{table}"
    );
    let json = stdout(&feed_digest(&config, &["status", "--json"], &[]));
    let report: serde_json::Value = serde_json::from_str(&json).expect("status --json is JSON");
    assert_eq!(report["feeds"][0]["state"], "ok", "{json}");
    assert!(
        report["feeds"][0]["items_known"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
    assert_eq!(report["subscribers"][0]["email"], "alice@example.org");
    assert_eq!(report["subscribers"][0]["pending"], 0);
    assert!(report["subscribers"][0]["last_sent"].is_string(), "{json}");
}

#[test]
fn check_connect_reports_what_works() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let output = feed_digest(&config, &["check", "--connect"], &[]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("delivery: OK") && out.contains("OK, 4 items") && out.contains("OK, 3 items"),
        "{out}"
    );

    // Nothing listens on the relay's port any more: exit 75, and the feeds still checked.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = write_config(dir.path(), closed, "07:00");
    let output = feed_digest(&config, &["check", "--connect"], &[]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(75), "{out}");
    assert!(
        out.contains("delivery: FAILED") && out.contains("OK, 4 items"),
        "{out}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let run = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().expect("run");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(run(&["completions", "bash"]).contains("feed-digest"));
    assert!(run(&["completions", "zsh"]).contains("#compdef feed-digest"));
    let man = run(&["man"]);
    assert!(
        man.contains(".TH feed-digest") && man.contains("preview"),
        "{man}"
    );
    assert!(run(&["--version"]).starts_with("feed-digest "));
}

#[test]
fn sigterm_in_the_middle_of_a_send_finishes_it_and_exits_cleanly() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    assert!(feed_digest(&config, &["poll"], &[]).status.success());
    {
        // A missed slot, so the daemon sends at once.
        let store = Store::open(&dir.path().join("state")).expect("open store");
        let mut state = store
            .ensure_subscriber("alice@example.org", Utc::now())
            .expect("state");
        state.added_at = Utc::now() - chrono::Duration::days(1);
        state.last_slot = Some(state.added_at);
        store
            .put_subscriber_state("alice@example.org", &state)
            .expect("write state");
    }
    smtp.hold(true);
    let mut daemon = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    // The daemon's log, line by line, so the test can wait for what it says.
    let stderr = daemon.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    assert!(
        smtp.wait_until_held(Duration::from_secs(30)),
        "the daemon starts sending"
    );
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("SIGTERM received")) {
        log.push(
            lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the daemon logs the SIGTERM"),
        );
    }
    // SIGTERM arrived mid-send. The send is finished, not cut: the server now answers 250.
    smtp.hold(false);
    let status = daemon.wait().expect("daemon exits");
    let _ = reader.join();
    log.extend(lines.try_iter());
    assert!(status.success(), "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("digest sent")),
        "{}",
        log.join("\n")
    );
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
    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let daemon = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY");
    assert_eq!(buf[..n].trim_ascii(), b"READY=1");
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

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let output = daemon.wait_with_output().expect("daemon exits");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!control.exists(), "the socket goes with the daemon");
    // And without the daemon, the same commands open the store themselves.
    assert!(stdout(&feed_digest(&config, &["store", "check"], &[])).contains("store OK"));
}

#[test]
fn opml_from_other_readers_round_trips_through_the_config() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opml");
    for name in [
        "feedly-style.opml",
        "netnewswire-style.opml",
        "inoreader-style.opml",
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let original_text = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
        let original = feed_digest::opml::parse(&original_text).expect("fixture parses");
        assert!(original.len() >= 2, "{name}");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "state_dir = \"state\"\n[delivery]\ntransport = \"file\"\ndir = \"mail\"\n\n[[feeds]]\nurl = \"https://already.example.org/rss\"\n",
        )
        .expect("write config");
        let opml = fixtures.join(name);
        let opml = opml.to_str().expect("utf-8 path");
        let into = config.to_str().expect("utf-8 path");
        let imported = Command::new(BIN)
            .args(["opml", "import", opml, "--into", into])
            .output()
            .expect("run");
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        // A second import adds nothing.
        let again = stdout(
            &Command::new(BIN)
                .args(["opml", "import", opml, "--into", into])
                .output()
                .expect("run"),
        );
        assert!(again.starts_with("0 feeds added"), "{again}");
        assert!(
            feed_digest(&config, &["check"], &[]).status.success(),
            "the imported config is valid"
        );
        let exported = stdout(&feed_digest(&config, &["opml", "export"], &[]));
        let back = feed_digest::opml::parse(&exported).expect("our export parses");
        for feed in &original {
            assert!(back.contains(feed), "{name}: {feed:?} lost in\n{exported}");
        }
        assert_eq!(
            back.len(),
            original.len() + 1,
            "{name}: the feed already configured is exported too"
        );
    }
}

#[test]
fn the_daemon_serves_prometheus_metrics_when_asked() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), smtp.port, "07:00");
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(&config, format!("metrics_listen = \"127.0.0.1:0\"\n{text}")).expect("write config");
    let mut daemon = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_remove("FEED_DIGEST_FAULT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let stderr = daemon.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The daemon binds port 0 and says which port it got.
    let address = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the daemon logs its metrics address");
        if let Some(rest) = line.split("metrics listening on http://").nth(1) {
            break rest.trim_end_matches("/metrics").to_owned();
        }
    };
    // The daemon says when its first poll is done.
    while !lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon logs its poll")
        .contains("poll done")
    {}
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
    ] {
        assert!(
            response.contains(expected),
            "{expected:?} missing from\n{response}"
        );
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(daemon.wait().expect("exit").success());
    let _ = reader.join();
}
