//! Flag groups that several commands share.

use clap::Args;

/// The data contract of the input files (columns, header, delimiter, label mapping).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Data contract")]
pub struct ContractArgs {
    /// Text column: a header name (case-insensitive), or with --no-header a 1-based position; `#N` is
    /// always position N. Default: the first of text, sentence, content, review, ….
    #[arg(long, env = "POLARITY_TEXT_COL")]
    pub text_col: Option<String>,
    /// Label column, as --text-col. Default: the first of label, sentiment, polarity, class, ….
    #[arg(long, env = "POLARITY_LABEL_COL")]
    pub label_col: Option<String>,
    /// The files have no header row: columns are given by position.
    #[arg(long)]
    pub no_header: bool,
    /// Field delimiter when the extension and content do not tell: one character, or tab, comma,
    /// semicolon, pipe.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Map raw labels to classes, e.g. '1,2=negative;4,5=positive'; other labels are rejected
    /// (unmapped_label). Without it, the label scheme is detected (0/1, -1/0/1, names).
    #[arg(long)]
    pub label_map: Option<String>,
}

impl ContractArgs {
    /// The settings as `key=value` pairs (what S3 object metadata carries).
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if self.no_header {
            v.push(("header", "false".to_string()));
        }
        for (k, val) in [
            ("text-col", &self.text_col),
            ("label-col", &self.label_col),
            ("delimiter", &self.delimiter),
            ("label-map", &self.label_map),
        ] {
            if let Some(x) = val {
                v.push((k, x.clone()));
            }
        }
        v
    }

    /// The contract these flags give.
    ///
    /// # Errors
    /// A message naming the flag whose value cannot be used.
    pub fn contract(&self) -> anyhow::Result<polarity_core::contract::Contract> {
        let pairs = self.settings();
        Ok(polarity_core::contract::Contract::from_settings(
            pairs.iter().map(|(k, v)| (*k, v.as_str())),
        )?)
    }
}
