//! `polarity predict`: one JSON line per text, from arguments, from a data file's text column, or
//! streamed from stdin in parallel batches. Output line *n* answers input *n*: an input that cannot be
//! classified (not UTF-8, empty) gets `{"error", "error_type"}` in its place, with the server's error
//! types.

use clap::Args;
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use polarity_core::Classifier;
use polarity_core::model::PredictScratch;
use rayon::prelude::*;

use polarity_core::reader::{Column, ReadOptions};

use crate::context::{load_model, read_input};

/// `polarity predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model artifact.
    #[arg(long)]
    pub model: PathBuf,
    /// Texts to classify; when none (and no --data), reads one text per line from stdin.
    pub texts: Vec<String>,
    /// A CSV/TSV/JSONL file to classify (its text column; '-' reads standard input).
    #[arg(long, conflicts_with = "texts")]
    pub data: Option<PathBuf>,
    /// Text column of --data (as for train).
    #[arg(long, requires = "data")]
    pub text_col: Option<String>,
    /// --data has no header row (--text-col is then a position).
    #[arg(long, requires = "data")]
    pub no_header: bool,
}

/// Bytes of stdin per parallel batch (whole lines; a longer line makes a bigger batch).
const BATCH_BYTES: usize = 4 << 20;
/// Lines per parallel work item inside a batch.
const CHUNK_LINES: usize = 2048;

pub fn run(a: &PredictArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, out.lock());
    let fmt = LineFormat::new(&model);
    if !a.texts.is_empty() {
        let mut s = PredictScratch::default();
        let mut line = Vec::new();
        for t in &a.texts {
            fmt.write(&model, t.as_bytes(), &mut s, &mut line);
        }
        out.write_all(&line)?;
        return out.flush().context("cannot write to stdout");
    }
    if let Some(path) = &a.data {
        let opts = ReadOptions {
            text_col: a
                .text_col
                .as_deref()
                .map(|c| Column::parse(c, !a.no_header))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--text-col: {e}"))?,
            text_only: true,
            has_header: !a.no_header,
            ..Default::default()
        };
        let table = read_input(path, &opts)?;
        // rows in file order: accepted texts and rejected rows (as error lines)
        let mut items: Vec<(u64, Option<&str>, Option<&str>)> = table
            .texts
            .iter()
            .zip(&table.lines)
            .map(|(t, &l)| (l, Some(t.as_str()), None))
            .chain(
                table
                    .rejected
                    .iter()
                    .map(|r| (r.line, None, Some(r.reason.as_str()))),
            )
            .collect();
        items.sort_by_key(|i| i.0);
        let mut s = PredictScratch::default();
        let mut o = Vec::new();
        for (line, text, reason) in items {
            match (text, reason) {
                (Some(t), _) => fmt.write(&model, t.as_bytes(), &mut s, &mut o),
                (None, r) => {
                    let v = serde_json::json!({"error": format!("row at line {line} has no usable text"), "error_type": r.unwrap_or("missing_text")});
                    o.extend_from_slice(v.to_string().as_bytes());
                    o.push(b'\n');
                }
            }
        }
        out.write_all(&o).context("cannot write to stdout")?;
        return out.flush().context("cannot write to stdout");
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES + (1 << 16));
    loop {
        // Fill a batch: a block of bytes, then complete the last line.
        buf.clear();
        (&mut input)
            .take(BATCH_BYTES as u64)
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
        if buf.is_empty() {
            break;
        }
        let full = buf.len() == BATCH_BYTES;
        if full && buf.last() != Some(&b'\n') {
            input
                .read_until(b'\n', &mut buf)
                .context("cannot read stdin")?;
        }
        let lines: Vec<&[u8]> = buf
            .strip_suffix(b"\n")
            .unwrap_or(&buf)
            .split(|&c| c == b'\n')
            .collect();
        let outputs: Vec<Vec<u8>> = lines
            .par_chunks(CHUNK_LINES)
            .map_init(PredictScratch::default, |s, chunk| {
                let mut o = Vec::with_capacity(chunk.len() * 120);
                for l in chunk {
                    fmt.write(&model, l.strip_suffix(b"\r").unwrap_or(l), s, &mut o);
                }
                o
            })
            .collect();
        for o in &outputs {
            out.write_all(o).context("cannot write to stdout")?;
        }
        if !full {
            break;
        }
    }
    out.flush().context("cannot write to stdout")
}

/// Pre-escaped label strings so each output line is assembled without a JSON serialiser.
struct LineFormat {
    labels: Vec<String>,
}

impl LineFormat {
    fn new(model: &Classifier) -> Self {
        let labels = model
            .labels()
            .iter()
            .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "\"?\"".into()))
            .collect();
        Self { labels }
    }

    /// Appends one JSON line for `text` to `out`.
    fn write(&self, model: &Classifier, text: &[u8], s: &mut PredictScratch, out: &mut Vec<u8>) {
        let Ok(text) = std::str::from_utf8(text) else {
            out.extend_from_slice(
                b"{\"error\":\"input line is not valid UTF-8\",\"error_type\":\"invalid_utf8\"}\n",
            );
            return;
        };
        if polarity_core::text::is_blank(text) {
            out.extend_from_slice(b"{\"error\":\"text is empty\",\"error_type\":\"empty_text\"}\n");
            return;
        }
        let (best, _) = model.predict_into(text, s);
        let mut f = ryu::Buffer::new();
        out.extend_from_slice(b"{\"label\":");
        out.extend_from_slice(self.labels[best].as_bytes());
        out.extend_from_slice(b",\"score\":");
        out.extend_from_slice(f.format(s.probs[best]).as_bytes());
        out.extend_from_slice(b",\"probabilities\":{");
        for (i, (l, p)) in self.labels.iter().zip(&s.probs).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(l.as_bytes());
            out.push(b':');
            out.extend_from_slice(f.format(*p).as_bytes());
        }
        out.extend_from_slice(b"}}\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use polarity_core::labels::{LabelScheme, Labels};
    use polarity_core::train::{Labelled, ValidTrainConfig, train};

    #[test]
    fn the_fast_writer_writes_what_the_core_prediction_serialises_to() {
        let rows = Labelled {
            texts: ["great fun", "bad plot", "a \"quoted\" film", "dull"]
                .map(String::from)
                .to_vec(),
            classes: vec![1, 0, 1, 0],
        };
        for labels in [
            vec!["negative", "positive"],
            vec!["négatif \"x\"", "pos\\itive"],
        ] {
            let (m, _) = train(
                &ValidTrainConfig::default(),
                &rows,
                &Labelled::default(),
                Labels::from_names(labels),
                LabelScheme::Names,
            )
            .unwrap();
            let fmt = LineFormat::new(&m);
            let mut s = PredictScratch::default();
            for text in ["great fun", "bad", "x y z", "émoji 🎬 great"] {
                let mut out = Vec::new();
                fmt.write(&m, text.as_bytes(), &mut s, &mut out);
                let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
                let core = serde_json::to_value(m.predict(text)).unwrap();
                assert_eq!(fast, core, "{text}");
                assert_eq!(out.last(), Some(&b'\n'));
            }
        }
    }
}
