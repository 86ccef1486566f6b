//! Deflate for the store's large values (flate2 on zlib-rs, already built
//! for feed decoding): bodies, sent digests and seen sets are kept deflated
//! since schema 6, because sled keeps every live byte several times over.

use std::io::{Read as _, Write as _};

/// An inflated value larger than this is taken for corruption, not read.
const INFLATED_LIMIT: u64 = 64 << 20;

/// `header` followed by `raw` deflated at the fastest level (a poll writes
/// every new body once); `None` if the encoder fails, which writing to
/// memory does not, and the caller then keeps `raw` as it is.
pub(super) fn deflate(header: &[u8], raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(header.len() + raw.len() / 2 + 8);
    out.extend_from_slice(header);
    let mut deflater = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    deflater.write_all(raw).ok()?;
    deflater.finish().ok()
}

/// What [`deflate`] wrote after its header.
pub(super) fn inflate(deflated: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::with_capacity(deflated.len().saturating_mul(3));
    flate2::read::DeflateDecoder::new(deflated)
        .take(INFLATED_LIMIT + 1)
        .read_to_end(&mut raw)
        .map_err(|err| format!("does not inflate: {err}"))?;
    if raw.len() as u64 > INFLATED_LIMIT {
        return Err(format!("inflates to more than {INFLATED_LIMIT} bytes"));
    }
    Ok(raw)
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
}
