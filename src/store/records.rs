//! What the store holds. Records are JSON in sled (readable in exports; the
//! large ones deflated), except the seen ids, which are many: each feed's are
//! kept together in a few binary sets of 25 bytes an id, stored deflated
//! ([`SeenSet`]); ids from before schema 3 whose feed is not known keep a
//! 17-byte record each ([`SeenRecord`]).

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

/// Seconds since 1970 in four bytes (until 2106): seen times are poll times.
fn secs32(at: DateTime<Utc>) -> [u8; 4] {
    u32::try_from(at.timestamp().max(0))
        .unwrap_or(u32::MAX)
        .to_be_bytes()
}

fn from_secs32(bytes: [u8; 4]) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(i64::from(u32::from_be_bytes(bytes)), 0)
}

/// Some of one feed's seen ids, sorted by id: the 16 bytes of the id, its
/// first and last seen time (seconds, four bytes each) and the delivered
/// flag, 25 bytes an id; stored deflated by column (see [`SeenSet::to_bytes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenSet {
    entries: Vec<([u8; 16], SeenRecord)>,
}

impl SeenSet {
    const VERSION: u8 = 1;
    const DEFLATED_VERSION: u8 = 2;
    pub const ENTRY_LEN: usize = 25;

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &([u8; 16], SeenRecord)> {
        self.entries.iter()
    }

    pub fn get(&self, id: &[u8; 16]) -> Option<&SeenRecord> {
        self.entries
            .binary_search_by(|(e, _)| e.cmp(id))
            .ok()
            .map(|at| &self.entries[at].1)
    }

    /// Adds or replaces the record of `id`.
    pub fn put(&mut self, id: [u8; 16], record: SeenRecord) {
        match self.entries.binary_search_by(|(e, _)| e.cmp(&id)) {
            Ok(at) => self.entries[at].1 = record,
            Err(at) => self.entries.insert(at, (id, record)),
        }
    }

    pub fn remove(&mut self, id: &[u8; 16]) -> Option<SeenRecord> {
        self.entries
            .binary_search_by(|(e, _)| e.cmp(id))
            .ok()
            .map(|at| self.entries.remove(at).1)
    }

    /// Keeps the entries `keep` says yes to; how many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8; 16], &SeenRecord) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(id, record)| keep(id, record));
        before - self.entries.len()
    }

    /// Version 2 (schema 6): the count, then the entries deflated column by
    /// column (ids, first seen, last seen, flags): the ids are random and
    /// stay 16 bytes, the times of one poll repeat and shrink. Version 1, the
    /// entries as they are, where that is smaller.
    pub fn to_bytes(&self) -> Vec<u8> {
        let plain = self.plain_bytes();
        let Ok(count) = u32::try_from(self.entries.len()) else {
            return plain;
        };
        let mut columns = Vec::with_capacity(self.entries.len() * Self::ENTRY_LEN);
        columns.extend(self.entries.iter().flat_map(|(id, _)| *id));
        columns.extend(self.entries.iter().flat_map(|(_, r)| secs32(r.first_seen)));
        columns.extend(self.entries.iter().flat_map(|(_, r)| secs32(r.last_seen)));
        columns.extend(self.entries.iter().map(|(_, r)| u8::from(r.delivered)));
        let mut header = [Self::DEFLATED_VERSION, 0, 0, 0, 0];
        header[1..].copy_from_slice(&count.to_be_bytes());
        match super::deflate::deflate(&header, &columns) {
            Some(deflated) if deflated.len() < plain.len() => deflated,
            _ => plain,
        }
    }

    fn plain_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.entries.len() * Self::ENTRY_LEN);
        out.push(Self::VERSION);
        for (id, record) in &self.entries {
            out.extend_from_slice(id);
            out.extend_from_slice(&secs32(record.first_seen));
            out.extend_from_slice(&secs32(record.last_seen));
            out.push(u8::from(record.delivered));
        }
        out
    }

    /// The entries of a stored set; `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<SeenSet> {
        match bytes.split_first()? {
            (&Self::VERSION, body) => Self::from_entries(body),
            (&Self::DEFLATED_VERSION, rest) => {
                let count = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                let columns = super::deflate::inflate(rest.get(4..)?).ok()?;
                if columns.len() != count.checked_mul(Self::ENTRY_LEN)? {
                    return None;
                }
                // Back into rows: id, first, last, flag.
                let (ids, rest) = columns.split_at(count * 16);
                let (firsts, rest) = rest.split_at(count * 4);
                let (lasts, flags) = rest.split_at(count * 4);
                let mut body = Vec::with_capacity(columns.len());
                for n in 0..count {
                    body.extend_from_slice(&ids[n * 16..n * 16 + 16]);
                    body.extend_from_slice(&firsts[n * 4..n * 4 + 4]);
                    body.extend_from_slice(&lasts[n * 4..n * 4 + 4]);
                    body.push(flags[n]);
                }
                Self::from_entries(&body)
            }
            _ => None,
        }
    }

    fn from_entries(body: &[u8]) -> Option<SeenSet> {
        if !body.len().is_multiple_of(Self::ENTRY_LEN) {
            return None;
        }
        let mut entries = Vec::with_capacity(body.len() / Self::ENTRY_LEN);
        for entry in body.chunks_exact(Self::ENTRY_LEN) {
            let id: [u8; 16] = entry[..16].try_into().ok()?;
            let record = SeenRecord {
                first_seen: from_secs32(entry[16..20].try_into().ok()?)?,
                last_seen: from_secs32(entry[20..24].try_into().ok()?)?,
                delivered: entry[24] == 1,
            };
            if entries.last().is_some_and(|(last, _)| *last >= id) {
                return None; // not sorted: not a set this code wrote
            }
            entries.push((id, record));
        }
        Some(SeenSet { entries })
    }

    /// How many ids a stored set holds, without reading them.
    pub fn count_in(bytes: &[u8]) -> usize {
        match bytes.split_first() {
            Some((&Self::DEFLATED_VERSION, rest)) => rest
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, |b| u32::from_be_bytes(b) as usize),
            _ => bytes.len().saturating_sub(1) / Self::ENTRY_LEN,
        }
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

    #[test]
    fn a_seen_set_round_trips_sorted_in_25_bytes_an_id() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let mut set = SeenSet::default();
        let record = |first, delivered| SeenRecord {
            first_seen: at(first),
            last_seen: at(first + 60),
            delivered,
        };
        set.put([9; 16], record(1_795_000_000, true));
        set.put([1; 16], record(1_795_000_100, false));
        set.put([9; 16], record(1_795_000_200, true));
        assert_eq!(set.len(), 2);
        let bytes = set.plain_bytes();
        assert_eq!(bytes.len(), 1 + 2 * SeenSet::ENTRY_LEN);
        assert_eq!(SeenSet::count_in(&bytes), 2);
        assert_eq!(SeenSet::from_bytes(&set.to_bytes()).as_ref(), Some(&set));
        let read = SeenSet::from_bytes(&bytes);
        assert_eq!(read.as_ref(), Some(&set));
        let ids: Vec<[u8; 16]> = set.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![[1; 16], [9; 16]]);
        assert_eq!(set.get(&[9; 16]), Some(&record(1_795_000_200, true)));
        assert_eq!(set.remove(&[1; 16]), Some(record(1_795_000_100, false)));
        assert_eq!(set.retain(|_, r| r.delivered), 0);
        // Not a set: a wrong version, a torn entry, or unsorted ids.
        assert_eq!(SeenSet::from_bytes(&[2]), None);
        assert_eq!(SeenSet::from_bytes(&bytes[..bytes.len() - 1]), None);
        let mut unsorted = vec![1];
        unsorted.extend_from_slice(&bytes[1 + SeenSet::ENTRY_LEN..]);
        unsorted.extend_from_slice(&bytes[1..1 + SeenSet::ENTRY_LEN]);
        assert_eq!(SeenSet::from_bytes(&unsorted), None);
    }

    #[test]
    fn a_large_set_is_stored_deflated_by_column_and_reads_back() {
        use sha2::Digest as _;
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        let mut set = SeenSet::default();
        for n in 0u32..1000 {
            let hash = sha2::Sha256::digest(n.to_be_bytes());
            let id: [u8; 16] = hash[..16].try_into().unwrap();
            // Ids come by poll: 50 share their times.
            let poll = 1_795_000_000 + i64::from(n / 50) * 1800;
            set.put(
                id,
                SeenRecord {
                    first_seen: at(poll),
                    last_seen: at(poll + 86_400),
                    delivered: n % 7 != 0,
                },
            );
        }
        let bytes = set.to_bytes();
        assert_eq!(bytes[0], SeenSet::DEFLATED_VERSION);
        // The ids are random bytes; what shrinks is the times and flags.
        let plain = set.plain_bytes().len();
        assert!(bytes.len() * 10 < plain * 9, "{} of {plain} bytes", bytes.len());
        assert_eq!(SeenSet::count_in(&bytes), 1000);
        assert_eq!(SeenSet::from_bytes(&bytes).as_ref(), Some(&set));
        // A wrong count or a cut stream is not a set.
        let mut miscounted = bytes.clone();
        miscounted[4] ^= 1;
        assert_eq!(SeenSet::from_bytes(&miscounted), None);
        assert_eq!(SeenSet::from_bytes(&bytes[..bytes.len() - 10]), None);
        // What schema 5 wrote still reads.
        assert_eq!(SeenSet::from_bytes(&set.plain_bytes()).as_ref(), Some(&set));
    }
}
