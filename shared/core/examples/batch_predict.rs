//! In-process batch prediction throughput, the figure the peer's `bench_inference.py` reports for
//! scikit-learn (`vec.transform(texts)` + `clf.predict`): loads a model, reads one text per line, predicts them
//! all on every core (median of 3 passes), prints one `BATCH {json}` line.
//!
//! `cargo run --release -p polarity-core --example batch_predict -- MODEL.plm TEXTS.txt`

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use polarity_core::model::PredictScratch;
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t0 = Instant::now();
    let model = polarity_core::artifact::decode(&std::fs::read(&args[1]).unwrap()).unwrap();
    let load_s = t0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&args[2]).unwrap();
    let texts: Vec<&str> = text.lines().collect();
    let mut runs = Vec::new();
    let mut positives = 0;
    for _ in 0..3 {
        let t0 = Instant::now();
        positives = texts
            .par_iter()
            .map_init(PredictScratch::default, |s, t| model.predict_into(t, s).0)
            .filter(|&c| c == 1)
            .count();
        runs.push(t0.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "BATCH {{\"n_texts\": {}, \"total_s\": {:.4}, \"preds_per_s\": {:.0}, \"load_s\": {:.5}, \"class1\": {}, \"threads\": {}}}",
        texts.len(),
        runs[1],
        texts.len() as f64 / runs[1],
        load_s,
        positives,
        rayon::current_num_threads()
    );
}
