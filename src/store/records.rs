//! What the store holds. Records are JSON in sled (readable in exports),
//! except the seen ids, which are many and get a fixed 17-byte encoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Every article id ever seen. Kept while its item is in the feed and for the
/// retention period after it left (a tombstone), so it never comes back as new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRecord {
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// False for ids recorded without delivery: the first-poll baseline, GUID
    /// churn, copies of an article from a second feed.
    pub delivered: bool,
}

impl SeenRecord {
    pub const ENCODED_LEN: usize = 17;

    /// `first_seen` and `last_seen` as big-endian Unix seconds, then a flag byte.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.first_seen.timestamp().to_be_bytes());
        out[8..16].copy_from_slice(&self.last_seen.timestamp().to_be_bytes());
        out[16] = u8::from(self.delivered);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<SeenRecord> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let seconds = |range: std::ops::Range<usize>| {
            let raw: [u8; 8] = bytes[range].try_into().ok()?;
            DateTime::from_timestamp(i64::from_be_bytes(raw), 0)
        };
        Some(SeenRecord {
            first_seen: seconds(0..8)?,
            last_seen: seconds(8..16)?,
            delivered: bytes[16] == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_record_round_trips_in_17_bytes() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let record = SeenRecord {
            first_seen: at(1_795_000_000),
            last_seen: at(1_795_086_400),
            delivered: true,
        };
        assert_eq!(SeenRecord::from_bytes(&record.to_bytes()), Some(record));
        assert_eq!(SeenRecord::from_bytes(b"{\"json\":1}"), None);
    }
}
