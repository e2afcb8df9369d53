//! `polarity train`: read files, split, fit, score, write the artifact, report.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use polarity_core::artifact::{encode, sha256_hex};
use polarity_core::logistic::LogisticConfig;
use polarity_core::reader::{ReadOptions, read_path};
use polarity_core::tfidf::TfidfConfig;
use polarity_core::train::{self, Labelled, TrainConfig, prepare_eval, prepare_training, split};

use super::{progress, write_atomic};
use crate::args::TrainArgs;
use crate::report::{MetricFields, Timings, TrainReport, rejections, summary};

pub fn run(a: &TrainArgs) -> Result<()> {
    let t_start = Instant::now();
    if !(0.0..1.0).contains(&a.test_fraction) {
        bail!("--test-fraction must be in [0, 1), got {}", a.test_fraction);
    }
    let cfg = TrainConfig {
        clean: Default::default(),
        tfidf: TfidfConfig {
            ngram_min: a.ngram.0,
            ngram_max: a.ngram.1,
            max_features: Some(a.max_features),
            min_df: a.min_df,
            sublinear_tf: a.sublinear_tf,
            min_token_chars: a.min_token_chars,
            ..Default::default()
        },
        logistic: LogisticConfig {
            c: a.c,
            max_iter: a.max_iter,
            tol: a.tol,
        },
    };
    cfg.tfidf
        .validate()
        .context("invalid vectoriser settings")?;
    cfg.logistic
        .validate()
        .context("invalid regression settings")?;
    let opts = ReadOptions {
        text_col: a.columns.text_col.clone(),
        label_col: a.columns.label_col.clone(),
        ..Default::default()
    };

    progress(a.json, "reading training data");
    let t0 = Instant::now();
    let mut tables = Vec::new();
    for path in &a.data {
        tables.push(read_path(path, &opts)?);
    }
    let mut reports: Vec<_> = tables.iter().map(|t| t.report.clone()).collect();
    let (labels, scheme, rows) = prepare_training(tables, &cfg.clean);
    let (train_rows, test_rows): (Labelled, Labelled) = match &a.test {
        Some(path) => {
            // The held-out file is read with the same columns; if they do not fit it (it may name its
            // columns differently), with auto-detected ones. When both fail, the first error is the one
            // that explains the problem.
            let table = match read_path(path, &opts) {
                Ok(t) => t,
                Err(first) if a.columns.text_col.is_some() || a.columns.label_col.is_some() => {
                    let t = read_path(path, &ReadOptions::default()).map_err(|_| first)?;
                    eprintln!(
                        "note: {} does not have the columns given for training; using auto-detected \
                         columns {:?} (text) and {:?} (label)",
                        path.display(),
                        t.text_col,
                        t.label_col
                    );
                    t
                }
                Err(first) => return Err(first.into()),
            };
            let (test, table) = prepare_eval(table, &labels, scheme, &cfg.clean);
            reports.push(table.report);
            (rows, test)
        }
        None => split(rows, a.test_fraction),
    };
    let read_s = t0.elapsed().as_secs_f64();
    if train_rows.is_empty() {
        let all = rejections(&reports);
        bail!(
            "no usable training rows in {} ({} read, {} rejected: {:?})",
            a.data[0].display(),
            all.rows_in,
            all.rejected,
            all.reasons
        );
    }

    progress(a.json, &format!("fitting on {} rows", train_rows.len()));
    let (model, t) = train::train(&cfg, &train_rows, &test_rows, labels, scheme)?;
    let bytes = encode(&model);
    write_atomic(&a.out, &bytes)?;
    let all = rejections(&reports);
    let m = model.meta.metrics.as_ref();
    let report = TrainReport {
        labels: model.meta.labels.clone(),
        n_train: model.meta.data.n_train,
        n_test: model.meta.data.n_test,
        rows_in: all.rows_in,
        rejected: all.rejected,
        rejected_reasons: all.reasons,
        metrics: MetricFields::from(m),
        n_features: model.tfidf.n_features(),
        iterations: model.meta.fit.iterations,
        evaluations: model.meta.fit.evaluations,
        converged: model.meta.fit.converged,
        model: a.out.display().to_string(),
        sha256: sha256_hex(&bytes),
        model_bytes: bytes.len(),
        timings: Timings {
            read_s,
            vectorize_s: t.vectorize_s,
            fit_s: t.fit_s,
            eval_s: t.eval_s,
            total_s: t_start.elapsed().as_secs_f64(),
        },
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "trained on {} rows ({} read, {} rejected{}), {} features, {} classes: {}",
            report.n_train,
            report.rows_in,
            report.rejected,
            if report.rejected > 0 {
                format!(" {:?}", report.rejected_reasons)
            } else {
                String::new()
            },
            report.n_features,
            report.labels.len(),
            report.labels.join(", ")
        );
        print!(
            "held out {} rows: {}",
            report.n_test,
            summary(&report.labels, m)
        );
        println!(
            "model {} ({} bytes, sha256 {}) in {:.2} s (read {:.2}, vectorize {:.2}, fit {:.2}, eval {:.2})",
            report.model,
            report.model_bytes,
            report.sha256,
            report.timings.total_s,
            read_s,
            t.vectorize_s,
            t.fit_s,
            t.eval_s
        );
    }
    Ok(())
}
