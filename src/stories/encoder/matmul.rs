//! `C = A · B` for row-major `f32` matrices, through `matrixmultiply`
//! (bluss's pure-Rust GEMM: packed panels, AVX-512/AVX2+FMA kernels chosen at
//! run time). Hand-written loops were tried first, but this crate's own dev
//! profile is unoptimised and there they made the reference test take over
//! five minutes; a dependency is built at opt-level 1 (Cargo.toml).

/// A row-major `rows × cols` weight matrix.
#[derive(Debug)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    values: Vec<f32>,
}

impl Matrix {
    /// `values` holds `rows × cols` values, row after row.
    pub fn new(values: Vec<f32>, rows: usize, cols: usize) -> Matrix {
        assert_eq!(values.len(), rows * cols, "matrix shape");
        Matrix { rows, cols, values }
    }
}

/// `c = a · b` where `a` is `m × b.rows` and `c` is `m × b.cols`, both
/// row-major; `c` is overwritten.
pub fn matmul(a: &[f32], b: &Matrix, c: &mut [f32]) {
    let (k, n) = (b.rows, b.cols);
    let m = a.len() / k.max(1);
    assert!(
        a.len() == m * k && c.len() == m * n,
        "matmul shapes: a has {} values for k = {k}, c {} for n = {n}",
        a.len(),
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    // Strides of a row-major matrix: a row is `cols` values apart.
    let stride = |cols: usize| cols as isize;
    // SAFETY: `a` holds m × k values, `b.values` k × n and `c` m × n (checked
    // above and in `Matrix::new`), each read with row stride = its width and
    // column stride 1, so every access is in bounds; `c` is a unique borrow,
    // distinct from `a` and `b`. With beta = 0, `c` is written, not read.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            stride(k),
            1,
            b.values.as_ptr(),
            stride(n),
            1,
            0.0,
            c.as_mut_ptr(),
            stride(n),
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_the_textbook_product_on_ragged_shapes() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (9, 17, 33), (4, 16, 16), (13, 64, 40)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 * 0.25 - 1.5).collect();
            let mut c = vec![f32::NAN; m * n];
            matmul(&a, &Matrix::new(b.clone(), k, n), &mut c);
            // Small integers and quarters: every partial sum is exact.
            assert_eq!(c, naive(&a, &b, m, k, n), "{m}×{k}·{k}×{n}");
        }
    }
}
