//! Measures why Polarity does not train with linfa-logistic: the same objective fitted densely by linfa and
//! sparsely by Polarity on the first N SST-2 sentences with M features.
//!
//! `cargo run --release -p polarity-core --example linfa_vs_sparse -- ../shared/data/sst2/train.tsv 10000 5000`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use polarity_core::logistic::LogisticConfig;
use polarity_core::reader::{ReadOptions, read_path};
use polarity_core::text::{CleanConfig, clean};
use polarity_core::tfidf::{Tfidf, TfidfConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map_or("../shared/data/sst2/train.tsv", String::as_str);
    let n: usize = args.get(2).map_or(10_000, |v| v.parse().unwrap());
    let m: usize = args.get(3).map_or(5_000, |v| v.parse().unwrap());
    let t = read_path(path.as_ref(), &ReadOptions::default()).unwrap();
    let docs: Vec<String> = t
        .texts
        .iter()
        .take(n)
        .map(|d| clean(d, &CleanConfig::default()))
        .collect();
    let y: Vec<u32> = t
        .labels
        .iter()
        .take(n)
        .map(|&i| u32::from(t.label_values[i as usize] == "1"))
        .collect();
    let (_, x) = Tfidf::fit_transform(
        &TfidfConfig {
            max_features: Some(m),
            ..Default::default()
        },
        &docs,
    )
    .unwrap();
    let t0 = Instant::now();
    let (ours, rep) = LogisticConfig::default().fit(&x, &y, 2).unwrap();
    let sparse_s = t0.elapsed().as_secs_f64();
    let csr = x.to_csr();
    let t0 = Instant::now();
    let mut dense = Array2::<f64>::zeros((docs.len(), m.min(x.cols())));
    for r in 0..csr.rows() {
        let (idx, val) = csr.row(r);
        for (&c, &v) in idx.iter().zip(val) {
            dense[[r, c as usize]] = f64::from(v);
        }
    }
    let targets = Array1::from(y.iter().map(|&v| v as usize).collect::<Vec<_>>());
    let fitted = LogisticRegression::default()
        .alpha(1.0)
        .gradient_tolerance(1e-4)
        .max_iterations(2000)
        .fit(&Dataset::new(dense, targets))
        .unwrap();
    let dense_s = t0.elapsed().as_secs_f64();
    let sign = if fitted.labels().pos.class == 1 {
        1.0
    } else {
        -1.0
    };
    let max_diff = fitted
        .params()
        .iter()
        .zip(&ours.coef)
        .map(|(a, b)| (sign * a - b).abs())
        .fold(0.0, f64::max);
    let bytes = (docs.len() * x.cols() * 8) as f64 / 1e6;
    println!(
        "{} docs x {} features: dense matrix {bytes:.0} MB; linfa-logistic {dense_s:.1} s; Polarity sparse L-BFGS {sparse_s:.3} s ({} iterations); {:.0}x; max |coef diff| {max_diff:.2e}",
        docs.len(),
        x.cols(),
        rep.iterations,
        dense_s / sparse_s
    );
}
