//! L2-regularised logistic regression over sparse rows: binary and multinomial, scikit-learn's `lbfgs`
//! objective, fitted with [`crate::lbfgs`].
//!
//! With `n` rows, `C` the inverse regularisation strength and the intercept not penalised, it minimises
//!
//! * binary (one weight vector `w`, labels `y ∈ {0, 1}`, `z = x·w + b`):
//!   `(1/n) Σ [ln(1 + e^z) − y·z] + ‖w‖² / (2·C·n)`
//! * multinomial (`K ≥ 3` weight vectors, `z_k = x·w_k + b_k`):
//!   `(1/n) Σ [ln Σ_k e^{z_k} − z_y] + Σ_k ‖w_k‖² / (2·C·n)`
//!
//! which is scikit-learn's `C·Σ loss + ½‖w‖²` divided by `C·n`: the same minimiser. The loss and gradient
//! are summed over fixed blocks of rows in parallel and the block sums are added in order, so the result does
//! not depend on the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::lbfgs::{self, LbfgsConfig, LbfgsReport};
use crate::sparse::Csr;

/// Number of row blocks of the parallel loss/gradient sum: fixed, so results do not depend on the number of
/// threads; each block needs its own gradient buffer, so more blocks cost memory and a longer final sum.
const BLOCKS: usize = 16;

/// Unfitted logistic-regression settings; [`LogisticConfig::fit`] turns them into a [`LogisticModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticConfig {
    /// Inverse regularisation strength (scikit-learn's `C`), > 0.
    pub c: f64,
    /// Iteration limit of L-BFGS.
    pub max_iter: usize,
    /// Gradient tolerance of L-BFGS (scikit-learn's `tol`).
    pub tol: f64,
}

impl Default for LogisticConfig {
    /// The peer's settings: `C = 1`, `max_iter = 2000`, `tol = 1e-4`.
    fn default() -> Self {
        Self { c: 1.0, max_iter: 2000, tol: 1e-4 }
    }
}

/// Why a fit could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogisticError {
    /// `C` is not a positive finite number.
    #[error("C must be a positive number, got {0}")]
    InvalidC(f64),
    /// `max_iter` is zero or `tol` is not positive.
    #[error("max_iter must be >= 1 and tol > 0 (got {max_iter}, {tol})")]
    InvalidStopping {
        /// Given iteration limit.
        max_iter: usize,
        /// Given tolerance.
        tol: f64,
    },
    /// Fewer than two classes, or labels and rows disagree.
    #[error("need at least two classes with one label per row (got {classes} classes, {labels} labels, {rows} rows)")]
    BadLabels {
        /// Number of classes.
        classes: usize,
        /// Number of labels.
        labels: usize,
        /// Number of rows.
        rows: usize,
    },
}

/// A fitted model: `coef` is feature-major (`coef[f * k + j]` is feature `f`'s weight for output `j`), with
/// `k = 1` output for two classes (the score of class 1) and `k = classes` otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    /// Number of classes (≥ 2).
    pub classes: usize,
    /// Number of features.
    pub features: usize,
    /// Weights, feature-major, `features × outputs()`.
    pub coef: Vec<f64>,
    /// Intercepts, one per output.
    pub intercept: Vec<f64>,
}

/// What the optimiser reported for a fit.
pub type FitReport = LbfgsReport;

impl LogisticConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`LogisticError`] naming the first invalid setting.
    pub fn validate(&self) -> Result<(), LogisticError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(LogisticError::InvalidC(self.c));
        }
        if self.max_iter == 0 || !(self.tol > 0.0) {
            return Err(LogisticError::InvalidStopping { max_iter: self.max_iter, tol: self.tol });
        }
        Ok(())
    }

    /// Fits on rows `x` with class indices `y` (`0..classes`).
    ///
    /// # Errors
    /// [`LogisticError`] for invalid settings or labels.
    pub fn fit(&self, x: &Csr, y: &[u32], classes: usize) -> Result<(LogisticModel, FitReport), LogisticError> {
        self.validate()?;
        if classes < 2 || y.len() != x.rows() || x.rows() == 0 || y.iter().any(|&c| c as usize >= classes) {
            return Err(LogisticError::BadLabels { classes, labels: y.len(), rows: x.rows() });
        }
        let k = outputs(classes);
        let d = x.cols;
        let n = x.rows() as f64;
        let reg = 1.0 / (self.c * n);
        let block_rows = x.rows().div_ceil(BLOCKS).max(1);
        let blocks: Vec<usize> = (0..x.rows()).step_by(block_rows).collect();
        let mut bufs: Vec<Vec<f64>> = blocks.iter().map(|_| vec![0.0; d * k + k]).collect();
        let mut theta = vec![0.0; d * k + k];
        let cfg = LbfgsConfig { max_iter: self.max_iter, gtol: self.tol, ..Default::default() };
        let report = lbfgs::minimize(&cfg, &mut theta, |th, grad| {
            let (w, b) = th.split_at(d * k);
            let losses: Vec<f64> = blocks
                .par_iter()
                .zip(bufs.par_iter_mut())
                .map(|(&lo, g)| {
                    let hi = (lo + block_rows).min(x.rows());
                    g.iter_mut().for_each(|v| *v = 0.0);
                    let mut z = vec![0.0; k];
                    let mut loss = 0.0;
                    if k == 1 {
                        // Binary: one output, so skip the per-nonzero slicing of the general loop.
                        let (w, b0) = (&w[..d], b[0]);
                        let (gw, gb) = g.split_at_mut(d);
                        for r in lo..hi {
                            let (idx, val) = x.row(r);
                            let mut s = b0;
                            for (&c, &v) in idx.iter().zip(val) {
                                s += f64::from(v) * w[c as usize];
                            }
                            let (l, res) = binary_loss_residual(s, y[r] == 1);
                            loss += l;
                            for (&c, &v) in idx.iter().zip(val) {
                                gw[c as usize] += f64::from(v) * res;
                            }
                            gb[0] += res;
                        }
                        return loss;
                    }
                    for r in lo..hi {
                        let (idx, val) = x.row(r);
                        z.copy_from_slice(b);
                        for (&c, &v) in idx.iter().zip(val) {
                            let wc = &w[c as usize * k..c as usize * k + k];
                            z.iter_mut().zip(wc).for_each(|(zj, wj)| *zj += f64::from(v) * wj);
                        }
                        loss += residuals(&mut z, y[r] as usize);
                        for (&c, &v) in idx.iter().zip(val) {
                            let gc = &mut g[c as usize * k..c as usize * k + k];
                            gc.iter_mut().zip(&z).for_each(|(gj, rj)| *gj += f64::from(v) * rj);
                        }
                        g[d * k..].iter_mut().zip(&z).for_each(|(gj, rj)| *gj += rj);
                    }
                    loss
                })
                .collect();
            grad.iter_mut().for_each(|v| *v = 0.0);
            let loss: f64 = losses.iter().sum();
            for g in &bufs {
                grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            }
            grad.iter_mut().for_each(|v| *v /= n);
            grad[..d * k].iter_mut().zip(w).for_each(|(gj, wj)| *gj += reg * wj);
            loss / n + 0.5 * reg * w.iter().map(|v| v * v).sum::<f64>()
        });
        let intercept = theta.split_off(d * k);
        Ok((LogisticModel { classes, features: d, coef: theta, intercept }, report))
    }
}

/// Outputs of the linear layer: 1 for two classes, else one per class.
pub fn outputs(classes: usize) -> usize {
    if classes == 2 { 1 } else { classes }
}

/// Binary log-loss `ln(1 + e^s) − y·s` and residual `σ(s) − y`, from one `exp` and one `ln_1p`.
#[inline]
fn binary_loss_residual(s: f64, positive: bool) -> (f64, f64) {
    let e = (-s.abs()).exp();
    let softplus = s.max(0.0) + e.ln_1p();
    let p = if s >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    if positive { (softplus - s, p - 1.0) } else { (softplus, p) }
}

/// Turns scores `z` into `p − onehot(y)` in place and returns the row's log-loss (multinomial).
#[inline]
fn residuals(z: &mut [f64], y: usize) -> f64 {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f64 = z.iter().map(|v| (v - m).exp()).sum();
    let lse = m + sum.ln();
    let loss = lse - z[y];
    z.iter_mut().for_each(|v| *v = (*v - lse).exp());
    z[y] -= 1.0;
    loss
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) }
}

impl LogisticModel {
    /// Number of linear outputs (1 for binary).
    pub fn outputs(&self) -> usize {
        outputs(self.classes)
    }

    /// Class probabilities for one sparse row given as `(feature, value)` pairs, written into `probs`
    /// (resized to `classes`).
    pub fn predict_proba_row(&self, row: &[(u32, f32)], probs: &mut Vec<f64>) {
        let k = self.outputs();
        probs.clear();
        probs.extend_from_slice(&self.intercept);
        for &(f, v) in row {
            let wc = &self.coef[f as usize * k..f as usize * k + k];
            probs.iter_mut().zip(wc).for_each(|(p, w)| *p += f64::from(v) * w);
        }
        if k == 1 {
            let p1 = sigmoid(probs[0]);
            probs.clear();
            probs.extend_from_slice(&[1.0 - p1, p1]);
        } else {
            let m = probs.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            probs.iter_mut().for_each(|p| *p = (*p - m).exp());
            let s: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= s);
        }
    }

    /// Weight of feature `f` towards class `class` (for two classes, towards class 1; class 0 gets the
    /// negation), used to explain predictions.
    pub fn weight(&self, f: usize, class: usize) -> f64 {
        let k = self.outputs();
        if k == 1 {
            let w = self.coef[f];
            if class == 1 { w } else { -w }
        } else {
            self.coef[f * k + class]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Csr, Vec<u32>) {
        let rows = vec![
            vec![1.0, 0.0, 0.2],
            vec![0.9, 0.1, 0.0],
            vec![0.0, 1.0, 0.3],
            vec![0.1, 0.8, 0.0],
            vec![0.5, 0.5, 1.0],
            vec![0.0, 0.2, 0.9],
        ];
        (Csr::from_dense(&rows, 3), vec![1, 1, 0, 0, 1, 0])
    }

    #[test]
    fn binary_gradient_is_zero_at_optimum() {
        let (x, y) = toy();
        let cfg = LogisticConfig { tol: 1e-10, ..Default::default() };
        let (m, r) = cfg.fit(&x, &y, 2).unwrap();
        assert!(r.converged && r.grad_max <= 1e-8, "{r:?}");
        // hand-check stationarity of the sklearn objective with a finite difference on the intercept
        let f = |b: f64| {
            let n = 6.0;
            let mut l = 0.0;
            for r in 0..6 {
                let z = x.row_dot(r, &m.coef) + b;
                l += (1.0 + z.exp()).ln() - f64::from(y[r]) * z;
            }
            l / n
        };
        let h = 1e-6;
        assert!(((f(m.intercept[0] + h) - f(m.intercept[0] - h)) / (2.0 * h)).abs() < 1e-6);
        let mut p = Vec::new();
        m.predict_proba_row(&[(0, 1.0)], &mut p);
        assert!(p[1] > 0.5 && (p[0] + p[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn multinomial_probabilities_sum_to_one() {
        let (x, _) = toy();
        let y = vec![0, 0, 1, 1, 2, 2];
        let (m, r) = LogisticConfig::default().fit(&x, &y, 3).unwrap();
        assert!(r.converged);
        assert_eq!(m.coef.len(), 9);
        let mut p = Vec::new();
        m.predict_proba_row(&[(2, 1.0)], &mut p);
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > p[0] && p[2] > p[1]);
    }

    #[test]
    fn rejects_bad_settings_and_labels() {
        let (x, y) = toy();
        assert_eq!(LogisticConfig { c: 0.0, ..Default::default() }.fit(&x, &y, 2).unwrap_err(), LogisticError::InvalidC(0.0));
        assert!(LogisticConfig::default().fit(&x, &y[..3], 2).is_err());
        assert!(LogisticConfig::default().fit(&x, &y, 1).is_err());
        assert!(LogisticConfig { max_iter: 0, ..Default::default() }.fit(&x, &y, 2).is_err());
    }

    #[test]
    fn fit_is_bitwise_deterministic_across_thread_counts() {
        let rows: Vec<Vec<f64>> = (0..5000).map(|i| (0..8).map(|j| (((i * 7 + j * 13) % 11) as f64) / 10.0).collect()).collect();
        let x = Csr::from_dense(&rows, 8);
        let y: Vec<u32> = (0..5000).map(|i| u32::from(i % 3 == 0)).collect();
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| LogisticConfig::default().fit(&x, &y, 2).unwrap().0)
        };
        assert_eq!(fit(1), fit(3));
    }
}
