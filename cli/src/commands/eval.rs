//! `polarity eval`: score a model on a labelled file read under the same data contract as `pipeline run`.
//! Labels map onto the model's classes as [`polarity_core::prepare::eval_classes`] says; rows are cleaned
//! with the model's own settings.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use polarity_core::labels::Labels;
use polarity_core::model::{PredictScratch, argmax};
use polarity_core::prepare::{no_rows_hint, prepare_eval};
use polarity_core::train::evaluate;

use crate::context::{check_output_path, load_model, read_input};
use crate::flags::ContractArgs;
use crate::report::{EvalReport, MetricFields, Timings, summary};

/// `polarity eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model artifact.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled file to score.
    #[arg(long)]
    pub data: PathBuf,
    /// Data contract.
    #[command(flatten)]
    pub contract: ContractArgs,
    /// Write one JSON line per scored row (line, label, prediction, score) to this file.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let t_start = Instant::now();
    let model = load_model(&a.model)?;
    if let Some(p) = &a.predictions {
        check_output_path(p)?;
    }
    let contract = a.contract.contract()?;
    let t0 = Instant::now();
    let table = read_input(&a.data, &contract.read_options())?;
    let labels = Labels::from_names(model.labels());
    let (rows, table) = prepare_eval(
        table,
        &labels,
        model.meta.label_scheme,
        &contract,
        &model.meta.clean,
    );
    let read_s = t0.elapsed().as_secs_f64();
    if rows.is_empty() {
        bail!(
            "{}: no rows to score ({} read, {} rejected: {:?}); {}",
            a.data.display(),
            table.report.rows_in,
            table.report.rejected,
            table.report.reasons,
            no_rows_hint(&table, &labels)
        );
    }
    let t0 = Instant::now();
    let m = evaluate(&model, &rows);
    let eval_s = t0.elapsed().as_secs_f64();
    if let Some(p) = &a.predictions {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        );
        let mut s = PredictScratch::default();
        for ((text, &class), line) in rows.texts.iter().zip(&rows.classes).zip(&table.lines) {
            model.predict_cleaned_into(text, &mut s);
            let best = argmax(&s.probs);
            let v = serde_json::json!({
                "line": line,
                "label": model.labels()[class as usize],
                "prediction": model.labels()[best],
                "score": s.probs[best],
                "correct": best == class as usize,
            });
            writeln!(out, "{v}").with_context(|| format!("cannot write {}", p.display()))?;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
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
