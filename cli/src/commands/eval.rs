//! `polarity eval`: score a model on a labelled file.

use std::time::Instant;

use anyhow::{Result, bail};
use polarity_core::reader::{ReadOptions, read_path};
use polarity_core::train::{evaluate, prepare_eval};

use super::load_model;
use crate::args::EvalArgs;
use crate::report::{EvalReport, MetricFields, Timings, summary};

pub fn run(a: &EvalArgs) -> Result<()> {
    let t_start = Instant::now();
    let model = load_model(&a.model)?;
    let opts = ReadOptions {
        text_col: a.columns.text_col.clone(),
        label_col: a.columns.label_col.clone(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let table = read_path(&a.data, &opts)?;
    let (rows, table) = prepare_eval(
        table,
        &model.meta.labels,
        model.meta.label_scheme,
        &model.meta.clean,
    );
    let read_s = t0.elapsed().as_secs_f64();
    if rows.is_empty() {
        bail!(
            "{}: no rows to score ({} read, {} rejected: {:?})",
            a.data.display(),
            table.report.rows_in,
            table.report.rejected,
            table.report.reasons
        );
    }
    let t0 = Instant::now();
    let m = evaluate(&model, &rows);
    let eval_s = t0.elapsed().as_secs_f64();
    let report = EvalReport {
        labels: model.meta.labels.clone(),
        n_test: rows.len() as u64,
        rows_in: table.report.rows_in,
        rejected: table.report.rejected,
        rejected_reasons: table.report.reasons.clone(),
        metrics: MetricFields::from(Some(&m)),
        timings: Timings {
            read_s,
            eval_s,
            total_s: t_start.elapsed().as_secs_f64(),
            ..Default::default()
        },
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{}: {} rows scored ({} read, {} rejected)",
            a.data.display(),
            report.n_test,
            report.rows_in,
            report.rejected
        );
        print!("{}", summary(&report.labels, Some(&m)));
    }
    Ok(())
}
