//! What `--tune` does on SST-2 (the numbers quoted in docs/cli.md): `cargo run --release -p polarity-core
//! --example tune_study -- ../shared/data/sst2`. Cross-validates C and sublinear tf on train.tsv with each
//! fold key, trains the chosen setting on all of train.tsv and scores dev.tsv, beside the default setting.

use polarity_core::labels::{LabelScheme, Labels};
use polarity_core::prepare::{Row, labelled, prepare};
use polarity_core::reader::{ReadOptions, read_path};
use polarity_core::train::{ValidTrainConfig, evaluate, train};
use polarity_core::tune::{FoldKey, TuneGrid, tune};

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
    let tr = prepare(rows(&dir.join("train.tsv")), &cfg.clean).rows;
    let dev = prepare(rows(&dir.join("dev.tsv")), &cfg.clean).rows;
    let labels = Labels::from_names(tr.iter().map(|r| r.label.as_str()));
    let (train_rows, _) = labelled(&tr, &labels);
    let (dev_rows, _) = labelled(&dev, &labels);
    let score = |c: &ValidTrainConfig| {
        let (m, _) = train(
            c,
            &train_rows,
            &Default::default(),
            labels.clone(),
            LabelScheme::Names,
        )
        .expect("trains");
        evaluate(&m, &dev_rows)
    };
    let d = score(&cfg);
    println!(
        "defaults: dev accuracy {:.4}, macro-F1 {:.4}",
        d.accuracy, d.macro_f1
    );
    for key in [FoldKey::RarestWord, FoldKey::Container] {
        let t0 = std::time::Instant::now();
        let grid = TuneGrid {
            fold_key: key,
            ..TuneGrid::default()
        };
        let (chosen, t) = tune(
            &cfg,
            &train_rows.texts,
            &train_rows.classes,
            labels.names(),
            &grid,
        )
        .expect("tunes");
        let secs = t0.elapsed().as_secs_f64();
        let m = score(&chosen);
        let cv: Vec<String> = t
            .scores
            .iter()
            .map(|s| {
                format!(
                    "C{}{}{} {:.4}",
                    s.c,
                    if s.sublinear_tf { "s" } else { "" },
                    if s.class_weight.as_str() == "balanced" {
                        "b"
                    } else {
                        ""
                    },
                    s.macro_f1
                )
            })
            .collect();
        println!(
            "fold key {key}: chose C {} sublinear {} class weight {} in {secs:.1} s; dev accuracy {:.4}, macro-F1 {:.4}; CV: {}",
            t.c,
            t.sublinear_tf,
            t.class_weight.as_str(),
            m.accuracy,
            m.macro_f1,
            cv.join(", ")
        );
    }
}
