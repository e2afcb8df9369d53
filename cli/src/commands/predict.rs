//! `polarity predict`: one JSON line per text, from arguments or streamed from stdin in parallel batches.

use std::io::{BufRead, BufWriter, Write};

use anyhow::{Context, Result};
use polarity_core::Classifier;
use polarity_core::model::PredictScratch;
use rayon::prelude::*;

use super::load_model;
use crate::args::PredictArgs;

/// Lines per parallel batch when streaming stdin.
const BATCH: usize = 16_384;

pub fn run(a: &PredictArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, out.lock());
    let fmt = LineFormat::new(&model);
    if !a.texts.is_empty() {
        let mut s = PredictScratch::default();
        let mut line = Vec::new();
        for t in &a.texts {
            fmt.write(&model, t.as_bytes(), &mut s, &mut line);
            out.write_all(&line)?;
        }
        return out.flush().context("cannot write to stdout");
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        for _ in 0..BATCH {
            let mut buf = Vec::new();
            if input.read_until(b'\n', &mut buf).context("cannot read stdin")? == 0 {
                break;
            }
            batch.push(buf);
        }
        if batch.is_empty() {
            break;
        }
        let lines: Vec<Vec<u8>> = batch
            .par_iter()
            .map_init(PredictScratch::default, |s, raw| {
                let mut line = Vec::with_capacity(96);
                fmt.write(&model, trim_eol(raw), s, &mut line);
                line
            })
            .collect();
        for l in &lines {
            out.write_all(l)?;
        }
        if batch.len() < BATCH {
            break;
        }
    }
    out.flush().context("cannot write to stdout")
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Pre-escaped label strings so each output line is assembled without a JSON serialiser.
struct LineFormat {
    labels: Vec<String>,
}

impl LineFormat {
    fn new(model: &Classifier) -> Self {
        let labels = model.labels().iter().map(|l| serde_json::to_string(l).unwrap_or_else(|_| "\"?\"".into())).collect();
        Self { labels }
    }

    /// Writes one JSON line for `text` into `line` (cleared first).
    fn write(&self, model: &Classifier, text: &[u8], s: &mut PredictScratch, line: &mut Vec<u8>) {
        line.clear();
        let Ok(text) = std::str::from_utf8(text) else {
            line.extend_from_slice(b"{\"error\":\"input line is not valid UTF-8\",\"error_type\":\"invalid_utf8\"}\n");
            return;
        };
        let (best, _) = model.predict_into(text, s);
        let _ = write!(line, "{{\"label\":{},\"score\":{},\"probabilities\":{{", self.labels[best], s.probs[best]);
        for (i, (l, p)) in self.labels.iter().zip(&s.probs).enumerate() {
            let _ = write!(line, "{}{}:{}", if i > 0 { "," } else { "" }, l, p);
        }
        line.extend_from_slice(b"}}\n");
    }
}
