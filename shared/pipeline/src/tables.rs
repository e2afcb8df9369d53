//! The terminal views of stored records: the tables and detail blocks `polarity registry list|show|history`
//! and `polarity dataset list` print. Pure functions from records to text, so that what a store holds,
//! however odd (times of 0, names with escape sequences, empty lists), is formatted without a panic; the
//! `records` fuzz target runs them. Every stored string goes through [`visible`] (control characters shown
//! escaped, never interpreted by the terminal; names cut to 80 characters, reasons shown whole); cells are
//! cut to their column ([`cell`]).

use std::fmt::Write as _;

use polarity_core::reader::{printable, visible};

use crate::datasets::{DatasetStatus, DatasetView};
use crate::records::Decision;
use crate::registry::{HistoryEntry, VersionRecord, VersionStatus, VersionView};
use crate::report::{clip, iso};

/// `s` as a table cell: [`visible`], at most `n` characters (then `…`).
pub fn cell(s: &str, n: usize) -> String {
    clip(&visible(s), n)
}

/// A list of stored names, each [`visible`], joined by `sep`.
fn names(list: &[String], sep: &str) -> String {
    list.iter()
        .map(|s| visible(s))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `polarity registry list`: one row per version, oldest first, and what the score columns mean.
pub fn versions(list: &[VersionView], frozen: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<10} {:<20} {:>12} {:>9} {:>8}  DATASETS",
        "VERSION", "STATUS", "CREATED (UTC)", "OWN-TEST-F1", "ACCURACY", "N_TEST",
    );
    for s in list {
        let _ = writeln!(
            out,
            "{:<14} {:<10} {:<20} {:>12.4} {:>9.4} {:>8}  {}{}",
            cell(&s.record.version, 40),
            s.status.as_str(),
            iso(s.record.created_at),
            s.record.scores.macro_f1,
            s.record.scores.accuracy,
            s.record.scores.n,
            names(&s.record.datasets, ","),
            s.same_artifact_as
                .as_deref()
                .map(|f| format!("  (same artifact as {})", cell(f, 40)))
                .unwrap_or_default()
        );
    }
    out.push_str(
        "OWN-TEST-F1, ACCURACY: each version's macro-F1 and accuracy on its own held-out rows when it was trained;\n\
         versions trained on different datasets were scored on different rows, so compare them with the decision records\n\
         (`polarity registry show VERSION`), which score candidate and production on the same rows.\n",
    );
    if frozen {
        out.push_str(
            "frozen: automatic promotions are stopped (`polarity registry unfreeze` resumes them)\n",
        );
    }
    out
}

/// `polarity registry show VERSION`: the record, its status and its decision, if any.
pub fn version(
    rec: &VersionRecord,
    status: Option<VersionStatus>,
    decision: Option<&Decision>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "version   {} ({})",
        visible(&rec.version),
        status.map_or("?", |s| s.as_str())
    );
    let _ = writeln!(
        out,
        "created   {} (git {})",
        iso(rec.created_at),
        rec.git_sha.as_deref().map_or("unknown".into(), visible)
    );
    let _ = writeln!(out, "classes   {}", names(&rec.labels, ", "));
    let _ = writeln!(out, "datasets  {}", names(&rec.datasets, ", "));
    let _ = writeln!(
        out,
        "parent    {}",
        rec.parent
            .as_deref()
            .map_or("(none: first model)".into(), visible)
    );
    let _ = writeln!(
        out,
        "artifact  {} (sha256 {})",
        visible(&rec.artifact_key),
        visible(&rec.sha256)
    );
    let _ = writeln!(
        out,
        "own test  macro-F1 {:.4}, accuracy {:.4} on {} rows",
        rec.scores.macro_f1, rec.scores.accuracy, rec.scores.n
    );
    if let Some(d) = decision {
        let _ = writeln!(
            out,
            "decision  {} at {} — {}",
            d.verdict,
            iso(d.at),
            printable(&d.reason)
        );
        let _ = writeln!(
            out,
            "          on {} rows of {}: candidate macro-F1 {:.4}{}",
            d.eval_rows,
            names(&d.eval_datasets, ","),
            d.candidate_scores.macro_f1,
            match (&d.production, &d.production_scores) {
                (Some(p), Some(s)) => format!(", production {} {:.4}", visible(p), s.macro_f1),
                _ => String::new(),
            }
        );
        for c in &d.checks {
            let _ = writeln!(
                out,
                "          {} {}",
                if c.passed { "pass" } else { "FAIL" },
                printable(&c.describe())
            );
        }
    }
    if status == Some(VersionStatus::Held) {
        let _ = writeln!(
            out,
            "held: promote it with `polarity registry promote {}`",
            visible(&rec.version)
        );
    }
    out
}

/// `polarity registry history`: one row per pointer move, oldest first.
pub fn history(h: &[HistoryEntry]) -> String {
    let mut out = format!(
        "{:<5} {:<14}   {:<14} {:<15} {:<20} REASON\n",
        "SEQ", "FROM", "TO", "KIND", "AT (UTC)"
    );
    for e in h {
        let _ = writeln!(
            out,
            "{:<5} {:<14} → {:<14} {:<15} {:<20} {}",
            e.seq,
            e.from.as_deref().map_or("(none)".into(), |f| cell(f, 40)),
            cell(&e.to, 40),
            e.kind.as_str(),
            iso(e.at),
            printable(&e.reason)
        );
    }
    out
}

/// `polarity dataset list`: one row per upload, in upload order.
pub fn datasets(all: &[DatasetView]) -> String {
    let mut out = format!(
        "{:<18} {:<20} {:<24} {:<20} {:>8} {:>8} {:>6}  {:<11} classes / reason\n",
        "DATASET", "NAME", "FILE", "UPLOADED (UTC)", "ROWS IN", "ACCEPTED", "QUAR.", "STATUS"
    );
    for d in all {
        let classes: Vec<String> = d
            .classes
            .iter()
            .map(|(k, v)| format!("{}:{v}", cell(k, 40)))
            .collect();
        let _ = writeln!(
            out,
            "{:<18} {:<20} {:<24} {:<20} {:>8} {:>8} {:>6}  {:<11} {}{}",
            cell(&d.dataset, 40),
            cell(&d.name, 20),
            cell(&d.file_name, 24),
            iso(d.uploaded_at),
            d.rows_in,
            d.accepted,
            d.quarantined,
            d.status.as_str(),
            classes.join(" "),
            match d.status {
                DatasetStatus::Active => String::new(),
                _ => format!(" — {}", printable(&d.reason)),
            }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_and_cut() {
        assert_eq!(cell("abc", 5), "abc");
        assert_eq!(cell("abcdef", 4), "abc…");
        let c = cell("a\u{1b}[2Jb\nc", 80);
        assert!(!c.chars().any(char::is_control), "{c:?}");
        assert_eq!(cell("", 0), "");
    }

    #[test]
    fn a_history_with_hostile_values_prints_one_escaped_line_per_entry() {
        let e: HistoryEntry = serde_json::from_value(serde_json::json!({
            "seq": 1, "from": null, "to": "v\u{1b}[31mred", "kind": "promote",
            "reason": "line\nforged row", "at": 0
        }))
        .unwrap();
        let t = history(&[e]);
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(!t.contains('\u{1b}'), "{t}");
        assert!(t.contains(" - "), "time 0 shows as '-': {t}");
    }
}
