//! Running the binary: a config on the bundled sample feeds, one-shot
//! commands, and a daemon whose notifications and log the test can follow.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_feed-digest");

fn demo_feeds(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    for name in ["world-zh.xml", "tech-en.atom"] {
        std::fs::copy(source.join(name), dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

pub fn write_config(dir: &Path, smtp_port: u16, schedule: &str) -> PathBuf {
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

pub fn feed_digest(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
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

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `feed-digest run`, with its notify socket and log lines.
pub struct Daemon {
    pub child: Child,
    notify: Option<UnixDatagram>,
    /// The daemon's standard error, line by line.
    pub log: Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts the daemon; with `notify_dir`, it gets a `NOTIFY_SOCKET` there.
    pub fn start(config: &Path, notify_dir: Option<&Path>, env: &[(&str, &str)]) -> Daemon {
        let notify = notify_dir.map(|dir| {
            let socket = UnixDatagram::bind(dir.join("notify.sock")).expect("bind notify socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("timeout");
            socket
        });
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("FEED_DIGEST_FAULT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = notify_dir {
            command.env("NOTIFY_SOCKET", dir.join("notify.sock"));
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the daemon");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines_tx, log) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        Daemon {
            child,
            notify,
            log,
            reader: Some(reader),
        }
    }

    /// The next systemd notification, trimmed.
    pub fn notification(&self) -> String {
        let socket = self.notify.as_ref().expect("started with a notify socket");
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(buf[..n].trim_ascii()).into_owned()
    }

    /// Notifications until one starts with `prefix`; returns it.
    pub fn wait_for_notification(&self, prefix: &str) -> String {
        loop {
            let message = self.notification();
            if message.starts_with(prefix) {
                return message;
            }
        }
    }

    /// Log lines until one contains `text`; returns it.
    pub fn wait_for_log(&self, text: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(30))
                .expect("the daemon logs it");
            if line.contains(text) {
                return line;
            }
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM (unless it already exited), then waits: returns whether it
    /// exited 0 and the rest of its log.
    pub fn stop(mut self) -> (bool, String) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        let status = self.child.wait().expect("the daemon exits");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let rest: Vec<String> = self.log.try_iter().collect();
        (status.success(), rest.join("\n"))
    }
}
