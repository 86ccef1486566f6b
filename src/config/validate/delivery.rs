//! Validation of how mail leaves: the transport, the SMTP relay and its
//! password, and the sender.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;

use super::super::raw::{RawConfig, RawSmtp};
use super::super::{Delivery, Secret, SmtpSecurity, SmtpSettings};
use super::{CREDENTIAL_NAME, Checker, Seg, fallback_from};

impl Checker<'_> {
    pub(super) fn delivery(&mut self, raw: &RawConfig) -> (Option<Delivery>, Mailbox) {
        let smtp = raw.smtp.as_ref();
        let from_text = smtp.and_then(|s| s.from.as_deref());
        let from = match from_text {
            Some(text) => match text.parse::<Mailbox>() {
                Ok(m) => m,
                Err(err) => {
                    self.problem(
                        &[Seg::Key("smtp"), Seg::Key("from")],
                        None,
                        format!("{text:?} is not a mailbox ({err}); write \"Name <address@example.org>\""),
                    );
                    fallback_from()
                }
            },
            None => fallback_from(),
        };
        let transport = raw
            .delivery
            .as_ref()
            .and_then(|d| d.transport.as_deref())
            .unwrap_or("smtp");
        let delivery = match transport {
            "file" => {
                let dir = raw.delivery.as_ref().and_then(|d| d.dir.as_deref());
                if dir.is_none() {
                    self.problem(
                        &[Seg::Key("delivery"), Seg::Key("dir")],
                        None,
                        "the file transport needs a folder: dir = \"/path/to/outbox\"",
                    );
                    return (None, from);
                }
                Some(Delivery::File {
                    dir: self.path(dir, "."),
                })
            }
            "smtp" => match smtp {
                Some(smtp) => {
                    if from_text.is_none() {
                        self.problem(
                            &[Seg::Key("smtp")],
                            None,
                            "missing key `from` (the sender, e.g. \"Morning Digest <digest@example.org>\")",
                        );
                    }
                    self.smtp(smtp).map(Delivery::Smtp)
                }
                None => {
                    self.problem(
                        &[Seg::Key("smtp")],
                        None,
                        "missing [smtp] table (or set [delivery] transport = \"file\")",
                    );
                    None
                }
            },
            other => {
                self.problem(
                    &[Seg::Key("delivery"), Seg::Key("transport")],
                    None,
                    format!("unknown transport {other:?}; valid: \"smtp\", \"file\""),
                );
                None
            }
        };
        (delivery, from)
    }

    fn smtp(&mut self, smtp: &RawSmtp) -> Option<SmtpSettings> {
        let key = |k| [Seg::Key("smtp"), Seg::Key(k)];
        let security = match smtp.security.as_deref().unwrap_or("starttls") {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => {
                self.problem(
                    &key("security"),
                    None,
                    format!("unknown security {other:?}; valid: \"starttls\", \"tls\", \"none\""),
                );
                SmtpSecurity::StartTls
            }
        };
        let port = smtp.port.unwrap_or(match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        let host = match smtp.host.as_deref().map(str::trim) {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => {
                self.problem(&[Seg::Key("smtp")], None, "missing key `host` (the relay's name)");
                return None;
            }
        };
        let credentials = match &smtp.username {
            None => None,
            Some(user) => self.password(smtp).map(|password| (user.clone(), password)),
        };
        let timeout = self.duration(&key("timeout"), smtp.timeout.as_deref(), Duration::from_secs(60));
        Some(SmtpSettings {
            host,
            port,
            security,
            credentials,
            ca_file: smtp.ca_file.as_deref().map(|p| self.path(Some(p), ".")),
            timeout,
        })
    }

    /// The password: the key itself (usually from the environment), a file,
    /// or systemd's credential directory.
    fn password(&mut self, smtp: &RawSmtp) -> Option<Secret> {
        if let Some(password) = &smtp.password {
            return Some(Secret::new(password.clone()));
        }
        let file = match (&smtp.password_file, std::env::var_os("CREDENTIALS_DIRECTORY")) {
            (Some(file), _) => self.path(Some(file), "."),
            (None, Some(dir)) => PathBuf::from(dir).join(CREDENTIAL_NAME),
            (None, None) => {
                self.problem(
                    &[Seg::Key("smtp"), Seg::Key("username")],
                    None,
                    "a username needs a password: set password_file, FEED_DIGEST_SMTP__PASSWORD, or LoadCredential=smtp-password",
                );
                return None;
            }
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => Some(Secret::new(text.trim_end_matches(['\r', '\n']).to_owned())),
            Err(err) => {
                self.problem(
                    &[Seg::Key("smtp"), Seg::Key("password_file")],
                    None,
                    format!("cannot read {}: {err}", file.display()),
                );
                None
            }
        }
    }
}
