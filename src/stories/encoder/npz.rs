//! NumPy's `.npz`: a zip archive of `.npy` arrays. Only what `numpy.savez`
//! writes is read: stored or deflated entries, sizes from the central
//! directory (numpy's local headers carry zip64 placeholders), no multi-disk
//! archives. Every entry's CRC-32 is checked, so a damaged file is an error
//! rather than wrong weights.

use std::io::Read;

/// What can be wrong with the archive or one of its arrays.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("not a zip archive, or truncated (no end of central directory record)")]
    NotZip,
    #[error("damaged zip archive: {0}")]
    Damaged(&'static str),
    #[error("entry {entry} is missing")]
    Missing { entry: String },
    #[error("entry {entry}: compression method {method} is not supported (only stored and deflate)")]
    Method { entry: String, method: u16 },
    #[error("entry {entry}: cannot inflate: {source}")]
    Inflate {
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("entry {entry}: damaged (size or CRC-32 does not match the central directory)")]
    Checksum { entry: String },
    #[error("entry {entry}: not a valid .npy array: {message}")]
    Npy { entry: String, message: String },
    /// Dtype and shape, as `<f4 [512, 256]`.
    #[error("entry {entry}: expected {expected}, found {found}")]
    Shape {
        entry: String,
        expected: String,
        found: String,
    },
}

/// One member of the archive, located through the central directory.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    method: u16,
    crc32: u32,
    compressed: usize,
    uncompressed: usize,
    local_header: usize,
}

/// An archive over borrowed bytes; entries are read on demand.
#[derive(Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    entries: Vec<Entry>,
}

/// A decoded `.npy` array: its dtype string (`<f4`, `|u1`, …), shape and raw
/// little-endian payload.
#[derive(Debug)]
pub struct Array {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const ZIP64_EXTRA: u16 = 0x0001;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut le = [0; 8];
    le.copy_from_slice(b);
    Some(u64::from_le_bytes(le))
}

impl<'a> Archive<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Archive<'a>, NpzError> {
        // The end record is the last 22 bytes plus a comment of up to 64 KiB.
        let lowest = bytes.len().saturating_sub(22 + usize::from(u16::MAX));
        let eocd = (lowest..=bytes.len().saturating_sub(22))
            .rev()
            .find(|&at| u32_at(bytes, at) == Some(EOCD_SIGNATURE))
            .ok_or(NpzError::NotZip)?;
        let damaged = NpzError::Damaged;
        let count = u16_at(bytes, eocd + 10).ok_or(damaged("end record"))?;
        let offset = u32_at(bytes, eocd + 16).ok_or(damaged("end record"))?;
        if count == u16::MAX || offset == u32::MAX {
            return Err(damaged(
                "zip64 archives (over 65,535 entries or 4 GiB) are not supported",
            ));
        }
        let mut entries = Vec::with_capacity(usize::from(count));
        let mut at = offset as usize;
        for _ in 0..count {
            let (entry, next) = Self::central_entry(bytes, at).ok_or(damaged("central directory"))?;
            entries.push(entry);
            at = next;
        }
        Ok(Archive { bytes, entries })
    }

    /// The central directory record at `at` and where the next one starts.
    fn central_entry(bytes: &[u8], at: usize) -> Option<(Entry, usize)> {
        if u32_at(bytes, at)? != CENTRAL_SIGNATURE {
            return None;
        }
        let method = u16_at(bytes, at + 10)?;
        let crc32 = u32_at(bytes, at + 16)?;
        let mut compressed = u64::from(u32_at(bytes, at + 20)?);
        let mut uncompressed = u64::from(u32_at(bytes, at + 24)?);
        let name_len = usize::from(u16_at(bytes, at + 28)?);
        let extra_len = usize::from(u16_at(bytes, at + 30)?);
        let comment_len = usize::from(u16_at(bytes, at + 32)?);
        let mut local_header = u64::from(u32_at(bytes, at + 42)?);
        let name_at = at + 46;
        let name = String::from_utf8_lossy(bytes.get(name_at..name_at + name_len)?).into_owned();
        // A field too large for 32 bits is 0xFFFFFFFF here and its real value
        // is in the zip64 extra field, in this order.
        let extra = bytes.get(name_at + name_len..name_at + name_len + extra_len)?;
        let mut field = 0;
        while field + 4 <= extra.len() {
            let (tag, len) = (u16_at(extra, field)?, usize::from(u16_at(extra, field + 2)?));
            if tag == ZIP64_EXTRA {
                let mut value = field + 4;
                for size in [&mut uncompressed, &mut compressed, &mut local_header] {
                    if *size == u64::from(u32::MAX) {
                        *size = u64_at(extra, value)?;
                        value += 8;
                    }
                }
            }
            field += 4 + len;
        }
        let entry = Entry {
            name,
            method,
            crc32,
            compressed: usize::try_from(compressed).ok()?,
            uncompressed: usize::try_from(uncompressed).ok()?,
            local_header: usize::try_from(local_header).ok()?,
        };
        Some((entry, name_at + name_len + extra_len + comment_len))
    }

    /// The uncompressed bytes of entry `name`, checked against its CRC-32.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, NpzError> {
        let entry = self
            .entries
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| NpzError::Missing {
                entry: name.to_owned(),
            })?;
        let damaged = || NpzError::Checksum {
            entry: name.to_owned(),
        };
        let at = entry.local_header;
        if at >= self.bytes.len() || u32_at(self.bytes, at) != Some(LOCAL_SIGNATURE) {
            return Err(damaged());
        }
        let name_len = usize::from(u16_at(self.bytes, at + 26).ok_or_else(damaged)?);
        let extra_len = usize::from(u16_at(self.bytes, at + 28).ok_or_else(damaged)?);
        let start = at + 30 + name_len + extra_len;
        let raw = start
            .checked_add(entry.compressed)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(damaged)?;
        let data = match entry.method {
            0 => raw.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(entry.uncompressed);
                // One byte more than promised tells a longer stream apart.
                let limit = entry.uncompressed as u64 + 1;
                flate2::read::DeflateDecoder::new(raw)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|source| NpzError::Inflate {
                        entry: name.to_owned(),
                        source,
                    })?;
                out
            }
            method => {
                return Err(NpzError::Method {
                    entry: name.to_owned(),
                    method,
                });
            }
        };
        if data.len() != entry.uncompressed || crc32fast::hash(&data) != entry.crc32 {
            return Err(damaged());
        }
        Ok(data)
    }

    /// The array in entry `name` (`name` without `.npy`, as numpy names it).
    pub fn array(&self, name: &str) -> Result<Array, NpzError> {
        let entry = format!("{name}.npy");
        let bytes = self.read(&entry)?;
        parse_npy(bytes).map_err(|message| NpzError::Npy { entry, message })
    }
}

/// Splits a `.npy` file into header fields and payload; checks the payload
/// length against dtype and shape.
fn parse_npy(mut bytes: Vec<u8>) -> Result<Array, String> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err("no \\x93NUMPY magic".into());
    }
    let (header_len, header_at) = match bytes.get(6) {
        Some(1) => (u16_at(&bytes, 8).map(usize::from), 10),
        Some(2 | 3) => (u32_at(&bytes, 8).map(|len| len as usize), 12),
        _ => return Err("unknown format version".into()),
    };
    let header_len = header_len.ok_or("truncated header")?;
    let header = bytes
        .get(header_at..header_at + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or non-UTF-8 header")?;
    let header = Header::parse(header)?;
    if header.fortran_order {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let item = match header.descr.as_str() {
        "|u1" | "|i1" => 1,
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(format!("dtype {other} is not supported")),
    };
    let expected = header
        .shape
        .iter()
        .try_fold(item, |acc: usize, &dim| acc.checked_mul(dim))
        .ok_or("shape too large")?;
    let payload = header_at + header_len;
    if bytes.len().checked_sub(payload) != Some(expected) {
        return Err(format!(
            "payload is {} bytes, dtype and shape need {expected}",
            bytes.len().saturating_sub(payload)
        ));
    }
    bytes.drain(..payload);
    Ok(Array {
        descr: header.descr,
        shape: header.shape,
        data: bytes,
    })
}

/// The header dict, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (512, 256), }`.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// A hand parser for the three keys numpy writes; anything else is an error.
    fn parse(text: &str) -> Result<Header, String> {
        let bad = || format!("unreadable header {:?}", text.trim_end());
        let body = text
            .trim()
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .ok_or_else(bad)?;
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        let mut rest = body.trim_start();
        while !rest.is_empty() {
            let (key, after) = quoted(rest).ok_or_else(bad)?;
            let after = after.trim_start().strip_prefix(':').ok_or_else(bad)?.trim_start();
            rest = match key {
                "descr" => {
                    let (value, after) = quoted(after).ok_or_else(bad)?;
                    descr = Some(value.to_owned());
                    after
                }
                "fortran_order" => {
                    let (value, after) = if let Some(after) = after.strip_prefix("False") {
                        (false, after)
                    } else {
                        (true, after.strip_prefix("True").ok_or_else(bad)?)
                    };
                    fortran_order = Some(value);
                    after
                }
                "shape" => {
                    let inner = after.strip_prefix('(').ok_or_else(bad)?;
                    let end = inner.find(')').ok_or_else(bad)?;
                    let (dims, after) = inner.split_at(end);
                    let dims = dims
                        .split(',')
                        .map(str::trim)
                        .filter(|d| !d.is_empty())
                        .map(|d| d.parse::<usize>().map_err(|_| bad()))
                        .collect::<Result<Vec<_>, _>>()?;
                    shape = Some(dims);
                    after.strip_prefix(')').ok_or_else(bad)?
                }
                _ => return Err(bad()),
            };
            rest = rest.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        match (descr, fortran_order, shape) {
            (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header {
                descr,
                fortran_order,
                shape,
            }),
            _ => Err(bad()),
        }
    }
}

/// A single-quoted Python string at the start of `text`, and what follows it.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\'')?;
    let end = inner.find('\'')?;
    let (value, rest) = inner.split_at(end);
    Some((value, rest.strip_prefix('\'')?))
}

impl Array {
    /// The payload as `f32`s, if the array is `<f4` with exactly this shape.
    pub fn into_f32(self, entry: &str, shape: &[usize]) -> Result<Vec<f32>, NpzError> {
        self.check(entry, "<f4", shape)?;
        Ok(self
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// The payload as bytes, if the array is `|u1` with exactly this shape.
    pub fn into_u8(self, entry: &str, shape: &[usize]) -> Result<Vec<u8>, NpzError> {
        self.check(entry, "|u1", shape)?;
        Ok(self.data)
    }

    /// The value of a 0-d `<f8` array.
    pub fn into_f64_scalar(self, entry: &str) -> Result<f64, NpzError> {
        self.check(entry, "<f8", &[])?;
        let mut le = [0; 8];
        le.copy_from_slice(&self.data);
        Ok(f64::from_le_bytes(le))
    }

    fn check(&self, entry: &str, descr: &'static str, shape: &[usize]) -> Result<(), NpzError> {
        if self.descr != descr || self.shape != shape {
            return Err(NpzError::Shape {
                entry: format!("{entry}.npy"),
                expected: format!("{descr} {shape:?}"),
                found: format!("{} {:?}", self.descr, self.shape),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored (uncompressed) single-entry archive, as `zipfile` writes it.
    fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
        let crc = crc32fast::hash(data);
        let size = data.len() as u32;
        let mut out = Vec::new();
        out.extend(LOCAL_SIGNATURE.to_le_bytes());
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(crc.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        let central = out.len() as u32;
        out.extend(CENTRAL_SIGNATURE.to_le_bytes());
        out.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(crc.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend([0; 12]);
        out.extend(0u32.to_le_bytes());
        out.extend(name.as_bytes());
        let central_len = out.len() as u32 - central;
        out.extend(EOCD_SIGNATURE.to_le_bytes());
        out.extend([0, 0, 0, 0, 1, 0, 1, 0]);
        out.extend(central_len.to_le_bytes());
        out.extend(central.to_le_bytes());
        out.extend([0, 0]);
        out
    }

    fn npy(header: &str, payload: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(payload);
        out
    }

    #[test]
    fn reads_a_stored_array_and_checks_dtype_and_shape() {
        let payload: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let file = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
            &payload,
        );
        let zip = stored_zip("b.npy", &file);
        let archive = Archive::new(&zip).expect("a valid archive");
        let values = archive.array("b").and_then(|a| a.into_f32("b", &[2]));
        assert_eq!(values.expect("an f32 array"), [1.5, -2.0]);
        let wrong = archive.array("b").and_then(|a| a.into_f32("b", &[1, 2]));
        assert!(matches!(wrong, Err(NpzError::Shape { .. })), "{wrong:?}");
        assert!(matches!(archive.array("c"), Err(NpzError::Missing { .. })));
    }

    #[test]
    fn a_flipped_byte_or_a_cut_is_an_error_not_a_panic() {
        let file = npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n",
            &[7, 8, 9],
        );
        let zip = stored_zip("q.npy", &file);
        let mut flipped = zip.clone();
        flipped[30 + 5 + file.len() - 1] ^= 1;
        let archive = Archive::new(&flipped).expect("the directory is intact");
        assert!(matches!(archive.array("q"), Err(NpzError::Checksum { .. })));
        for cut in 0..zip.len() {
            // Every prefix fails cleanly, whatever part it cuts.
            let result = Archive::new(&zip[..cut]).and_then(|a| a.array("q"));
            assert!(result.is_err(), "cut at {cut} was accepted");
        }
    }

    #[test]
    fn npy_headers_numpy_writes() {
        let header = Header::parse("{'descr': '<f8', 'fortran_order': False, 'shape': (), }    \n")
            .expect("a scalar header");
        assert_eq!((header.descr.as_str(), header.shape.len()), ("<f8", 0));
        let header = Header::parse("{'descr': '|u1', 'fortran_order': False, 'shape': (7530, 512), }")
            .expect("a matrix header");
        assert_eq!(header.shape, [7530, 512]);
        assert!(
            Header::parse("{'descr': '<f4', 'shape': (2,)}").is_err(),
            "fortran_order missing"
        );
        assert!(Header::parse("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}").is_err());
    }
}
