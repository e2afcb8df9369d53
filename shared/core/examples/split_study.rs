//! What the near-duplicate split key changes on SST-2 (the numbers quoted in docs/pipeline.md and the bench
//! notes): `cargo run --release -p polarity-core --example split_study -- ../shared/data/sst2`.
//!
//! Compares the split by a hash of the cleaned text (before) with the split by a hash of the sorted
//! distinct words ([`polarity_core::prepare::split_key`], now): how many rows change side, how many groups
//! of near duplicates (different texts, same words) straddled the split before, and the held-out and dev
//! accuracy of a default model trained under each rule.

use std::collections::HashMap;

use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::prepare::{PreparedRow, Row, labelled, prepare, split_key};
use polarity_core::reader::{ReadOptions, read_path};
use polarity_core::split;
use polarity_core::train::{ValidTrainConfig, evaluate, train};

fn rows(path: &std::path::Path) -> Vec<Row> {
    let t = read_path(path, &ReadOptions::default()).expect("readable SST-2 file");
    let scheme = LabelScheme::detect(t.label_values.iter().map(String::as_str));
    t.texts
        .iter()
        .zip(&t.labels)
        .map(|(text, &l)| Row {
            text: text.clone(),
            label: scheme
                .normalize(&t.label_values[l as usize])
                .expect("0/1 labels"),
        })
        .collect()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/sst2".into());
    let dir = std::path::Path::new(&dir);
    let cfg = ValidTrainConfig::default();
    let prepared = prepare(rows(&dir.join("train.tsv")), &cfg.clean).rows;
    let dev = prepare(rows(&dir.join("dev.tsv")), &cfg.clean).rows;
    let f = 0.2;
    // the rule before split keys: the whole cleaned text's hash
    let old = |r: &PreparedRow| split::is_test_hash(split::fnv1a64(r.clean.as_bytes()), f);
    let new = |r: &PreparedRow| polarity_core::prepare::is_test(&r.clean, f);
    let changed = prepared.iter().filter(|r| old(r) != new(r)).count();
    let mut groups: HashMap<String, Vec<&PreparedRow>> = HashMap::new();
    for r in &prepared {
        groups.entry(split_key(&r.clean)).or_default().push(r);
    }
    let near: Vec<&Vec<&PreparedRow>> = groups.values().filter(|g| g.len() > 1).collect();
    let near_rows: usize = near.iter().map(|g| g.len()).sum();
    let straddled = near
        .iter()
        .filter(|g| g.iter().any(|r| old(r)) && g.iter().any(|r| !old(r)))
        .count();
    println!(
        "SST-2 train: {} rows after cleaning and de-duplication; {} near-duplicate groups ({} rows: same words, other order or repeats)",
        prepared.len(),
        near.len(),
        near_rows
    );
    println!(
        "split by cleaned text: {straddled} of those groups straddled train/test; by word set: 0 (by construction)"
    );
    println!(
        "rows that change side: {changed} ({:.2}%)",
        100.0 * changed as f64 / prepared.len() as f64
    );
    for (name, is_test) in [
        ("cleaned text", &old as &dyn Fn(&PreparedRow) -> bool),
        ("word set", &new),
    ] {
        let (te, tr): (Vec<PreparedRow>, Vec<PreparedRow>) =
            prepared.iter().cloned().partition(|r| is_test(r));
        let labels = Labels::from_names(tr.iter().map(|r| r.label.as_str()));
        let (trl, _) = labelled(&tr, &labels);
        let (tel, _) = labelled(&te, &labels);
        let (model, _) =
            train(&cfg, &trl, &tel, labels.clone(), LabelScheme::Names).expect("trains");
        let (devl, _) = labelled(&dev, &labels);
        let d = evaluate(&model, &devl);
        let h = model.meta.metrics.as_ref().expect("held-out metrics");
        println!(
            "split by {name:<12}: train {} / held out {} rows; held-out accuracy {:.4}, SST-2 dev accuracy {:.4}",
            tr.len(),
            te.len(),
            h.accuracy,
            d.accuracy
        );
    }
}
