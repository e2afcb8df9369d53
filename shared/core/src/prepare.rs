//! One training-data preparation, used by `polarity train`, the pipeline's stages and `polarity eval`:
//!
//! 1. labels: each raw value becomes a class name ([`crate::contract::Contract::class_names`]), or the
//!    row is rejected (`unmapped_label`, `unknown_label`);
//! 2. clean every text ([`crate::text::clean`], the model's own settings);
//! 3. drop rows that clean to nothing (`empty_after_cleaning`);
//! 4. de-duplicate by cleaned text: **the latest row wins** (later in a file, a later file, a newer upload),
//!    so a correction uploaded later replaces what it corrects;
//! 5. split by [`split_key`] (hashed by `split_hash`): near duplicates (the same words in another order, a retweet of a text) land
//!    on the same side, so the held-out rows never have a twin in training.
//!
//! Every input row is kept or dropped with a reason, so counts are conserved.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::labels::{LabelScheme, Labels};
use crate::reader::{RejectReason, Rejected, Table, quoted};
use crate::text::{CleanConfig, clean, clean_in_place};
use crate::train::Labelled;

/// A labelled row: the text as given and its class name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The text as given.
    pub text: String,
    /// Class name.
    pub label: String,
}

/// A prepared row: original text, cleaned text, class name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedRow {
    /// The text as given (what a server would receive).
    pub text: String,
    /// The cleaned text (what training uses).
    pub clean: String,
    /// Class name.
    pub label: String,
}

/// The result of [`prepare`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// Kept rows, in input order.
    pub rows: Vec<PreparedRow>,
    /// Dropped rows: input index and reason (`empty_after_cleaning` or `duplicate`).
    pub dropped: Vec<(usize, RejectReason)>,
    /// Duplicates whose label differed from the kept row's.
    pub conflicting_labels: u64,
}

impl Prepared {
    /// Rows dropped for `reason`.
    pub fn count(&self, reason: RejectReason) -> u64 {
        self.dropped.iter().filter(|(_, r)| *r == reason).count() as u64
    }
}

/// Steps 2–4 of the module docs over `rows` (in order, oldest first).
pub fn prepare(rows: Vec<Row>, cfg: &CleanConfig) -> Prepared {
    let cleaned: Vec<String> = rows.par_iter().map(|r| clean(&r.text, cfg)).collect();
    let (keep, dropped, conflicting_labels) =
        latest_wins(&cleaned, |kept, i| rows[kept].label != rows[i].label);
    let rows = rows
        .into_iter()
        .zip(cleaned)
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((r, clean), _)| PreparedRow {
            text: r.text,
            clean,
            label: r.label,
        })
        .collect();
    Prepared {
        rows,
        dropped,
        conflicting_labels,
    }
}

/// Rows as columns for training alone: the text of each row and its class (any small value, e.g. an
/// index into a list of class names).
#[derive(Debug, Clone, PartialEq)]
pub struct Columns<L> {
    /// One text per row: as given before [`prepare_columns`], cleaned after it.
    pub texts: Vec<String>,
    /// The class of each row.
    pub labels: Vec<L>,
}

impl<L> Default for Columns<L> {
    fn default() -> Self {
        Self {
            texts: Vec::new(),
            labels: Vec::new(),
        }
    }
}

impl Columns<u32> {
    /// The classes of these rows when each row's label indexes `names`.
    pub fn classes(&self, names: &[String]) -> Labels {
        let mut used = vec![false; names.len()];
        self.labels.iter().for_each(|&l| used[l as usize] = true);
        Labels::from_names(names.iter().zip(used).filter(|(_, u)| *u).map(|(n, _)| n))
    }

    /// [`labelled`] consuming rows whose labels index `names`: the texts move, rows of classes not in
    /// `labels` are skipped and counted.
    pub fn into_labelled(self, names: &[String], labels: &Labels) -> (Labelled, u64) {
        let class: Vec<Option<u32>> = names.iter().map(|n| labels.index(n)).collect();
        let mut out = Labelled {
            texts: Vec::with_capacity(self.texts.len()),
            classes: Vec::with_capacity(self.texts.len()),
        };
        let mut unknown = 0;
        for (text, l) in self.texts.into_iter().zip(self.labels) {
            match class[l as usize] {
                Some(c) => {
                    out.texts.push(text);
                    out.classes.push(c);
                }
                None => unknown += 1,
            }
        }
        (out, unknown)
    }
}

/// [`prepare`] for training, at the least memory: each text is replaced by its cleaned form in place
/// (the original is not kept, and no per-row label string is made), then the same steps 3–4 keep the same
/// rows and drop the others for the same reasons. Returns the kept rows and what [`Prepared`] reports
/// beside its rows (`rows` left empty).
pub fn prepare_columns<L: PartialEq + Copy + Send + Sync>(
    mut cols: Columns<L>,
    cfg: &CleanConfig,
) -> (Columns<L>, Prepared) {
    clean_texts(&mut cols.texts, cfg);
    let labels = &cols.labels;
    let (keep, dropped, conflicting_labels) =
        latest_wins(&cols.texts, |kept, i| labels[kept] != labels[i]);
    let mut k = keep.iter();
    cols.texts.retain(|_| *k.next().expect("one flag per row"));
    let mut k = keep.iter();
    cols.labels.retain(|_| *k.next().expect("one flag per row"));
    let report = Prepared {
        rows: Vec::new(),
        dropped,
        conflicting_labels,
    };
    (cols, report)
}

/// Step 2 in place, in parallel: each text replaced by its cleaned form.
pub fn clean_texts(texts: &mut [String], cfg: &CleanConfig) {
    texts
        .par_iter_mut()
        .for_each_init(String::new, |scratch, t| clean_in_place(t, cfg, scratch));
}

/// Steps 3–4 over cleaned texts in input order: which rows are kept, the dropped ones (input index and
/// reason, ascending), and how many dropped duplicates had another label than the row kept
/// (`differs(kept, dropped)`).
///
/// Equal texts are found by sorting `(hash, index)` pairs (in parallel) and comparing the texts within a
/// run of equal hashes, so no map from text to row is built: 16 bytes per row, whatever the texts. The hash
/// is keyed at random per call (a file cannot be made of colliding texts); the result does not depend on it.
fn latest_wins(
    cleaned: &[String],
    differs: impl Fn(usize, usize) -> bool,
) -> (Vec<bool>, Vec<(usize, RejectReason)>, u64) {
    use std::hash::BuildHasher;
    let hasher = std::hash::RandomState::new();
    let order: Vec<(u64, usize)> = cleaned
        .par_iter()
        .enumerate()
        .filter_map(|(i, c)| (!is_empty_text(c)).then(|| (hasher.hash_one(c), i)))
        .collect();
    let empty: Vec<usize> = (0..cleaned.len())
        .filter(|&i| is_empty_text(&cleaned[i]))
        .collect();
    keep_latest(
        cleaned.len(),
        order,
        empty,
        |k, i| cleaned[k] == cleaned[i],
        differs,
    )
}

/// True when a cleaned text is dropped as empty (step 3).
fn is_empty_text(cleaned: &str) -> bool {
    cleaned.trim().is_empty()
}

/// Steps 3–4 for `n` rows given as `(key, index)` for every row with a cleaned text (rows with equal
/// texts have equal keys; `same(kept, other)` tells equal texts apart within a key) and the indices of the
/// rows that cleaned to nothing: as [`latest_wins`] returns.
fn keep_latest<K: Ord + Copy + Send>(
    n: usize,
    mut order: Vec<(K, usize)>,
    empty: Vec<usize>,
    same: impl Fn(usize, usize) -> bool,
    differs: impl Fn(usize, usize) -> bool,
) -> (Vec<bool>, Vec<(usize, RejectReason)>, u64) {
    let mut keep = vec![true; n];
    let mut dropped = Vec::with_capacity(empty.len());
    for i in empty {
        keep[i] = false;
        dropped.push((i, RejectReason::EmptyAfterCleaning));
    }
    // by key, and within a key the latest row first: the first of equal texts met is the one kept
    order.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut conflicting = 0;
    let mut kept_here: Vec<usize> = Vec::new();
    for run in order.chunk_by(|a, b| a.0 == b.0) {
        kept_here.clear();
        for &(_, i) in run {
            match kept_here.iter().find(|&&k| same(k, i)) {
                Some(&k) => {
                    keep[i] = false;
                    dropped.push((i, RejectReason::Duplicate));
                    conflicting += u64::from(differs(k, i));
                }
                None => kept_here.push(i),
            }
        }
    }
    dropped.par_sort_unstable_by_key(|d| d.0);
    (keep, dropped, conflicting)
}

/// What becomes of a row, decided by [`RowPlanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFate {
    /// Kept, for training.
    Train,
    /// Kept, held out ([`is_test`]).
    Test,
    /// Dropped: it cleans to nothing (step 3).
    Empty,
    /// Dropped: a later row has the same cleaned text (step 4).
    Duplicate,
}

impl RowFate {
    /// Why a dropped row was dropped; `None` for a kept row.
    pub fn reason(self) -> Option<RejectReason> {
        match self {
            Self::Train | Self::Test => None,
            Self::Empty => Some(RejectReason::EmptyAfterCleaning),
            Self::Duplicate => Some(RejectReason::Duplicate),
        }
    }
}

/// Steps 2–5 ([`prepare_columns`] then [`split_columns`]) over rows given in batches, holding a 16-byte
/// key per row instead of its text, for inputs too large to hold: the owner reads its rows again
/// afterwards, cleans them the same way ([`clean_texts`]) and looks up each row's [`RowFate`].
///
/// Equal cleaned texts are found by equal keys: 128 bits of two SipHash functions keyed at random per
/// planner, so no file can be made of colliding texts, and two different texts among `n` rows collide with
/// probability about `n² / 2¹²⁹` (below 10⁻²⁴ for a billion rows). Otherwise it decides what
/// [`prepare_columns`] and [`split_columns`] decide (a test).
#[derive(Debug)]
pub struct RowPlanner<L> {
    hashers: [std::hash::RandomState; 2],
    test_fraction: Option<f64>,
    keys: Vec<([u64; 2], usize)>,
    empty: Vec<usize>,
    held: Vec<bool>,
    labels: Vec<L>,
}

/// The [`RowFate`] of every row a [`RowPlanner`] was given, with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan<L> {
    /// Each row's fate, in input order.
    pub fates: Vec<RowFate>,
    /// Each row's label.
    pub labels: Vec<L>,
    /// Duplicates whose label differed from the kept row's.
    pub conflicting_labels: u64,
}

impl<L: PartialEq + Copy + Send + Sync> RowPlanner<L> {
    /// A planner that holds out rows by [`is_test`] at `test_fraction`, or none (`None`).
    pub fn new(test_fraction: Option<f64>) -> Self {
        Self {
            hashers: Default::default(),
            test_fraction,
            keys: Vec::new(),
            empty: Vec::new(),
            held: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Cleans the next rows' texts in place ([`clean_texts`]) and records each row's key, side and label.
    pub fn add(&mut self, cols: &mut Columns<L>, cfg: &CleanConfig) {
        use std::hash::BuildHasher;
        clean_texts(&mut cols.texts, cfg);
        let base = self.labels.len();
        let [h0, h1] = &self.hashers;
        let fraction = self.test_fraction;
        let keyed: Vec<(Option<[u64; 2]>, bool)> = cols
            .texts
            .par_iter()
            .map(|t| {
                if is_empty_text(t) {
                    return (None, false);
                }
                let held = fraction.is_some_and(|f| is_test(t, f));
                (Some([h0.hash_one(t), h1.hash_one(t)]), held)
            })
            .collect();
        for (i, (key, held)) in keyed.into_iter().enumerate() {
            match key {
                Some(k) => self.keys.push((k, base + i)),
                None => self.empty.push(base + i),
            }
            self.held.push(held);
        }
        self.labels.extend_from_slice(&cols.labels);
    }

    /// Rows given so far.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Every row's fate.
    pub fn finish(self) -> RowPlan<L> {
        let labels = self.labels;
        let (keep, dropped, conflicting_labels) = keep_latest(
            labels.len(),
            self.keys,
            self.empty,
            |_, _| true,
            |k, i| labels[k] != labels[i],
        );
        let mut fates: Vec<RowFate> = keep
            .iter()
            .zip(&self.held)
            .map(|(&k, &h)| match (k, h) {
                (true, true) => RowFate::Test,
                (true, false) => RowFate::Train,
                // set below from the reasons
                (false, _) => RowFate::Empty,
            })
            .collect();
        for (i, reason) in dropped {
            if reason == RejectReason::Duplicate {
                fates[i] = RowFate::Duplicate;
            }
        }
        RowPlan {
            fates,
            labels,
            conflicting_labels,
        }
    }
}

/// Merges prepared row sets given oldest first: a cleaned text found in several keeps the newest set's
/// row (the same rule as within one set).
pub fn merge_latest_wins(sets: Vec<Vec<PreparedRow>>) -> Vec<PreparedRow> {
    let mut keep: Vec<Vec<bool>> = sets.iter().map(|s| vec![false; s.len()]).collect();
    let mut seen = rustc_hash::FxHashSet::default();
    for (set, keep) in sets.iter().zip(keep.iter_mut()).rev() {
        for (r, k) in set.iter().zip(keep.iter_mut()) {
            *k = seen.insert(r.clean.as_str());
        }
    }
    drop(seen);
    sets.into_iter()
        .zip(keep)
        .flat_map(|(set, keep)| {
            set.into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(r, _)| r)
        })
        .collect()
}

/// Tokens that do not make two texts different for the split: retweet markers and the placeholders of
/// mentions and URLs.
const SPLIT_IGNORED: &[&str] = &["rt", "xxuser", "xxurl"];

/// The key that decides a row's side of the split: its distinct word tokens, sorted, without retweet
/// markers and mention/URL placeholders (the whole cleaned text when nothing else is left). Texts with the
/// same words in any order share a key.
pub fn split_key(cleaned: &str) -> String {
    let mut toks: Vec<&str> = crate::text::tokens(cleaned, 1)
        .into_iter()
        .filter(|t| !SPLIT_IGNORED.contains(t))
        .collect();
    if toks.is_empty() {
        return cleaned.to_string();
    }
    toks.sort_unstable();
    toks.dedup();
    toks.join(" ")
}

/// The hash of [`split_key`] without building it: FNV-1a over the sorted, distinct FNV-1a hashes of the
/// key's words (little-endian), or of the whole cleaned text when no word is left.
pub(crate) fn split_hash(cleaned: &str) -> u64 {
    use crate::split::fnv1a64;
    thread_local! {
        static WORDS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    WORDS.with_borrow_mut(|w| {
        w.clear();
        crate::text::for_each_token(cleaned, 1, |t| {
            if !SPLIT_IGNORED.contains(&t) {
                w.push(fnv1a64(t.as_bytes()));
            }
        });
        if w.is_empty() {
            return fnv1a64(cleaned.as_bytes());
        }
        w.sort_unstable();
        w.dedup();
        w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
            x.to_le_bytes().iter().fold(h, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        })
    })
}

/// True when the row with this cleaned text is held out: `split_hash` through
/// [`crate::split::is_test_hash`]. Texts with the same [`split_key`] are always on the same side.
pub fn is_test(cleaned: &str, test_fraction: f64) -> bool {
    crate::split::is_test_hash(split_hash(cleaned), test_fraction)
}

/// Splits prepared rows into `(train, test)` by [`is_test`].
pub fn split(rows: Vec<PreparedRow>, test_fraction: f64) -> (Vec<PreparedRow>, Vec<PreparedRow>) {
    rows.into_iter()
        .partition(|r| !is_test(&r.clean, test_fraction))
}

/// [`split`] over [`Columns`]: `(train, test)`, each in input order.
pub fn split_columns<L>(cols: Columns<L>, test_fraction: f64) -> (Columns<L>, Columns<L>) {
    let held: Vec<bool> = cols
        .texts
        .par_iter()
        .map(|t| is_test(t, test_fraction))
        .collect();
    let (mut train, mut test) = (Columns::default(), Columns::default());
    for ((text, label), held) in cols.texts.into_iter().zip(cols.labels).zip(held) {
        let side = if held { &mut test } else { &mut train };
        side.texts.push(text);
        side.labels.push(label);
    }
    (train, test)
}

/// Cleaned texts with class indices for `labels`; rows of other classes are skipped and counted.
pub fn labelled(rows: &[PreparedRow], labels: &Labels) -> (Labelled, u64) {
    let mut out = Labelled::default();
    let mut unknown = 0;
    for r in rows {
        match labels.index(&r.label) {
            Some(c) => {
                out.texts.push(r.clean.clone());
                out.classes.push(c);
            }
            None => unknown += 1,
        }
    }
    (out, unknown)
}

/// Rows of a read table with their class names (step 1): `names[i]` is the class of the table's i-th
/// distinct label value, `None` to reject rows with it for `reason`. Rejected rows move to
/// `table.rejected` and the report is updated; returns the rows and their lines.
pub fn label_rows(
    table: &mut Table,
    names: &[Option<String>],
    reason: RejectReason,
) -> (Vec<Row>, Vec<u64>) {
    let (cols, lines) = label_columns(table, names, reason);
    let rows = cols
        .texts
        .into_iter()
        .zip(cols.labels)
        .map(|(text, label)| Row { text, label })
        .collect();
    (rows, lines)
}

/// [`label_rows`] as [`Columns`], with any class value (a name, or an index into a list of names).
pub fn label_columns<L: Clone>(
    table: &mut Table,
    classes: &[Option<L>],
    reason: RejectReason,
) -> (Columns<L>, Vec<u64>) {
    let texts = std::mem::take(&mut table.texts);
    let mut cols = Columns {
        texts: Vec::with_capacity(texts.len()),
        labels: Vec::with_capacity(texts.len()),
    };
    let mut lines = Vec::with_capacity(texts.len());
    for ((text, &li), &line) in texts.into_iter().zip(&table.labels).zip(&table.lines) {
        match &classes[li as usize] {
            Some(label) => {
                cols.texts.push(text);
                cols.labels.push(label.clone());
                lines.push(line);
            }
            None => {
                table.report.reject_accepted(reason);
                let raw = format!("{text} (label {:?})", table.label_values[li as usize]);
                table.rejected.push(Rejected { line, reason, raw });
            }
        }
    }
    table.lines = lines.clone();
    (cols, lines)
}

/// The class name, among a model's classes, of each distinct raw evaluation label (`None`: not a class
/// of the model). Under the contract's label map, the map decides (the rule ingest applies); without
/// one, the first of these that gives a class of the model: the model's stored scheme, the value as a
/// class name, the scheme detected from the file's own values (so a 0/1 file scores a pipeline model,
/// whose classes are names, and a `negative`/`positive` file scores a model trained on 0/1).
pub fn eval_classes(
    values: &[String],
    labels: &Labels,
    scheme: LabelScheme,
    contract: &Contract,
) -> Vec<Option<String>> {
    let known = |n: Option<String>| n.filter(|n| labels.index(n).is_some());
    if contract.label_map.is_some() {
        return contract
            .class_names(values)
            .0
            .into_iter()
            .map(known)
            .collect();
    }
    let detected = LabelScheme::detect(values.iter().map(String::as_str));
    values
        .iter()
        .map(|v| {
            [scheme, LabelScheme::Names, detected]
                .iter()
                .find_map(|s| known(s.normalize(v)))
        })
        .collect()
}

/// Why an evaluation file gave no rows to score, in one line: the model's classes and a few of the
/// labels read (quoted, cut), and the flag that maps them.
pub fn no_rows_hint(table: &Table, labels: &Labels) -> String {
    const SHOWN: usize = 5;
    let read: Vec<String> = table
        .label_values
        .iter()
        .take(SHOWN)
        .map(|v| quoted(v))
        .collect();
    let more = table.label_values.len().saturating_sub(SHOWN);
    format!(
        "the model's classes are {}; labels read: {}{}; map them with --label-map 'VALUE=CLASS;…'",
        labels.names().join(", "),
        if read.is_empty() {
            "(none)".to_string()
        } else {
            read.join(", ")
        },
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
    )
}

/// An evaluation file mapped onto a model's classes and cleaned with the model's settings: rows whose
/// label is not a class of the model are rejected (`unknown_label`), rows that clean to nothing too
/// (`empty_after_cleaning`); nothing is de-duplicated (every row of the file is scored).
pub fn prepare_eval(
    mut table: Table,
    labels: &Labels,
    scheme: LabelScheme,
    contract: &Contract,
    cfg: &CleanConfig,
) -> (Labelled, Table) {
    let names = eval_classes(&table.label_values, labels, scheme, contract);
    let (rows, lines) = label_rows(&mut table, &names, RejectReason::UnknownLabel);
    let cleaned: Vec<String> = rows.par_iter().map(|r| clean(&r.text, cfg)).collect();
    let mut out = Labelled::default();
    let mut kept_lines = Vec::with_capacity(lines.len());
    for ((row, c), line) in rows.into_iter().zip(cleaned).zip(lines) {
        if c.trim().is_empty() {
            table
                .report
                .reject_accepted(RejectReason::EmptyAfterCleaning);
            table.rejected.push(Rejected {
                line,
                reason: RejectReason::EmptyAfterCleaning,
                raw: row.text,
            });
            continue;
        }
        out.classes.push(
            labels
                .index(&row.label)
                .expect("eval_classes returns classes of the model"),
        );
        out.texts.push(c);
        kept_lines.push(line);
    }
    table.lines = kept_lines;
    (out, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: &str, l: &str) -> Row {
        Row {
            text: t.into(),
            label: l.into(),
        }
    }

    #[test]
    fn drops_empties_and_keeps_the_latest_duplicate() {
        let p = prepare(
            vec![
                row("Great film", "negative"),
                row("<b></b>", "positive"),
                row("bad", "negative"),
                row("great   FILM", "positive"),
            ],
            &CleanConfig::default(),
        );
        let kept: Vec<(&str, &str)> = p
            .rows
            .iter()
            .map(|r| (r.clean.as_str(), r.label.as_str()))
            .collect();
        assert_eq!(kept, [("bad", "negative"), ("great film", "positive")]);
        assert_eq!(
            p.dropped,
            [
                (0, RejectReason::Duplicate),
                (1, RejectReason::EmptyAfterCleaning)
            ]
        );
        assert_eq!(p.conflicting_labels, 1);
        assert_eq!(p.rows.len() + p.dropped.len(), 4);
    }

    fn plan_texts() -> Vec<String> {
        (0..3000u32)
            .map(|i| match i % 7 {
                0 => "<b> </b>".to_string(),
                1 | 2 => format!("Text  {}", i % 50),
                3 => format!("text {}", i % 50),
                _ => format!("unique {i}"),
            })
            .collect()
    }

    /// [`RowPlanner`] given `cols` in batches of 1, 17 and all rows, holding out a fifth.
    fn plan_in_batches(cols: &Columns<u32>, cfg: &CleanConfig) -> Vec<RowPlan<u32>> {
        [1, 17, cols.texts.len()]
            .into_iter()
            .map(|batch| {
                let mut planner = RowPlanner::new(Some(0.2));
                for (t, l) in cols.texts.chunks(batch).zip(cols.labels.chunks(batch)) {
                    let mut c = Columns {
                        texts: t.to_vec(),
                        labels: l.to_vec(),
                    };
                    planner.add(&mut c, cfg);
                }
                assert_eq!(planner.rows(), cols.texts.len());
                planner.finish()
            })
            .collect()
    }

    #[test]
    fn the_training_columns_keep_what_prepare_keeps() {
        // many duplicates (some with other labels), texts that clean to nothing, and case/space variants
        let mut rows = Vec::new();
        for (i, text) in (0..3000u32).zip(plan_texts()) {
            let label = if (i / 3) % 2 == 0 {
                "negative"
            } else {
                "positive"
            };
            rows.push(row(&text, label));
        }
        let cfg = CleanConfig::default();
        let names = ["negative".to_string(), "positive".to_string()];
        let cols = Columns {
            texts: rows.iter().map(|r| r.text.clone()).collect(),
            labels: rows
                .iter()
                .map(|r| u32::from(r.label == "positive"))
                .collect::<Vec<u32>>(),
        };
        let want = prepare(rows, &cfg);
        let planned = plan_in_batches(&cols, &cfg);
        let (kept, got) = prepare_columns(cols, &cfg);
        // the planner, given the rows in batches, decides the same
        for plan in planned {
            let dropped: Vec<(usize, RejectReason)> = plan
                .fates
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.reason().map(|r| (i, r)))
                .collect();
            assert_eq!(dropped, want.dropped);
            assert_eq!(plan.conflicting_labels, want.conflicting_labels);
            let (train, test) = split_columns(kept.clone(), 0.2);
            let side = |fate| {
                let mut c = Columns::default();
                for (i, f) in plan.fates.iter().enumerate() {
                    if *f == fate {
                        c.texts.push(clean(&plan_texts()[i], &cfg));
                        c.labels.push(plan.labels[i]);
                    }
                }
                c
            };
            assert!(!test.texts.is_empty());
            assert_eq!(side(RowFate::Train), train);
            assert_eq!(side(RowFate::Test), test);
        }
        assert_eq!(got.dropped, want.dropped);
        assert_eq!(got.conflicting_labels, want.conflicting_labels);
        assert!(want.conflicting_labels > 0 && want.count(RejectReason::Duplicate) > 100);
        let kept: Vec<(String, &str)> = kept
            .texts
            .into_iter()
            .zip(kept.labels)
            .map(|(t, l)| (t, names[l as usize].as_str()))
            .collect();
        let want: Vec<(String, &str)> = want
            .rows
            .iter()
            .map(|r| (r.clean.clone(), r.label.as_str()))
            .collect();
        assert_eq!(kept, want);
    }

    #[test]
    fn newer_sets_win_across_sets() {
        let r = |c: &str, l: &str| PreparedRow {
            text: c.into(),
            clean: c.into(),
            label: l.into(),
        };
        let merged = merge_latest_wins(vec![
            vec![r("a", "negative"), r("b", "negative")],
            vec![r("a", "positive")],
        ]);
        assert_eq!(merged, [r("b", "negative"), r("a", "positive")]);
    }

    #[test]
    fn near_duplicates_share_a_side() {
        assert_eq!(split_key("great fun , great cast"), "cast fun great");
        assert_eq!(split_key("rt xxuser : loved it"), split_key("loved it"));
        assert_eq!(split_key("cast great fun"), split_key("fun cast great"));
        assert_eq!(split_key("xxurl"), "xxurl");
        for f in [0.1, 0.2, 0.5] {
            assert_eq!(
                is_test("the movie was good", f),
                is_test("good the was movie", f)
            );
        }
    }

    #[test]
    fn eval_labels_map_through_the_contract_the_scheme_or_as_class_names() {
        let labels = Labels::from_names(["negative", "positive"]);
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let none = Contract::default();
        let got = |values: &[&str], scheme, c: &Contract| {
            eval_classes(&v(values), &labels, scheme, c)
                .into_iter()
                .map(|n| n.unwrap_or_else(|| "-".into()))
                .collect::<Vec<_>>()
        };
        // the model's scheme, then names
        assert_eq!(
            got(&["1", "Negative", "7"], LabelScheme::Binary01, &none),
            ["positive", "negative", "-"]
        );
        assert_eq!(got(&["neutral"], LabelScheme::Names, &none), ["-"]);
        // a pipeline model (classes are names) scores a 0/1 file through the file's own scheme
        assert_eq!(
            got(&["0", "1"], LabelScheme::Names, &none),
            ["negative", "positive"]
        );
        // a label map decides alone, as at ingest; a mapped class the model lacks is not a class
        let mapped = Contract {
            label_map: Some(
                [("a", "positive"), ("b", "negative"), ("c", "mixed")]
                    .into_iter()
                    .map(|(k, n)| (k.to_string(), n.to_string()))
                    .collect(),
            ),
            ..Contract::default()
        };
        assert_eq!(
            got(&["a", "b", "c", "positive"], LabelScheme::Names, &mapped),
            ["positive", "negative", "-", "-"]
        );
    }
}
