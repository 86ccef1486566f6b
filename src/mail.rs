//! Composing the MIME message and handing it to a transport: SMTP (lettre,
//! pooled, STARTTLS/TLS/plain, AUTH) or a folder of `.eml` files.
//!
//! A composed message is plain bytes kept in the outbox, so a resend after a
//! crash is byte-for-byte the same message with the same Message-ID.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::article::ArticleId;
use crate::config::{Delivery, SmtpSecurity, SmtpSettings};
use crate::digest::render::Rendered;
use crate::outbox::OutboxEntry;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot read the SMTP CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("SMTP TLS setup for {host} failed: {source}")]
    Tls {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("cannot build the message for {recipient}: {source}")]
    Build {
        recipient: String,
        #[source]
        source: lettre::error::Error,
    },
    #[error("the composed message for {recipient} is not ASCII")]
    NotAscii { recipient: String },
}

/// Why a send failed, and whether the message might have arrived anyway.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server answered with an error code: the message was not accepted.
    #[error("the SMTP server refused the message: {0}")]
    Refused(String),
    /// No connection was made (refused, no route): nothing was sent.
    #[error(
        "cannot connect to the SMTP relay {relay}: {reason}; nothing was sent \
         (is the relay running and listening there? check [smtp] host and port)"
    )]
    NotConnected { relay: String, reason: String },
    /// The connection failed somewhere: the message may or may not have arrived.
    #[error("SMTP delivery failed, outcome unknown: {0}")]
    Uncertain(String),
    #[error("cannot write {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SendError {
    /// True when the message certainly did not arrive, so its articles may go
    /// into a freshly built digest; otherwise the same message must be resent.
    pub fn certainly_not_delivered(&self) -> bool {
        // Not `NotConnected`: this attempt sent nothing, but the outbox entry
        // may be a resend of one whose fate is unknown; it stays for the next.
        matches!(self, SendError::Refused(_) | SendError::File { .. })
    }
}

/// Headers lettre does not define: `Auto-Submitted`, `List-Unsubscribe`.
macro_rules! raw_header {
    ($type:ident, $name:literal) => {
        #[derive(Clone)]
        struct $type(String);
        impl Header for $type {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($type(s.to_owned()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

raw_header!(AutoSubmitted, "Auto-Submitted");
raw_header!(Precedence, "Precedence");
raw_header!(ListId, "List-Id");
raw_header!(ListUnsubscribe, "List-Unsubscribe");
raw_header!(ListUnsubscribePost, "List-Unsubscribe-Post");

/// A Message-ID derived from the digest's contents: the same recipient and
/// articles always give the same id, so receivers can fold a resend.
pub fn message_id(from: &Mailbox, recipient: &str, article_ids: &[ArticleId]) -> String {
    let mut sorted: Vec<&str> = article_ids.iter().map(ArticleId::as_str).collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(recipient.to_lowercase().as_bytes());
    for id in sorted {
        hasher.update([0]);
        hasher.update(id.as_bytes());
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<digest.{hex}@{}>", ascii_domain(from))
}

/// The sender's domain as headers that take no encoded words need it:
/// `例子.中国` as `xn--fsqu00a.xn--fiqs8s` (a msg-id or a list id cannot
/// carry RFC 2047 words, which lettre would make of the Unicode form).
fn ascii_domain(from: &Mailbox) -> String {
    let domain = from.email.domain();
    match url::Host::parse(domain) {
        Ok(url::Host::Domain(ascii)) => ascii,
        _ => domain.to_owned(),
    }
}

/// Builds the `multipart/alternative` message and returns its outbox entry.
pub fn compose(
    from: &Mailbox,
    to: &Mailbox,
    rendered: &Rendered,
    article_ids: Vec<ArticleId>,
    unsubscribe: &[Url],
    now: DateTime<Utc>,
) -> Result<OutboxEntry, MailError> {
    let recipient = to.email.to_string();
    let id = message_id(from, &recipient, &article_ids);
    let mut builder = Message::builder()
        .from(one_line_mailbox(from))
        .to(one_line_mailbox(to))
        .subject(rendered.subject.clone())
        .date(now.into())
        .message_id(Some(id.clone()))
        .header(AutoSubmitted("auto-generated".to_owned()))
        .header(Precedence("bulk".to_owned()))
        // RFC 2919: a stable identifier of this digest; clients filter on it.
        .header(ListId(format!("<feed-digest.{}>", ascii_domain(from))));
    if !unsubscribe.is_empty() {
        let list: Vec<String> = unsubscribe.iter().map(|u| format!("<{u}>")).collect();
        builder = builder.header(ListUnsubscribe(list.join(", ")));
        // RFC 8058 one-click unsubscribe needs an https address to POST to.
        if unsubscribe.iter().any(|u| u.scheme() == "https") {
            builder = builder.header(ListUnsubscribePost("List-Unsubscribe=One-Click".to_owned()));
        }
    }
    let body = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                // Wrapped here, not in the template: excerpts and titles are
                // long single lines there, and the HTML part needs no wrap.
                .body(crate::text::wrap(&rendered.text, 72)),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(rendered.html.clone()),
        );
    let message = builder.multipart(body).map_err(|source| MailError::Build {
        recipient: recipient.clone(),
        source,
    })?;
    let message = String::from_utf8(message.formatted()).map_err(|_| MailError::NotAscii { recipient })?;
    Ok(OutboxEntry {
        message_id: id,
        article_ids,
        created_at: now,
        message,
        html: rendered.html.clone(),
        dropped: Vec::new(),
    })
}

/// A display name with line breaks or control characters would make lettre
/// fail (and could inject headers): fold it to one clean line.
fn one_line_mailbox(mailbox: &Mailbox) -> Mailbox {
    let name = mailbox
        .name
        .as_deref()
        .map(crate::text::one_line)
        .filter(|name| !name.is_empty());
    Mailbox::new(name, mailbox.email.clone())
}

/// A whole send may take this many `[smtp] timeout`s (connection, TLS,
/// AUTH, the message, the relay's checks before its reply).
const SEND_TIMEOUTS: u32 = 3;

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for messages.
        relay: String,
        /// How long a whole send may take: lettre's own timeout bounds the
        /// connection only, and a relay that stops answering after DATA
        /// would hold the round (every other subscriber, every poll).
        send_within: std::time::Duration,
    },
    File(PathBuf),
}

/// A lettre error that happened before any connection existed: the relay
/// refused it or could not be reached, so no byte of a message was sent.
/// (A timeout is not one: it may come after DATA.)
fn never_connected(err: &lettre::transport::smtp::Error) -> Option<String> {
    use std::error::Error as _;
    use std::io::ErrorKind;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
            )
        {
            return Some(io.to_string());
        }
        source = cause.source();
    }
    None
}

/// Sorts a lettre error: refused by the server, never connected, or unknown.
/// Refused only by a reply code: lettre's other "response" errors (the
/// connection closed before the reply, a reply it cannot parse) may come
/// after the final dot, when the relay may have queued the message.
fn classify(err: lettre::transport::smtp::Error, relay: &str) -> SendError {
    if err.status().is_some() {
        SendError::Refused(err.to_string())
    } else if let Some(reason) = never_connected(&err) {
        SendError::NotConnected {
            relay: relay.to_owned(),
            reason,
        }
    } else {
        SendError::Uncertain(err.to_string())
    }
}

impl Mailer {
    pub fn new(delivery: &Delivery) -> Result<Mailer, MailError> {
        match delivery {
            Delivery::File { dir } => Ok(Mailer::File(dir.clone())),
            Delivery::Smtp(settings) => Ok(Mailer::Smtp {
                transport: smtp_transport(settings)?,
                relay: format!("{}:{}", settings.host, settings.port),
                send_within: settings.timeout.saturating_mul(SEND_TIMEOUTS),
            }),
        }
    }

    pub async fn send(&self, from: &Address, to: &Address, entry: &OutboxEntry) -> Result<(), SendError> {
        match self {
            Mailer::Smtp {
                transport,
                relay,
                send_within,
            } => {
                let envelope = lettre::address::Envelope::new(Some(from.clone()), vec![to.clone()])
                    .map_err(|err| SendError::Refused(err.to_string()))?;
                // Cut short, the message may have arrived: uncertain, so the
                // same bytes go again, never a rebuilt digest.
                match tokio::time::timeout(
                    *send_within,
                    transport.send_raw(&envelope, entry.message.as_bytes()),
                )
                .await
                {
                    Ok(sent) => sent.map(|_| ()).map_err(|err| classify(err, relay)),
                    Err(_) => Err(SendError::Uncertain(format!(
                        "{relay} did not finish the send within {}",
                        humantime::format_duration(*send_within)
                    ))),
                }
            }
            Mailer::File(dir) => write_files(dir, to, entry).await,
        }
    }

    /// Opens a connection (TLS and AUTH included) to prove the relay works.
    pub async fn test_connection(&self) -> Result<(), SendError> {
        match self {
            Mailer::Smtp {
                transport,
                relay,
                send_within,
            } => match tokio::time::timeout(*send_within, transport.test_connection()).await {
                Err(_) => Err(SendError::Uncertain(format!(
                    "{relay} did not answer within {}",
                    humantime::format_duration(*send_within)
                ))),
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(SendError::Uncertain("the server did not answer NOOP".to_owned())),
                Ok(Err(err)) => Err(match never_connected(&err) {
                    Some(reason) => SendError::NotConnected {
                        relay: relay.clone(),
                        reason,
                    },
                    None => SendError::Uncertain(err.to_string()),
                }),
            },
            Mailer::File(dir) => tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| SendError::File {
                    path: dir.clone(),
                    source,
                }),
        }
    }
}

fn smtp_transport(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    crate::fetch::install_crypto_provider();
    let tls_error = |source| MailError::Tls {
        host: settings.host.clone(),
        source,
    };
    let tls = match settings.security {
        SmtpSecurity::None => Tls::None,
        security => {
            let mut params = TlsParameters::builder(settings.host.clone());
            if let Some(path) = &settings.ca_file {
                let pem = std::fs::read(path).map_err(|source| MailError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(tls_error)?);
            }
            let params = params.build_rustls().map_err(tls_error)?;
            if security == SmtpSecurity::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
        .port(settings.port)
        .tls(tls)
        .timeout(Some(settings.timeout))
        .pool_config(PoolConfig::new().max_size(4));
    if let Some((user, password)) = &settings.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// The file transport: `<stem>.eml` and `<stem>.html`, written via a temporary
/// name and renamed, so a crash never leaves half a message. The stem comes from
/// the Message-ID, so a resend overwrites rather than duplicates.
async fn write_files(dir: &Path, to: &Address, entry: &OutboxEntry) -> Result<(), SendError> {
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SendError::File { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(file_error(dir))?;
    let id_part: String = entry
        .message_id
        .trim_start_matches("<digest.")
        .chars()
        .take(12)
        .collect();
    let stem = format!(
        "{}-{}-{id_part}",
        entry.created_at.format("%Y%m%dT%H%M%SZ"),
        safe_file_part(to.user())
    );
    // The message last: its rename is what delivers. Were it first, a
    // failure writing the page would count as not delivered, and the next
    // digest would repeat its articles beside the message already there.
    for (extension, contents) in [("html", entry.html.as_bytes()), ("eml", entry.message.as_bytes())] {
        let path = dir.join(format!("{stem}.{extension}"));
        let temporary = dir.join(format!(".{stem}.{extension}.tmp"));
        tokio::fs::write(&temporary, contents)
            .await
            .map_err(file_error(&temporary))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(file_error(&path))?;
    }
    Ok(())
}

fn safe_file_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}
