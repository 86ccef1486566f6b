//! A title's embedding as it is kept with its article: 8 bits a component
//! and one scale (520 bytes instead of 2 KB of f32), and a tag of the text
//! it encodes, so a vector never outlives the title it was made from (an
//! article whose title was edited is encoded again). Pure.
//!
//! Folding always uses the unpacked form, also for a title encoded a moment
//! ago, so a digest folds the same whether its vectors were stored at poll
//! time or made while it was built.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::encoder::{DIM, Embedding};

/// Bytes of the stored form: tag (4), scale (4), components (512).
const BYTES: usize = 8 + DIM;

#[derive(Clone, PartialEq)]
pub struct Packed {
    tag: u32,
    scale: f32,
    components: Box<[i8; DIM]>,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({:08x}, scale {})", self.tag, self.scale)
    }
}

/// Which text a vector encodes: 32 bits of FNV-1a, enough to notice an
/// edited title (a collision only keeps an older vector of that article).
fn tag(text: &str) -> u32 {
    let hash = crate::fnv::fnv1a(text.bytes());
    (hash ^ (hash >> 32)) as u32
}

impl Packed {
    /// `embedding` (of `text`) in 8 bits a component, scaled to its largest.
    pub fn of(text: &str, embedding: &Embedding) -> Packed {
        let largest = embedding.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        let mut components = Box::new([0i8; DIM]);
        for (q, v) in components.iter_mut().zip(embedding) {
            // In range by construction: |v| ≤ largest = 127 · scale.
            *q = (v / scale).round().clamp(-127.0, 127.0) as i8;
        }
        Packed {
            tag: tag(text),
            scale,
            components,
        }
    }

    /// Whether this is the vector of `text`.
    pub fn is_of(&self, text: &str) -> bool {
        self.tag == tag(text)
    }

    /// The vector back, at length 1 again (folding compares by dot product).
    pub fn embedding(&self) -> Embedding {
        let mut out = [0.0f32; DIM];
        for (o, q) in out.iter_mut().zip(self.components.iter()) {
            *o = f32::from(*q) * self.scale;
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|v| *v /= norm);
        }
        out
    }

    /// An embedding as folding sees it: packed and unpacked.
    pub fn round_trip(embedding: &Embedding) -> Embedding {
        Packed::of("", embedding).embedding()
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(BYTES);
        bytes.extend_from_slice(&self.tag.to_be_bytes());
        bytes.extend_from_slice(&self.scale.to_be_bytes());
        bytes.extend(self.components.iter().map(|q| q.to_be_bytes()[0]));
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Packed> {
        if bytes.len() != BYTES {
            return None;
        }
        let (head, rest) = bytes.split_at(8);
        let tag = u32::from_be_bytes(head[..4].try_into().ok()?);
        let scale = f32::from_be_bytes(head[4..].try_into().ok()?);
        if !scale.is_finite() || scale <= 0.0 {
            return None;
        }
        let mut components = Box::new([0i8; DIM]);
        for (q, b) in components.iter_mut().zip(rest) {
            *q = i8::from_be_bytes([*b]);
        }
        Some(Packed {
            tag,
            scale,
            components,
        })
    }
}

/// Stored as base64 text (696 characters): records are JSON.
impl Serialize for Packed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD_NO_PAD.encode(self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Packed, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = STANDARD_NO_PAD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("a title's vector is not base64: {e}")))?;
        Packed::from_bytes(&bytes).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "a title's vector has {} bytes or a bad scale, not {BYTES} bytes",
                bytes.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stories::embedding_cosine;

    /// A unit vector with components of very different sizes, as the
    /// encoder's are (a few large, most small), from a fixed seed.
    fn vector(seed: u64) -> Embedding {
        let mut state = seed;
        let mut out = [0.0f32; DIM];
        for (i, v) in out.iter_mut().enumerate() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
            *v = if i % 61 == 0 { u * 3.0 } else { u };
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        out.map(|v| v / norm)
    }

    #[test]
    fn packing_keeps_the_direction_and_cosines_between_vectors() {
        for seed in 1..50u64 {
            let (a, b) = (vector(seed), vector(seed * 7919));
            let (pa, pb) = (Packed::round_trip(&a), Packed::round_trip(&b));
            assert!(embedding_cosine(&a, &pa) > 0.9999, "seed {seed}");
            let norm: f32 = pa.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-5);
            let drift = (embedding_cosine(&a, &b) - embedding_cosine(&pa, &pb)).abs();
            assert!(drift < 3e-3, "seed {seed}: cosine moved by {drift}");
        }
    }

    #[test]
    fn the_stored_form_reads_back_as_the_same_vector_of_the_same_text() {
        let packed = Packed::of("央行宣布降准50个基点", &vector(3));
        let json = serde_json::to_string(&packed).unwrap();
        assert_eq!(json.len(), 2 + 694);
        let back: Packed = serde_json::from_str(&json).unwrap();
        assert_eq!(back, packed);
        assert_eq!(back.embedding(), packed.embedding());
        assert!(back.is_of("央行宣布降准50个基点"));
        assert!(!back.is_of("央行宣布降准25个基点"));
    }

    #[test]
    fn a_damaged_stored_vector_is_an_error_not_a_vector() {
        let packed = Packed::of("t", &vector(5));
        let mut bytes = packed.to_bytes();
        bytes.pop();
        let short = serde_json::to_string(&STANDARD_NO_PAD.encode(&bytes)).unwrap();
        let err = serde_json::from_str::<Packed>(&short).unwrap_err().to_string();
        assert!(err.contains("519 bytes"), "{err}");
        assert!(serde_json::from_str::<Packed>("\"not base64!\"").is_err());
        let mut zero_scale = packed.to_bytes();
        zero_scale[4..8].copy_from_slice(&0f32.to_be_bytes());
        let zero_scale = serde_json::to_string(&STANDARD_NO_PAD.encode(&zero_scale)).unwrap();
        assert!(serde_json::from_str::<Packed>(&zero_scale).is_err());
    }
}
