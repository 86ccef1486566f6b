//! Signed links for readers: a token names a subscriber without their
//! address or any guessable id, and only this deployment's key makes one.
//!
//! A token is base64url of: a version byte, a kind byte, the payload (for a
//! subscriber: 12 bytes of HMAC(key, their address)), and 16 bytes of
//! HMAC-SHA256 over the rest. Checking compares in constant time, and every
//! way a token can be wrong gives the same `None`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

const VERSION: u8 = 1;
const SUBSCRIBER: u8 = b'S';
const TAG_LEN: usize = 12;
const MAC_LEN: usize = 16;
/// Version, kind, subscriber tag, MAC.
const TOKEN_LEN: usize = 2 + TAG_LEN + MAC_LEN;

/// The deployment's signing key (at least 32 bytes of secret).
#[derive(Clone)]
pub struct Key(ring::hmac::Key);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

/// A subscriber as a token names them: compare with [`Key::subscriber_tag`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SubscriberTag([u8; TAG_LEN]);

impl Key {
    pub const MIN_LEN: usize = 32;

    /// `None` when `secret` is shorter than [`Key::MIN_LEN`].
    pub fn new(secret: &[u8]) -> Option<Key> {
        (secret.len() >= Key::MIN_LEN).then(|| Key(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret)))
    }

    fn mac(&self, parts: &[&[u8]]) -> ring::hmac::Tag {
        let mut context = ring::hmac::Context::with_key(&self.0);
        for part in parts {
            context.update(part);
        }
        context.sign()
    }

    pub fn subscriber_tag(&self, email: &str) -> SubscriberTag {
        let mac = self.mac(&[b"feed-digest subscriber\0", email.to_lowercase().as_bytes()]);
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&mac.as_ref()[..TAG_LEN]);
        SubscriberTag(tag)
    }

    /// The token of `email`'s links (the same in every digest: an old link
    /// keeps working, and the reader's latest click wins).
    pub fn subscriber_token(&self, email: &str) -> String {
        let mut bytes = vec![VERSION, SUBSCRIBER];
        bytes.extend_from_slice(&self.subscriber_tag(email).0);
        let mac = self.mac(&[b"feed-digest link\0", &bytes]);
        bytes.extend_from_slice(&mac.as_ref()[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The subscriber `token` names, if this key made it.
    pub fn verify(&self, token: &str) -> Option<SubscriberTag> {
        // Longer than any token: not decoded at all.
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION || bytes[1] != SUBSCRIBER {
            return None;
        }
        let (signed, mac) = bytes.split_at(TOKEN_LEN - MAC_LEN);
        let expected = self.mac(&[b"feed-digest link\0", signed]);
        if !bool::from(expected.as_ref()[..MAC_LEN].ct_eq(mac)) {
            return None;
        }
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&signed[2..]);
        Some(SubscriberTag(tag))
    }

    /// The address among `emails` that `tag` names, comparing every one in
    /// constant time.
    pub fn find<'a>(&self, tag: SubscriberTag, emails: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let mut found = None;
        for email in emails {
            if bool::from(self.subscriber_tag(email).0.ct_eq(&tag.0)) {
                found = Some(email);
            }
        }
        found
    }
}

/// Where readers act on their subscription: `base/u/TOKEN`.
pub fn unsubscribe_url(base: &url::Url, key: &Key, email: &str) -> Option<url::Url> {
    under(base, &format!("u/{}", key.subscriber_token(email)))
}

/// `relative` below `base`'s path, whether or not it ends with a slash.
fn under(base: &url::Url, relative: &str) -> Option<url::Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(relative).ok()
}

/// The addresses `email`'s digest advertises for unsubscribing: with the
/// web endpoint, their own signed link first, then the config's `mailto:`
/// addresses (its static https ones are replaced); without, the config's.
pub fn unsubscribe_addresses(config: &crate::config::Config, email: &str) -> Vec<url::Url> {
    let configured = &config.digest.unsubscribe;
    // Signed links only where the endpoint answers them.
    let Some(web) = config.web.as_ref().filter(|web| web.listen.is_some()) else {
        return configured.clone();
    };
    let Some(key) = &web.key else {
        return configured.clone();
    };
    let mut addresses: Vec<url::Url> = unsubscribe_url(&web.base_url, key, email).into_iter().collect();
    addresses.extend(configured.iter().filter(|u| u.scheme() == "mailto").cloned());
    addresses
}

/// The archive page name of the digest `message_id`: 32 hex digits no one
/// can guess without the key (the name is the page's signature).
pub fn archive_name(key: &Key, message_id: &str) -> String {
    let mac = key.mac(&[b"feed-digest archive\0", message_id.as_bytes()]);
    mac.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `base/a/NAME.html`: the same path on the endpoint and on a static server.
pub fn archive_url(base: &url::Url, name: &str) -> Option<url::Url> {
    under(base, &format!("a/{name}.html"))
}

/// Reads a key file: its text, trimmed, is the secret.
pub fn read_key(path: &std::path::Path) -> Result<Key, KeyError> {
    let text = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let secret = text.trim_ascii();
    Key::new(secret).ok_or_else(|| KeyError::Short {
        path: path.to_path_buf(),
        len: secret.len(),
    })
}

/// Writes a new random key to `path` (mode 0600), unless one is there.
pub fn create_key(path: &std::path::Path) -> Result<Key, KeyError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| io(std::io::Error::other("no randomness from the system")))?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // create_new: a key written meanwhile by another process is kept.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), "made a new key for readers' links");
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io(err)),
    }
    read_key(path)
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the links key {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the links key {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the links key {} has {len} bytes; it needs at least {} (e.g. `head -c 32 /dev/urandom | xxd -p -c 64`)", path.display(), Key::MIN_LEN)]
    Short { path: std::path::PathBuf, len: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_token_names_its_subscriber_without_their_address() {
        let key = key(7);
        let token = key.subscriber_token("Reader@Example.org");
        assert!(!token.to_lowercase().contains("reader"), "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let tag = key.verify(&token).unwrap();
        let emails = ["other@example.org", "reader@example.org"];
        assert_eq!(key.find(tag, emails), Some("reader@example.org"));
    }

    #[test]
    fn an_altered_or_foreign_token_is_refused() {
        let key = key(7);
        let token = key.subscriber_token("reader@example.org");
        for i in 0..token.len() {
            let mut altered: Vec<char> = token.chars().collect();
            altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
            let altered: String = altered.into_iter().collect();
            // The last character carries 2 bits that decoding may ignore.
            if altered != token
                && URL_SAFE_NO_PAD.decode(&altered).ok() != URL_SAFE_NO_PAD.decode(&token).ok()
            {
                assert!(key.verify(&altered).is_none(), "{altered}");
            }
        }
        let foreign = self::key(8).subscriber_token("reader@example.org");
        assert!(key.verify(&foreign).is_none());
        for junk in ["", "x", "%%%", &"A".repeat(40), &"A".repeat(500)] {
            assert!(key.verify(junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn the_link_keeps_the_base_path() {
        let key = key(7);
        for base in ["https://example.org/digest", "https://example.org/digest/"] {
            let url = unsubscribe_url(&url::Url::parse(base).unwrap(), &key, "a@example.org").unwrap();
            assert!(url.as_str().starts_with("https://example.org/digest/u/"), "{url}");
            let token = url.path().rsplit('/').next().unwrap();
            assert!(key.verify(token).is_some());
        }
    }

    #[test]
    fn a_short_secret_is_no_key() {
        assert!(Key::new(&[1; 31]).is_none());
    }
}
