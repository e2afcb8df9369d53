//! linfa-logistic as the test oracle: on small dense data, Polarity's sparse L-BFGS and linfa-logistic
//! (dense, argmin L-BFGS) minimise the same objective and must agree on the coefficients.
//!
//! linfa minimises `Σ loss + (α/2)‖w‖²`; with `α = 1/C` that is scikit-learn's `C·Σ loss + ½‖w‖²` divided by
//! `C`, the objective Polarity uses (divided by `C·n`): the same minimiser.

#![allow(clippy::unwrap_used)]

use linfa::prelude::*;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};
use polarity_core::logistic::LogisticConfig;
use polarity_core::sparse::Csr;

/// Deterministic pseudo-random data with a planted linear signal and ~half the entries zero.
fn data(rows: usize, cols: usize, classes: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Vec::new();
    let mut y = Vec::new();
    for _ in 0..rows {
        let row: Vec<f64> = (0..cols)
            .map(|_| {
                if next() < 0.5 {
                    0.0
                } else {
                    next() * 2.0 - 0.5
                }
            })
            .collect();
        let score: Vec<f64> = (0..classes)
            .map(|k| {
                row.iter()
                    .enumerate()
                    .map(|(j, v)| v * (((j + k * 3) % 5) as f64 - 2.0))
                    .sum::<f64>()
                    + next()
            })
            .collect();
        let best = (0..classes).fold(0, |b, k| if score[k] > score[b] { k } else { b });
        x.push(row);
        y.push(best);
    }
    (x, y)
}

fn dense(x: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((x.len(), x[0].len()), |(i, j)| x[i][j])
}

#[test]
fn binary_coefficients_match_linfa() {
    let (x, y) = data(300, 12, 2);
    for c in [0.1, 1.0, 10.0] {
        let oracle = LogisticRegression::default()
            .alpha(1.0 / c)
            .gradient_tolerance(1e-10)
            .max_iterations(2000)
            .fit(&Dataset::new(dense(&x), Array1::from(y.clone())))
            .unwrap();
        let sign = if oracle.labels().pos.class == 1 {
            1.0
        } else {
            -1.0
        };
        let cfg = LogisticConfig {
            c,
            tol: 1e-10,
            max_iter: 5000,
            ..LogisticConfig::scikit_learn()
        };
        let yy: Vec<u32> = y.iter().map(|&v| v as u32).collect();
        let (ours, report) = cfg.fit(&Csr::from_dense(&x, 12), &yy, 2).unwrap();
        assert!(report.converged, "C={c}: {report:?}");
        for (j, w) in oracle.params().iter().enumerate() {
            assert!(
                (sign * w - ours.coef[j]).abs() < 1e-4 * (1.0 + w.abs()),
                "C={c} w[{j}]: linfa {} ours {}",
                sign * w,
                ours.coef[j]
            );
        }
        let b = sign * oracle.intercept();
        assert!(
            (b - ours.intercept[0]).abs() < 1e-4 * (1.0 + b.abs()),
            "C={c} intercept: linfa {b} ours {}",
            ours.intercept[0]
        );
    }
}

#[test]
fn multinomial_coefficients_match_linfa() {
    let (x, y) = data(300, 10, 3);
    let c = 1.0;
    let oracle = MultiLogisticRegression::default()
        .alpha(1.0 / c)
        .gradient_tolerance(1e-10)
        .max_iterations(3000)
        .fit(&Dataset::new(dense(&x), Array1::from(y.clone())))
        .unwrap();
    assert_eq!(oracle.classes(), &[0, 1, 2]);
    let yy: Vec<u32> = y.iter().map(|&v| v as u32).collect();
    let (ours, report) = LogisticConfig {
        c,
        tol: 1e-10,
        max_iter: 5000,
        ..LogisticConfig::scikit_learn()
    }
    .fit(&Csr::from_dense(&x, 10), &yy, 3)
    .unwrap();
    assert!(report.converged, "{report:?}");
    let w = oracle.params(); // n_features × n_classes
    for f in 0..10 {
        for k in 0..3 {
            let (a, b) = (w[[f, k]], ours.coef[f * 3 + k]);
            assert!(
                (a - b).abs() < 1e-4 * (1.0 + a.abs()),
                "w[{f},{k}]: linfa {a} ours {b}"
            );
        }
    }
    // Unpenalised intercepts are defined up to a common shift: compare them centred.
    let centre = |v: &[f64]| -> Vec<f64> {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - m).collect()
    };
    let (a, b) = (
        centre(oracle.intercept().as_slice().unwrap()),
        centre(&ours.intercept),
    );
    for k in 0..3 {
        assert!(
            (a[k] - b[k]).abs() < 1e-4 * (1.0 + a[k].abs()),
            "b[{k}]: linfa {} ours {}",
            a[k],
            b[k]
        );
    }
}
