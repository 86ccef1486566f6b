//! The pipeline wired to real servers: a feed server, an SMTP server, a sled
//! store in a temp dir (or a PostgreSQL database: `World<PgStore>`), and the
//! library's own fetcher and mailer.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use feed_digest::config::Config;
use feed_digest::deliver::{self, DeliverError, Delivered};
use feed_digest::fetch::Fetcher;
use feed_digest::mail::Mailer;
use feed_digest::poll::{self, FeedOutcome};
use feed_digest::service;
use feed_digest::store::postgres::PgStore;
use feed_digest::store::{Backend, Store};

use super::http::FeedServer;
use super::smtp::SmtpServer;
use super::{Mail, decode};

pub struct World<S = Store> {
    pub feeds: FeedServer,
    pub smtp: SmtpServer,
    pub config: Config,
    pub store: S,
    pub fetcher: Fetcher,
    pub mailer: Mailer,
    pub dir: tempfile::TempDir,
}

/// The top of a test config: a state dir, every item new on the first poll,
/// `extra`, and the test's SMTP server; feeds and subscribers follow.
pub fn config_top(smtp_port: u16, extra: &str) -> String {
    format!(
        r#"
state_dir = "state"
first_poll_window = "all"
{extra}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Digest <digest@example.org>"
"#
    )
}

impl World {
    /// Starts the servers; `config` writes the TOML from the SMTP port and the feed server.
    pub async fn start(config: impl FnOnce(u16, &FeedServer) -> String) -> World {
        World::start_on(FeedServer::start().await, config).await
    }

    /// [`World::start`] with a feed server of the test's own.
    pub async fn start_on(feeds: FeedServer, config: impl FnOnce(u16, &FeedServer) -> String) -> World {
        World::assemble(feeds, config, |config| async move {
            Store::open(&config.state_dir).expect("open store")
        })
        .await
    }

    /// A world on `server` with `feeds` (URLs), `extra` at the top of the
    /// config, every item new on the first poll and one subscriber for all.
    pub async fn with_feeds(server: FeedServer, feeds: &[String], extra: &str) -> World {
        let feeds: String = feeds
            .iter()
            .map(|url| format!("[[feeds]]\nurl = \"{url}\"\n"))
            .collect();
        World::start_on(server, |port, _| {
            format!(
                "{}{feeds}\n[[subscribers]]\nemail = \"all@example.org\"\n",
                config_top(port, extra)
            )
        })
        .await
    }
}

impl World<PgStore> {
    /// A world whose store is the database `cluster` serves.
    pub async fn start_pg(
        cluster: &super::postgres::Cluster,
        config: impl FnOnce(u16, &FeedServer) -> String,
    ) -> World<PgStore> {
        let (url, password) = (cluster.url("postgres"), cluster.password());
        World::assemble(FeedServer::start().await, config, |_| async move {
            PgStore::connect(&url, Some(&password))
                .await
                .unwrap_or_else(|err| panic!("connect: {err}"))
        })
        .await
    }
}

impl<S: Backend> World<S> {
    /// The SMTP server, the config `config` writes, the store `open` makes
    /// of it, the config's subscribers registered, the fetcher and mailer.
    async fn assemble<F: std::future::Future<Output = S>>(
        feeds: FeedServer,
        config: impl FnOnce(u16, &FeedServer) -> String,
        open: impl FnOnce(Config) -> F,
    ) -> World<S> {
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = super::config(&config(smtp.port, &feeds), dir.path());
        let store = open(config.clone()).await;
        service::register_subscribers(&config, &store)
            .await
            .expect("register subscribers");
        World {
            fetcher: Fetcher::new(&config.fetch).expect("fetcher"),
            mailer: Mailer::new(&config.delivery).expect("mailer"),
            feeds,
            smtp,
            config,
            store,
            dir,
        }
    }

    /// One poll of every feed: each feed's outcome, or its error as text.
    pub async fn poll(&self) -> Vec<Result<FeedOutcome, String>> {
        poll::poll_all(
            &self.config,
            &self.store,
            &self.fetcher,
            &CancellationToken::new(),
        )
        .await
        .expect("poll stored")
        .into_iter()
        .map(|r| r.result.map_err(|e| e.to_string()))
        .collect()
    }

    /// `feed-digest poll --force`: also feeds in backoff or gone.
    pub async fn poll_forced(&self) -> Vec<Result<FeedOutcome, String>> {
        let cancel = CancellationToken::new();
        poll::poll_with_progress(
            &self.config,
            &self.store,
            &self.fetcher,
            &cancel,
            poll::Scope::All { force: true },
            &mut |_, _| {},
        )
        .await
        .expect("poll stored")
        .into_iter()
        .map(|r| r.result.map_err(|e| e.to_string()))
        .collect()
    }

    /// The daemon's poll: only the feeds whose next-poll time has come.
    pub async fn poll_due(&self) -> Vec<(String, Result<FeedOutcome, String>)> {
        poll::poll_with_progress(
            &self.config,
            &self.store,
            &self.fetcher,
            &CancellationToken::new(),
            poll::Scope::Due,
            &mut |_, _| {},
        )
        .await
        .expect("poll stored")
        .into_iter()
        .map(|r| (r.feed_key, r.result.map_err(|e| e.to_string())))
        .collect()
    }

    /// How many articles wait for `email`, through the seam.
    pub async fn waiting(&self, email: &str) -> usize {
        feed_digest::store::Delivery::pending(&self.store, email)
            .await
            .map(|p| p.len())
            .unwrap_or(usize::MAX)
    }
}

impl World<Store> {
    /// The stored state of the feed at `url`.
    pub fn feed_state(&self, url: &str) -> feed_digest::feed_state::FeedState {
        self.store
            .feed_state(url)
            .expect("read feed state")
            .unwrap_or_else(|| panic!("no state for {url}"))
    }
}

impl<S: Backend> World<S> {
    /// [`World::poll`] where every feed must succeed.
    pub async fn poll_ok(&self) -> Vec<FeedOutcome> {
        self.poll()
            .await
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    pub async fn send(&self, email: &str) -> Result<Delivered, DeliverError> {
        let subscriber = self.config.subscriber(email).expect("subscriber exists");
        deliver::deliver(
            &self.config,
            &self.store,
            &self.mailer,
            subscriber,
            &feed_digest::meaning::Meaning::new(&self.config),
            Utc::now(),
        )
        .await
    }

    /// Every message the SMTP server accepted for `email`, decoded.
    pub fn mail_to(&self, email: &str) -> Vec<Mail> {
        self.smtp
            .messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == email))
            .map(|m| decode(&m.data))
            .collect()
    }
}

impl World<Store> {
    pub fn pending(&self, email: &str) -> usize {
        self.store.pending(email).map(|p| p.len()).unwrap_or(usize::MAX)
    }
}
