//! Article records in append-only day files beside sled (schema 7).
//!
//! sled keeps every live byte several times over in its log, and cleans a
//! segment only once it is half dead: a week of bodies written and deleted
//! all over its key space held the churn benchmark's store at 300-340 MiB
//! for 49 MiB live (docs/benchmarks.md). Here each article's record is
//! appended to the file of the day it was written (`bodies/2026-12-07.log`)
//! and sled's `articles` tree keeps a 25-byte [`Pointer`] to it. A prune then
//! deletes whole files, after copying the few records still live in an old
//! one forward.
//!
//! Order: a frame is written and synced before the transaction that
//! commits its pointer, so a crash, a kill or a power cut leaves at worst a
//! frame nobody points at, which goes with its file. A frame carries its key
//! and a CRC, so a pointer never reads another article's bytes.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::StoreError;

/// The first byte of a pointer value: neither JSON nor a deflated value
/// (`DEFLATED`) starts with it, so a full record of schema 6 still reads.
const POINTER: u8 = 0xb7;

/// A frame's header: the frame's length (u32), the CRC-32 of the rest, the key's length (u8).
const HEADER: usize = 9;

/// The largest frame written or read: a stored value is refused above
/// 64 MiB inflated (`deflate.rs`), and a damaged pointer or header must not
/// make us allocate 4 GiB.
const MAX_FRAME: usize = 64 << 20;

/// Where an article's record is: the day file, the frame's place in it, and
/// the article's first sight (the prune decides on it without the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pointer {
    pub day: u32,
    pub offset: u64,
    pub len: u32,
    pub first_seen: i64,
}

impl Pointer {
    pub const ENCODED_LEN: usize = 25;

    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0] = POINTER;
        out[1..5].copy_from_slice(&self.day.to_be_bytes());
        out[5..13].copy_from_slice(&self.offset.to_be_bytes());
        out[13..17].copy_from_slice(&self.len.to_be_bytes());
        out[17..25].copy_from_slice(&self.first_seen.to_be_bytes());
        out
    }

    /// `None` for anything that is not a pointer (a full record of schema 6).
    pub fn from_bytes(bytes: &[u8]) -> Option<Pointer> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        if bytes[0] != POINTER {
            return None;
        }
        Some(Pointer {
            day: u32::from_be_bytes(bytes[1..5].try_into().ok()?),
            offset: u64::from_be_bytes(bytes[5..13].try_into().ok()?),
            len: u32::from_be_bytes(bytes[13..17].try_into().ok()?),
            first_seen: i64::from_be_bytes(bytes[17..25].try_into().ok()?),
        })
    }

    pub fn first_seen(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.first_seen, 0)
    }
}

/// The file being appended to. Its space is written (zeros) ahead of the
/// frames, `allocated` bytes in all, so the sync after an append has the
/// data alone to write, not a grown file's size and blocks (a sync per feed
/// poll of a growing file tripled the cold poll: docs/benchmarks.md,
/// "Schema 7").
struct Writer {
    day: u32,
    file: File,
    /// Where the frames end.
    len: u64,
    allocated: u64,
}

pub(super) struct Bodies {
    dir: PathBuf,
    writer: Mutex<Option<Writer>>,
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

/// A day number (days since 1970) as the file's name.
fn file_name(day: u32) -> String {
    let date = NaiveDate::from_num_days_from_ce_opt(719_163 + day as i32).map_or_else(
        || format!("day-{day}"),
        |date| date.format("%Y-%m-%d").to_string(),
    );
    format!("{date}.log")
}

fn day_of_name(name: &str) -> Option<u32> {
    let date = NaiveDate::parse_from_str(name.strip_suffix(".log")?, "%Y-%m-%d").ok()?;
    u32::try_from(date.num_days_from_ce() - 719_163).ok()
}

impl Bodies {
    pub fn open(dir: PathBuf) -> Result<Bodies, StoreError> {
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            action: "create the body files' directory",
            path: dir.clone(),
            source,
        })?;
        Ok(Bodies {
            dir,
            writer: Mutex::new(None),
            readers: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self, day: u32) -> PathBuf {
        self.dir.join(file_name(day))
    }

    fn io(&self, action: &'static str, day: u32) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = self.path(day);
        move |source| StoreError::Io { action, path, source }
    }

    /// Appends one frame per `(key, value, first_seen)` to the file of
    /// `day` in one write, and syncs it: the pointers may then be committed.
    /// `committed_end` says where the committed frames of a day's file end
    /// (asked only when the file is opened for appending).
    pub fn append(
        &self,
        day: u32,
        rows: &[(&[u8], &[u8], DateTime<Utc>)],
        committed_end: &dyn Fn(u32) -> Result<u64, StoreError>,
    ) -> Result<Vec<Pointer>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // A later day's file once the day has turned; never an earlier one.
        let writer = match guard.take() {
            Some(writer) if writer.day >= day => writer,
            earlier => {
                if let Some(old) = earlier {
                    // Its zeros beyond the last frame go back.
                    old.file
                        .set_len(old.len)
                        .and_then(|()| old.file.sync_all())
                        .map_err(self.io("trim the body file", old.day))?;
                }
                self.open_writer(day, committed_end(day)?)?
            }
        };
        let writer = guard.insert(writer);
        let mut buffer = Vec::new();
        let mut pointers = Vec::with_capacity(rows.len());
        for (key, value, first_seen) in rows {
            let start = buffer.len();
            let frame = frame(key, value).ok_or_else(|| StoreError::Corrupt {
                tree: "articles",
                key: String::from_utf8_lossy(key).into_owned(),
                message: format!("a record of {} bytes is too large for a body file", value.len()),
            })?;
            buffer.extend_from_slice(&frame);
            pointers.push(Pointer {
                day: writer.day,
                offset: writer.len + start as u64,
                len: frame.len() as u32,
                first_seen: first_seen.timestamp(),
            });
        }
        let day = writer.day;
        let end = writer.len + buffer.len() as u64;
        let written = (|| {
            if end > writer.allocated {
                // Ahead by an eighth of the file, at least 256 KiB: a sync of
                // the file's size every few MB of a big poll, little left over on a quiet day.
                let allocated = end + (end / 8).max(256 << 10);
                let zeros = vec![0u8; 1 << 20];
                let mut at = writer.allocated;
                while at < allocated {
                    let n = (allocated - at).min(zeros.len() as u64) as usize;
                    writer.file.write_all_at(&zeros[..n], at)?;
                    at += n as u64;
                }
                writer.file.sync_all()?;
                writer.allocated = allocated;
            }
            writer.file.write_all_at(&buffer, writer.len)?;
            writer.file.sync_data()
        })();
        if let Err(err) = written {
            // Where the frames end is then found again by the next append.
            *guard = None;
            return Err(self.io("append to the body file", day)(err));
        }
        writer.len = end;
        Ok(pointers)
    }

    /// Opens `day`'s file for appending after its last whole frame: a frame
    /// cut short by a crash, and the zeros ahead, are written over (nothing
    /// points there: a pointer is committed only after its frame's sync).
    /// Never before `committed`, the end of the frames pointers name: a
    /// damaged frame in the middle, or one whose sync failed and whose
    /// bytes a reboot lost, must not let an append write over later ones.
    fn open_writer(&self, day: u32, committed: u64) -> Result<Writer, StoreError> {
        let created = !self.path(day).exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(self.path(day))
            .map_err(self.io("open the body file", day))?;
        let allocated = file.metadata().map_err(self.io("read the size of", day))?.len();
        let mut len = 0u64;
        let mut header = [0u8; HEADER];
        while len + HEADER as u64 <= allocated {
            file.read_exact_at(&mut header, len)
                .map_err(self.io("read the body file", day))?;
            let size = u64::from(frame_len(&header));
            if size < HEADER as u64 || size > MAX_FRAME as u64 || len + size > allocated {
                break;
            }
            let mut frame = vec![0u8; size as usize];
            file.read_exact_at(&mut frame, len)
                .map_err(self.io("read the body file", day))?;
            if parse_frame(&frame).is_err() {
                break;
            }
            len += size;
        }
        if created {
            // The new file's name must survive a power cut too.
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| StoreError::Io {
                    action: "sync the directory of",
                    path: self.path(day),
                    source,
                })?;
        }
        Ok(Writer {
            day,
            file,
            len: len.max(committed),
            allocated,
        })
    }

    /// The day being appended to, if any: its file is never compacted away.
    pub fn writing_day(&self) -> Option<u32> {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|writer| writer.day)
    }

    fn reader(&self, day: u32) -> Result<Arc<File>, StoreError> {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = readers.get(&day) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(self.path(day)).map_err(self.io("open the body file", day))?);
        readers.insert(day, file.clone());
        Ok(file)
    }

    /// The value `pointer` names, checked to be the record of `key`.
    pub fn read(&self, key: &[u8], pointer: Pointer) -> Result<Vec<u8>, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            tree: "articles",
            key: String::from_utf8_lossy(key).into_owned(),
            message: format!(
                "body file {} at byte {}: {message}",
                file_name(pointer.day),
                pointer.offset
            ),
        };
        if pointer.len as usize > MAX_FRAME {
            return Err(corrupt(format!("a pointer to {} bytes", pointer.len)));
        }
        let file = self.reader(pointer.day)?;
        let mut frame = vec![0u8; pointer.len as usize];
        file.read_exact_at(&mut frame, pointer.offset).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt("the file ends before the record".to_owned())
            } else {
                self.io("read the body file", pointer.day)(err)
            }
        })?;
        unframe(&frame, key).map_err(corrupt)
    }

    /// The day files there are, with their sizes.
    pub fn files(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        let io = |source| StoreError::Io {
            action: "list the body files in",
            path: self.dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if let Some(day) = entry.file_name().to_str().and_then(day_of_name) {
                files.push((day, entry.metadata().map_err(io)?.len()));
            }
        }
        files.sort_unstable();
        Ok(files)
    }

    /// Deletes a day's file, which nothing points into any more.
    pub fn remove(&self, day: u32) -> Result<(), StoreError> {
        // Held across the unlink: a reader cannot cache the file in between.
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        readers.remove(&day);
        match std::fs::remove_file(self.path(day)) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(self.io("remove the body file", day)(err)),
        }
    }

    /// Bytes the day files take.
    pub fn size(&self) -> Result<u64, StoreError> {
        Ok(self.files()?.iter().map(|(_, size)| size).sum())
    }
}

/// A frame: length, CRC, key length, key, value. `None` above 4 GiB or a
/// key over 255 bytes (ids are 32).
fn frame(key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let len = HEADER + key.len() + value.len();
    if len > MAX_FRAME {
        return None;
    }
    let len = u32::try_from(len).ok()?;
    let key_len = u8::try_from(key.len()).ok()?;
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(key_len);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32fast::hash(out.get(8..)?);
    out.get_mut(4..8)?.copy_from_slice(&crc.to_be_bytes());
    Some(out)
}

/// The length a frame's header gives.
fn frame_len(header: &[u8; HEADER]) -> u32 {
    u32::from_be_bytes([header[0], header[1], header[2], header[3]])
}

/// A whole frame's key and value, or what is wrong with it.
fn parse_frame(frame: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let header: &[u8; HEADER] = frame
        .get(..HEADER)
        .and_then(|header| header.try_into().ok())
        .ok_or("the record is shorter than its header")?;
    let len = frame_len(header) as usize;
    if len != frame.len() {
        return Err(format!(
            "the record says {len} bytes, its pointer {}",
            frame.len()
        ));
    }
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if crc32fast::hash(&frame[8..]) != crc {
        return Err("the record's checksum does not match".to_owned());
    }
    let key_len = usize::from(header[8]);
    let key = frame
        .get(HEADER..HEADER + key_len)
        .ok_or("the key runs past the record")?;
    Ok((key, &frame[HEADER + key_len..]))
}

/// The value of a frame read back, checked to be `key`'s.
fn unframe(frame: &[u8], key: &[u8]) -> Result<Vec<u8>, String> {
    let (stored_key, value) = parse_frame(frame)?;
    if stored_key != key {
        return Err(format!(
            "the record is {:?}'s",
            String::from_utf8_lossy(stored_key)
        ));
    }
    Ok(value.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No pointers committed yet (the store's scan of its pointers, in the store).
    fn none(_: u32) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(i64::from(day) * 86_400 + 3_600, 0).unwrap()
    }

    #[test]
    fn records_read_back_from_their_day_and_a_wrong_or_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let bodies = Bodies::open(dir.path().join("bodies")).unwrap();
        let day = 20_429; // 2025-12-07
        let rows: Vec<(&[u8], &[u8], DateTime<Utc>)> = vec![
            (b"aaaa", "第一篇".as_bytes(), at(day)),
            (b"bbbb", b"second", at(day - 3)),
        ];
        let pointers = bodies.append(day, &rows, &none).unwrap();
        assert_eq!(bodies.read(b"aaaa", pointers[0]).unwrap(), "第一篇".as_bytes());
        assert_eq!(bodies.read(b"bbbb", pointers[1]).unwrap(), b"second");
        assert_eq!(Pointer::from_bytes(&pointers[1].to_bytes()), Some(pointers[1]));
        assert_eq!(pointers[1].first_seen(), Some(at(day - 3)));
        assert!(Pointer::from_bytes(b"{\"id\":1}").is_none());
        // The next day's records go to the next day's file.
        let next = bodies
            .append(day + 1, &[(b"cccc", b"third", at(day + 1))], &none)
            .unwrap();
        assert_eq!((next[0].day, next[0].offset), (day + 1, 0));
        assert_eq!(
            bodies
                .files()
                .unwrap()
                .iter()
                .map(|(d, _)| *d)
                .collect::<Vec<_>>(),
            vec![day, day + 1]
        );
        assert!(dir.path().join("bodies/2025-12-07.log").exists());
        // Another article's pointer, or a damaged file, is an error, never its bytes.
        let wrong = bodies.read(b"bbbb", pointers[0]).unwrap_err().to_string();
        assert!(wrong.contains("body file 2025-12-07.log at byte 0"), "{wrong}");
        let path = dir.path().join("bodies/2025-12-07.log");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        bodies.readers.lock().unwrap().clear();
        let broken = bodies.read(b"bbbb", pointers[1]).unwrap_err().to_string();
        assert!(broken.contains("checksum"), "{broken}");
        bodies.remove(day).unwrap();
        let gone = bodies.read(b"aaaa", pointers[0]).unwrap_err().to_string();
        assert!(gone.contains("2025-12-07.log"), "{gone}");
    }

    #[test]
    fn after_a_crash_appends_follow_the_last_whole_frame_and_the_zeros_ahead_are_not_frames() {
        let dir = tempfile::tempdir().unwrap();
        let day = 20_429;
        let first = {
            let bodies = Bodies::open(dir.path().to_path_buf()).unwrap();
            let pointers = bodies.append(day, &[(b"aaaa", b"kept", at(day))], &none).unwrap();
            // Space is written ahead of the frames.
            assert!(bodies.files().unwrap()[0].1 >= 256 << 10);
            // A frame cut short by the crash: its header and half its bytes.
            let torn = frame(b"bbbb", &[7u8; 100]).unwrap();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(bodies.path(day))
                .unwrap();
            file.write_all_at(&torn[..60], u64::from(pointers[0].len))
                .unwrap();
            pointers[0]
        };
        let bodies = Bodies::open(dir.path().to_path_buf()).unwrap();
        let next = bodies
            .append(day, &[(b"cccc", "之后".as_bytes(), at(day))], &none)
            .unwrap();
        assert_eq!(next[0].offset, u64::from(first.len));
        assert_eq!(bodies.read(b"aaaa", first).unwrap(), b"kept");
        assert_eq!(bodies.read(b"cccc", next[0]).unwrap(), "之后".as_bytes());
        // The next day's file trims this one to its frames.
        bodies
            .append(day + 1, &[(b"dddd", b"x", at(day + 1))], &none)
            .unwrap();
        assert_eq!(bodies.files().unwrap()[0].1, u64::from(first.len + next[0].len));
    }

    #[test]
    fn a_damaged_frame_in_the_middle_never_lets_an_append_write_over_committed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let day = 20_429;
        let rows: Vec<(&[u8], &[u8], DateTime<Utc>)> =
            vec![(b"aaaa", b"first", at(day)), (b"bbbb", b"second", at(day))];
        let pointers = Bodies::open(dir.path().to_path_buf())
            .unwrap()
            .append(day, &rows, &none)
            .unwrap();
        let path = dir.path().join(file_name(day));
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(b"XX", pointers[0].offset + HEADER as u64 + 4)
            .unwrap();
        // The store says where its pointers end: after the second frame.
        let end = pointers[1].offset + u64::from(pointers[1].len);
        let committed = move |asked: u32| -> Result<u64, StoreError> {
            assert_eq!(asked, day);
            Ok(end)
        };
        let bodies = Bodies::open(dir.path().to_path_buf()).unwrap();
        let next = bodies
            .append(day, &[(b"cccc", b"third", at(day))], &committed)
            .unwrap();
        assert_eq!(next[0].offset, end);
        assert_eq!(bodies.read(b"bbbb", pointers[1]).unwrap(), b"second");
        assert!(bodies.read(b"aaaa", pointers[0]).is_err());
    }

    #[test]
    fn day_names_read_back() {
        for day in [0, 20_429, 30_000] {
            assert_eq!(day_of_name(&file_name(day)), Some(day));
        }
        assert_eq!(file_name(20_429), "2025-12-07.log");
        assert_eq!(day_of_name("notes.txt"), None);
    }
}
