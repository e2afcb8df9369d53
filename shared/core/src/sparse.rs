//! A minimal compressed-sparse-row matrix: what TF-IDF produces and logistic regression consumes.

/// Compressed sparse rows with `f32` values and `u32` column indices (column indices sorted within a row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    /// Row `r` spans `indptr[r]..indptr[r + 1]` in `indices` and `values`; `indptr.len() == rows + 1`.
    pub indptr: Vec<usize>,
    /// Column of each stored value.
    pub indices: Vec<u32>,
    /// The stored values.
    pub values: Vec<f32>,
    /// Number of columns.
    pub cols: usize,
}

impl Csr {
    /// An empty matrix with `cols` columns and no rows.
    pub fn new(cols: usize) -> Self {
        Self { indptr: vec![0], indices: Vec::new(), values: Vec::new(), cols }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored values.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Appends one row given as `(column, value)` pairs sorted by column.
    pub fn push_row(&mut self, row: &[(u32, f32)]) {
        for &(c, v) in row {
            self.indices.push(c);
            self.values.push(v);
        }
        self.indptr.push(self.indices.len());
    }

    /// Row `r` as parallel slices of columns and values.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Dot product of row `r` with a dense vector `w` (`w.len() >= cols`).
    #[inline]
    pub fn row_dot(&self, r: usize, w: &[f64]) -> f64 {
        let (idx, val) = self.row(r);
        idx.iter().zip(val).map(|(&c, &v)| f64::from(v) * w[c as usize]).sum()
    }

    /// The rows `lo..hi` as a dense row-major matrix (for tests and small oracles).
    pub fn to_dense(&self) -> Vec<Vec<f64>> {
        (0..self.rows())
            .map(|r| {
                let mut d = vec![0.0; self.cols];
                let (idx, val) = self.row(r);
                for (&c, &v) in idx.iter().zip(val) {
                    d[c as usize] = f64::from(v);
                }
                d
            })
            .collect()
    }

    /// Builds a CSR matrix from dense rows, keeping the non-zero entries.
    pub fn from_dense(rows: &[Vec<f64>], cols: usize) -> Self {
        let mut m = Self::new(cols);
        for r in rows {
            let row: Vec<(u32, f32)> =
                r.iter().enumerate().filter(|(_, v)| **v != 0.0).map(|(c, v)| (c as u32, *v as f32)).collect();
            m.push_row(&row);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_dense() {
        let d = vec![vec![0.0, 1.5, 0.0], vec![0.0, 0.0, 0.0], vec![2.0, 0.0, -1.0]];
        let m = Csr::from_dense(&d, 3);
        assert_eq!(m.rows(), 3);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.to_dense(), d);
        assert_eq!(m.row_dot(2, &[1.0, 5.0, 2.0]), 0.0);
        assert_eq!(m.row_dot(0, &[1.0, 2.0, 3.0]), 3.0);
    }
}
