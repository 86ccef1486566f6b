//! Deflate for the store's large values (flate2 on zlib-rs, already built
//! for feed decoding): bodies, sent digests and seen sets are kept deflated
//! since schema 6, because sled keeps every live byte several times over.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// An inflated value larger than this is taken for corruption, not read.
const INFLATED_LIMIT: u64 = 64 << 20;

// One compressor and one decompressor per thread, reset for each value: a
// fresh deflate state is a few hundred KB, and allocating one per value
// (every body and feed state of a poll) left glibc's arenas holding tens of
// MB (a warm poll peaked at 127 MB instead of 32; docs/benchmarks.md).
thread_local! {
    static COMPRESS: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static DECOMPRESS: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `header` followed by `raw` deflated at the fastest level (a poll writes
/// every new body once); `None` if the encoder fails, which writing to
/// memory does not, and the caller then keeps `raw` as it is.
pub(super) fn deflate(header: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
    COMPRESS.with(|cell| {
        let mut compress = cell.try_borrow_mut().ok()?;
        compress.reset();
        let mut out = Vec::with_capacity(header.len() + raw.len() / 2 + 64);
        out.extend_from_slice(header);
        loop {
            let consumed = usize::try_from(compress.total_in()).ok()?;
            let status = compress
                .compress_vec(raw.get(consumed..)?, &mut out, FlushCompress::Finish)
                .ok()?;
            match status {
                Status::StreamEnd => return Some(out),
                // The output is full: room for more.
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
            }
        }
    })
}

/// What [`deflate`] wrote after its header.
pub(super) fn inflate(deflated: &[u8]) -> Result<Vec<u8>, String> {
    DECOMPRESS.with(|cell| {
        let mut decompress = cell
            .try_borrow_mut()
            .map_err(|_| "the decompressor is in use".to_owned())?;
        decompress.reset(false);
        let mut raw = Vec::with_capacity(deflated.len().saturating_mul(3).max(64));
        loop {
            let consumed = usize::try_from(decompress.total_in()).unwrap_or(usize::MAX);
            let rest = deflated.get(consumed..).unwrap_or_default();
            let status = decompress
                .decompress_vec(rest, &mut raw, FlushDecompress::Finish)
                .map_err(|err| format!("does not inflate: {err}"))?;
            if raw.len() as u64 > INFLATED_LIMIT {
                return Err(format!("inflates to more than {INFLATED_LIMIT} bytes"));
            }
            match status {
                Status::StreamEnd => return Ok(raw),
                // Room left in the output, yet no end: the stream is cut short.
                _ if raw.len() < raw.capacity() && decompress.total_in() as usize == deflated.len() => {
                    return Err("does not inflate: the stream is cut short".to_owned());
                }
                Status::Ok | Status::BufError => raw.reserve(raw.capacity().max(64)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_deflated_inflates_to_itself_and_a_cut_stream_is_an_error() {
        let raw = "央行宣布下调存款准备金率。The central bank cut the reserve ratio. ".repeat(50);
        let stored = deflate(&[7], raw.as_bytes()).unwrap();
        assert_eq!(stored[0], 7);
        assert!(stored.len() * 5 < raw.len(), "{} of {}", stored.len(), raw.len());
        assert_eq!(inflate(&stored[1..]).unwrap(), raw.as_bytes());
        assert!(inflate(&stored[1..stored.len() / 2]).is_err());
    }

    #[test]
    fn the_reused_state_carries_nothing_from_one_value_to_the_next() {
        let values: Vec<String> = (0..50).map(|n| format!("{n} 新闻 ").repeat(n * 40 + 1)).collect();
        let stored: Vec<Vec<u8>> = values
            .iter()
            .map(|v| deflate(&[], v.as_bytes()).unwrap())
            .collect();
        // A cut value in between leaves the next one readable.
        assert!(inflate(&stored[49][..stored[49].len() - 3]).is_err());
        for (value, stored) in values.iter().zip(&stored).rev() {
            assert_eq!(inflate(stored).unwrap(), value.as_bytes());
        }
        assert_eq!(inflate(&deflate(&[], b"").unwrap()).unwrap(), b"");
    }
}
