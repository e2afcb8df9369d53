//! Readers for labelled text: CSV (RFC 4180 quoting, multi-line fields), TSV (no quoting) and JSONL, plain
//! or gzip-compressed.
//!
//! * **Format**: by file extension (`.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`/`.json`, each optionally
//!   `.gz`), else sniffed from the content (`{` first → JSONL; else tabs vs commas on the first line). Gzip
//!   is detected by its magic bytes, whatever the name.
//! * **Columns**: `text_col` / `label_col` when given (case-insensitive), else the first header that matches
//!   `TEXT_COLUMNS` / `LABEL_COLUMNS`. CSV/TSV need a header row; a UTF-8 byte-order mark is ignored.
//! * **Rows**: every data row (blank lines are not rows) is either accepted or rejected with a
//!   [`RejectReason`]; `rows_in == accepted + rejected` always holds. Rows are never silently dropped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Text column names recognised automatically, in order of preference.
pub(crate) const TEXT_COLUMNS: &[&str] = &[
    "text",
    "sentence",
    "content",
    "review",
    "review_text",
    "comment",
    "body",
    "message",
    "tweet",
    "document",
    "utterance",
];
/// Label column names recognised automatically, in order of preference.
pub(crate) const LABEL_COLUMNS: &[&str] = &[
    "label",
    "sentiment",
    "polarity",
    "class",
    "target",
    "category",
    "labels",
    "y",
];

/// A supported input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated, RFC 4180 quoting.
    Csv,
    /// Tab-separated, no quoting.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

crate::named_enum! {
    /// Why a row was rejected. The names are stable (they appear in reports and quarantine files).
    pub enum RejectReason {
        /// The text or label field is not valid UTF-8.
        InvalidUtf8 = "invalid_utf8",
        /// The text field is missing, empty or only whitespace.
        MissingText = "missing_text",
        /// The label field is missing or empty.
        MissingLabel = "missing_label",
        /// A CSV/TSV row has a different number of fields than the header (or the first row).
        WrongFieldCount = "wrong_field_count",
        /// A JSONL line is not a JSON object.
        InvalidJson = "invalid_json",
        /// The label is not one of the model's classes (evaluation only).
        UnknownLabel = "unknown_label",
        /// The label has no entry in the data contract's label mapping.
        UnmappedLabel = "unmapped_label",
        /// The text is empty after cleaning (only markup, say).
        EmptyAfterCleaning = "empty_after_cleaning",
        /// The same cleaned text appears later in the data; the later row is kept.
        Duplicate = "duplicate",
        /// The text is longer than the reader's `max_text_chars`.
        TextTooLong = "text_too_long",
    }
}

/// One rejected row: where it was, why, and its content (lossily decoded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// 1-based line where the row starts.
    pub line: u64,
    /// Why it was rejected.
    pub reason: RejectReason,
    /// The row as read (fields joined by the delimiter for CSV/TSV).
    pub raw: String,
}

/// Row accounting: `rows_in == accepted + rejected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadReport {
    /// Data rows read.
    pub rows_in: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rejected rows by reason name.
    pub reasons: BTreeMap<String, u64>,
}

impl ReadReport {
    /// Records one rejected row.
    pub fn reject(&mut self, reason: RejectReason) {
        self.rows_in += 1;
        self.rejected += 1;
        *self.reasons.entry(reason.as_str().to_string()).or_insert(0) += 1;
    }

    /// Turns one row counted as accepted into a rejection (a later check refused it); `rows_in` stays.
    pub fn reject_accepted(&mut self, reason: RejectReason) {
        self.accepted -= 1;
        self.rows_in -= 1;
        self.reject(reason);
    }

    /// Records one accepted row.
    pub fn accept(&mut self) {
        self.rows_in += 1;
        self.accepted += 1;
    }

    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: &ReadReport) {
        self.rows_in += other.rows_in;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        for (k, v) in &other.reasons {
            *self.reasons.entry(k.clone()).or_insert(0) += v;
        }
    }
}

/// A column: by header name (case-insensitive), or by 1-based position (files without a header row).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    /// 1-based position.
    Position(usize),
    /// Header name.
    Name(String),
}

impl Column {
    /// Parses a column given on a command line or in object metadata: without a header row it must be a
    /// 1-based position; with one it is a header name, except that `#N` always means position `N`.
    ///
    /// # Errors
    /// A message when a position is needed and `spec` is not a whole number ≥ 1.
    pub fn parse(spec: &str, has_header: bool) -> Result<Self, String> {
        let spec = spec.trim();
        let position = |v: &str| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .map(Column::Position)
                .ok_or_else(|| format!("{} is not a column position (1, 2, …)", quoted(v)))
        };
        match spec.strip_prefix('#') {
            Some(n) => position(n),
            None if !has_header => position(spec),
            None if spec.is_empty() => Err("a column name cannot be empty".into()),
            None => Ok(Column::Name(spec.to_string())),
        }
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Position(n) => write!(f, "#{n}"),
            Column::Name(n) => f.write_str(&quoted(n)),
        }
    }
}

/// A bounded, escaped rendering of file content for messages: at most 40 characters, control
/// characters escaped, in double quotes. Row content never appears in messages in any other form.
pub fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// True for characters a terminal would interpret instead of showing: control characters (ESC, newline,
/// carriage return, …) and the bidirectional overrides that reorder text.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name (an upload's file or folder name, a key) as it may be shown on a terminal or in a table: every
/// [`is_unprintable`] character escaped (`\u{1b}`, `\n`), at most 80 characters (then `…`).
pub fn visible(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::with_capacity(s.len().min(4 * MAX));
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        push_printable(&mut out, c);
    }
    out
}

/// A stored sentence (a reason, a check) as it may be shown on a terminal: whole, with every
/// [`is_unprintable`] character escaped as in [`visible`].
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_printable(&mut out, c);
    }
    out
}

fn push_printable(out: &mut String, c: char) {
    if is_unprintable(c) {
        out.extend(c.escape_unicode());
    } else {
        out.push(c);
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Text column; auto-detected (by header name) when `None`.
    pub text_col: Option<Column>,
    /// Label column; auto-detected (by header name) when `None`.
    pub label_col: Option<Column>,
    /// Read only the text column (for prediction): no label column is needed or read.
    pub text_only: bool,
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// CSV/TSV: the first row is a header (default). Without one, columns are given by position.
    pub has_header: bool,
    /// CSV/TSV: the field delimiter, when the extension and sniffing cannot tell (e.g. `;`).
    pub delimiter: Option<u8>,
    /// The most bytes the file may have once decompressed; a larger file is an error
    /// ([`ReadError::TooLarge`]) found before more is decompressed. `None`: no limit.
    pub max_bytes: Option<u64>,
    /// The longest text a row may have, in characters; a longer one is rejected (`text_too_long`,
    /// its content kept cut to the limit). `None`: no limit.
    pub max_text_chars: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            text_col: None,
            label_col: None,
            text_only: false,
            format: None,
            has_header: true,
            delimiter: None,
            max_bytes: None,
            max_text_chars: None,
        }
    }
}

/// Rows read from one file: texts with their raw label values, plus the accounting.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Accepted texts, in file order.
    pub texts: Vec<String>,
    /// For each accepted text, an index into `label_values` (empty when `text_only`).
    pub labels: Vec<u32>,
    /// Distinct raw label values (trimmed), in first-seen order.
    pub label_values: Vec<String>,
    /// 1-based line of each accepted row.
    pub lines: Vec<u64>,
    /// Rejected rows.
    pub rejected: Vec<Rejected>,
    /// Row accounting.
    pub report: ReadReport,
    /// The text column used.
    pub text_col: String,
    /// The label column used (empty when `text_only`).
    pub label_col: String,
}

/// A whole-file problem (row problems are rejections, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File name.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Gzip data is corrupt.
    #[error("{path}: not valid gzip data: {source}")]
    Gzip {
        /// File name.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The header row is missing or not valid UTF-8.
    #[error("{path}: {problem}")]
    Header {
        /// File name.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A needed column is not there.
    #[error("{path}: no {role} column {wanted}; columns are: {available}")]
    ColumnNotFound {
        /// File name.
        path: String,
        /// `text` or `label`.
        role: &'static str,
        /// What was looked for.
        wanted: String,
        /// What the file has.
        available: String,
    },
    /// The file, decompressed, is larger than the reader allows.
    #[error(
        "{path}: more than {limit} bytes once decompressed (the limit; split the data into several uploads or raise it)"
    )]
    TooLarge {
        /// File name.
        path: String,
        /// The limit, bytes.
        limit: u64,
    },
}

impl ReadError {
    /// True when retrying could help (an I/O error), false for content problems.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

/// Reads a file from disk. See the module docs.
///
/// # Errors
/// [`ReadError`] when the file cannot be read or its header lacks a needed column.
pub fn read_path(path: &Path, opts: &ReadOptions) -> Result<Table, ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    read_bytes(&name, &bytes, opts)
}

/// Reads an in-memory file; `name` gives the extension and names the file in errors.
///
/// # Errors
/// [`ReadError`] when gzip data is corrupt or the header lacks a needed column.
pub fn read_bytes(name: &str, bytes: &[u8], opts: &ReadOptions) -> Result<Table, ReadError> {
    let decompressed;
    let mut data = bytes;
    let limit = opts.max_bytes.unwrap_or(u64::MAX);
    let too_large = || ReadError::TooLarge {
        path: name.to_string(),
        limit,
    };
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // at most one byte past the limit is ever decompressed (a small upload may expand a thousandfold)
        flate2::read::MultiGzDecoder::new(data)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|source| ReadError::Gzip {
                path: name.to_string(),
                source,
            })?;
        decompressed = out;
        data = &decompressed;
    }
    if data.len() as u64 > limit {
        return Err(too_large());
    }
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let format = opts.format.unwrap_or_else(|| detect_format(name, data));
    match (format, opts.delimiter) {
        (Format::Jsonl, _) => read_jsonl(name, data, opts),
        (Format::Csv, d) => {
            read_delimited(name, data, opts, d.unwrap_or(b','), true, PARALLEL_BYTES)
        }
        (Format::Tsv, d) => {
            read_delimited(name, data, opts, d.unwrap_or(b'\t'), false, PARALLEL_BYTES)
        }
    }
}

/// The format a file name and content imply. See the module docs.
pub(crate) fn detect_format(name: &str, data: &[u8]) -> Format {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    if stem.ends_with(".csv") {
        return Format::Csv;
    }
    if stem.ends_with(".tsv") || stem.ends_with(".tab") {
        return Format::Tsv;
    }
    if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        return Format::Jsonl;
    }
    let first = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| data[i]);
    if first == Some(b'{') {
        return Format::Jsonl;
    }
    let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = &data[..line_end];
    let tabs = line.iter().filter(|&&b| b == b'\t').count();
    let commas = line.iter().filter(|&&b| b == b',').count();
    if tabs > 0 && tabs >= commas {
        Format::Tsv
    } else {
        Format::Csv
    }
}

/// Index of the column to use: the requested one, else the first candidate present. `header` is `None`
/// for a file without a header row (then `n_fields` columns exist and only positions can name them).
fn pick_column(
    path: &str,
    header: Option<&[String]>,
    n_fields: usize,
    wanted: Option<&Column>,
    candidates: &[&str],
    role: &'static str,
) -> Result<usize, ReadError> {
    let find = |n: &str| {
        header?
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(n))
    };
    let found = match wanted {
        Some(Column::Position(p)) => (*p >= 1 && *p <= n_fields).then(|| p - 1),
        Some(Column::Name(n)) => find(n),
        None => candidates.iter().find_map(|c| find(c)),
    };
    found.ok_or_else(|| ReadError::ColumnNotFound {
        path: path.to_string(),
        role,
        wanted: match (wanted, header) {
            (Some(w), _) => w.to_string(),
            (None, Some(_)) => format!("(looked for {}; pass --{role}-col)", candidates.join(", ")),
            (None, None) => {
                format!("(the file has no header row; pass --{role}-col N, a position)")
            }
        },
        available: match header {
            Some(h) => describe_columns(h),
            None => format!("{n_fields} unnamed"),
        },
    })
}

/// The header cells for a message: each quoted and truncated, at most 12 of them.
fn describe_columns(header: &[String]) -> String {
    const MAX: usize = 12;
    let mut parts: Vec<String> = header.iter().take(MAX).map(|h| quoted(h)).collect();
    if header.len() > MAX {
        parts.push(format!("… ({} in all)", header.len()));
    }
    parts.join(", ")
}

struct Builder {
    table: Table,
    label_index: rustc_hash::FxHashMap<String, u32>,
    max_text_chars: Option<usize>,
}

impl Builder {
    fn new(opts: &ReadOptions) -> Self {
        Self {
            table: Table::default(),
            label_index: Default::default(),
            max_text_chars: opts.max_text_chars,
        }
    }

    fn reject(&mut self, line: u64, reason: RejectReason, raw: String) {
        self.table.report.reject(reason);
        self.table.rejected.push(Rejected { line, reason, raw });
    }

    fn accept(&mut self, line: u64, text: String, label: Option<&str>) {
        self.table.report.accept();
        self.table.texts.push(text);
        self.table.lines.push(line);
        if let Some(l) = label {
            let idx = self.label_id(l.trim());
            self.table.labels.push(idx);
        }
    }

    /// The index of a (trimmed) label value in `label_values`, added when new.
    fn label_id(&mut self, l: &str) -> u32 {
        let next = self.table.label_values.len() as u32;
        match self.label_index.get(l) {
            Some(&i) => i,
            None => {
                self.label_index.insert(l.to_string(), next);
                self.table.label_values.push(l.to_string());
                next
            }
        }
    }

    /// Appends the rows of `part`, read from the lines that follow this builder's: label values keep
    /// their first-seen order over both.
    fn absorb(&mut self, part: Builder) {
        let t = part.table;
        let remap: Vec<u32> = t.label_values.iter().map(|v| self.label_id(v)).collect();
        self.table.texts.extend(t.texts);
        self.table
            .labels
            .extend(t.labels.iter().map(|&l| remap[l as usize]));
        self.table.lines.extend(t.lines);
        self.table.rejected.extend(t.rejected);
        self.table.report.merge(&t.report);
    }

    /// Validates one row's text and label; accepts or rejects it.
    fn row(
        &mut self,
        line: u64,
        text: Option<&[u8]>,
        label: Option<&[u8]>,
        text_only: bool,
        raw: impl FnOnce() -> String,
    ) {
        let text = match text.map(std::str::from_utf8) {
            Some(Ok(t)) if !t.trim().is_empty() => t,
            Some(Err(_)) => return self.reject(line, RejectReason::InvalidUtf8, raw()),
            _ => return self.reject(line, RejectReason::MissingText, raw()),
        };
        if let Some(max) = self.max_text_chars
            && text.len() > max
            && text.chars().nth(max).is_some()
        {
            let kept: String = text.chars().take(max).collect();
            return self.reject(line, RejectReason::TextTooLong, format!("{kept}…"));
        }
        if text_only {
            return self.accept(line, text.to_string(), None);
        }
        match label.map(std::str::from_utf8) {
            Some(Ok(l)) if !l.trim().is_empty() => self.accept(line, text.to_string(), Some(l)),
            Some(Err(_)) => self.reject(line, RejectReason::InvalidUtf8, raw()),
            _ => self.reject(line, RejectReason::MissingLabel, raw()),
        }
    }
}

/// Reads a delimited file; what follows the header is read in parallel pieces from `parallel_min` bytes.
fn read_delimited(
    path: &str,
    data: &[u8],
    opts: &ReadOptions,
    delim: u8,
    quoting: bool,
    parallel_min: usize,
) -> Result<Table, ReadError> {
    let (rows, mut b, start) = delimited_head(path, data, opts, delim, quoting)?;
    rows.read_rest(
        &mut b,
        &data[start..],
        newlines(&data[..start]),
        parallel_min,
        opts,
    );
    Ok(b.table)
}

/// Reads the header of a delimited file (or, without one, its first row): the columns picked, a builder
/// holding the first row when it is data, and where the rows that follow start in `data`.
fn delimited_head(
    path: &str,
    data: &[u8],
    opts: &ReadOptions,
    delim: u8,
    quoting: bool,
) -> Result<(Rows, Builder, usize), ReadError> {
    let mut rdr = csv_reader(data, delim, quoting);
    let mut rec = csv::ByteRecord::new();
    let header_err = |problem: &str| ReadError::Header {
        path: path.to_string(),
        problem: problem.to_string(),
    };
    let first = rdr.read_byte_record(&mut rec);
    let (header, n_fields) = if opts.has_header {
        match first {
            Ok(true) => {}
            Err(e) => return Err(header_err(&format!("unreadable header row: {e}"))),
            Ok(false) => return Err(header_err("the file is empty: expected a header row")),
        };
        let header: Vec<String> = rec
            .iter()
            .map(|f| std::str::from_utf8(f).map(str::to_string))
            .collect::<Result<_, _>>()
            .map_err(|_| header_err("the header row is not valid UTF-8"))?;
        let n = header.len();
        (Some(header), n)
    } else {
        match first {
            Ok(true) => (None, rec.len()),
            Err(e) => return Err(header_err(&format!("unreadable first row: {e}"))),
            Ok(false) => return Err(header_err("the file is empty")),
        }
    };
    // without a header, the first record read is the first row
    let pending = header.is_none();
    let ti = pick_column(
        path,
        header.as_deref(),
        n_fields,
        opts.text_col.as_ref(),
        TEXT_COLUMNS,
        "text",
    )?;
    let li = if opts.text_only {
        None
    } else {
        Some(pick_column(
            path,
            header.as_deref(),
            n_fields,
            opts.label_col.as_ref(),
            LABEL_COLUMNS,
            "label",
        )?)
    };
    let name = |i: usize| match &header {
        Some(h) => h[i].clone(),
        None => format!("#{}", i + 1),
    };
    let mut b = Builder::new(opts);
    b.table.text_col = name(ti);
    b.table.label_col = li.map(name).unwrap_or_default();
    let rows = Rows {
        n_fields,
        ti,
        li,
        delim,
        quoting,
        text_only: opts.text_only,
        sep: char::from(delim).to_string(),
    };
    if pending {
        rows.classify(&mut b, &rec, data, 0);
    }
    let start = usize::try_from(rdr.position().byte()).map_or(data.len(), |s| s.min(data.len()));
    Ok((rows, b, start))
}

/// How much of a file [`read_blocks`] is usually asked to read at a time: large enough that each block is
/// read in parallel pieces, small enough that a block's rows take a small share of a large input's memory.
pub const BLOCK_BYTES: usize = 16 << 20;

/// Whether [`read_blocks`] can read this file: plain (not gzip) CSV or TSV whose rows can be cut at any
/// newline (TSV, or CSV without a quote character anywhere), within `opts.max_bytes`. JSON lines and
/// compressed files are read whole.
///
/// # Errors
/// [`ReadError::Io`] when the file cannot be read.
pub fn can_read_blocks(path: &Path, opts: &ReadOptions) -> Result<bool, ReadError> {
    let name = path.display().to_string();
    let io = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut first = true;
    let mut total = 0u64;
    loop {
        let n = read_full(&mut file, &mut buf).map_err(io)?;
        total += n as u64;
        let chunk = &buf[..n];
        if first {
            first = false;
            let head = chunk.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(chunk);
            if head.starts_with(&[0x1f, 0x8b]) {
                return Ok(false);
            }
            match (
                opts.format.unwrap_or_else(|| detect_format(&name, head)),
                opts.delimiter,
            ) {
                (Format::Jsonl, _) => return Ok(false),
                (Format::Tsv, _) => return Ok(total_within(path, opts)),
                (Format::Csv, _) => {}
            }
        }
        if chunk.contains(&b'"') {
            return Ok(false);
        }
        if n < buf.len() {
            return Ok(total <= opts.max_bytes.unwrap_or(u64::MAX));
        }
    }
}

fn total_within(path: &Path, opts: &ReadOptions) -> bool {
    let limit = opts.max_bytes.unwrap_or(u64::MAX);
    std::fs::metadata(path).is_ok_and(|m| m.len() <= limit)
}

/// Fills `buf` from `r` as far as it goes; the bytes read (fewer than `buf.len()` only at the end).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a file in blocks of about `block` bytes cut after a newline, handing `each` the table of each
/// block's rows in file order: lines numbered in the whole file, label values first-seen within the block,
/// the column names on every table. The blocks' tables joined are the table [`read_path`] reads (a test
/// compares them); at most one block is held at a time. A file that [`can_read_blocks`] says no to is
/// read whole, as one table.
///
/// # Errors
/// [`ReadError`] as [`read_path`], or `each`'s error (its `Err` stops the reading).
pub fn read_blocks<E: From<ReadError>>(
    path: &Path,
    opts: &ReadOptions,
    block: usize,
    mut each: impl FnMut(Table) -> Result<(), E>,
) -> Result<(), E> {
    let name = path.display().to_string();
    let io = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    if !can_read_blocks(path, opts)? {
        return each(read_path(path, opts)?);
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let block = block.max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut head: Option<(Rows, String, String)> = None;
    let mut lines_before = 0u64;
    let mut eof = false;
    while !(eof && buf.is_empty()) {
        // fill to a whole block, then cut after its last newline (reading on while there is none)
        let (mut want, mut searched) = (block, 0);
        let cut = loop {
            if !eof && buf.len() < want {
                let had = buf.len();
                buf.resize(want, 0);
                let n = read_full(&mut file, &mut buf[had..]).map_err(io)?;
                buf.truncate(had + n);
                eof = had + n < want;
            }
            match buf[searched..].iter().rposition(|&c| c == b'\n') {
                _ if eof => break buf.len(),
                Some(i) => break searched + i + 1,
                None => (searched, want) = (buf.len(), buf.len() + block),
            }
        };
        let data = &buf[..cut];
        let table = match &head {
            None => {
                let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
                let format = opts.format.unwrap_or_else(|| detect_format(&name, body));
                let (delim, quoting) = match (format, opts.delimiter) {
                    (Format::Csv, d) => (d.unwrap_or(b','), true),
                    (_, d) => (d.unwrap_or(b'\t'), false),
                };
                let (rows, mut b, start) = delimited_head(&name, body, opts, delim, quoting)?;
                let before = newlines(&body[..start]);
                rows.read_rest(&mut b, &body[start..], before, PARALLEL_BYTES, opts);
                head = Some((rows, b.table.text_col.clone(), b.table.label_col.clone()));
                b.table
            }
            Some((rows, text_col, label_col)) => {
                let mut b = Builder::new(opts);
                rows.read_rest(&mut b, data, lines_before, PARALLEL_BYTES, opts);
                b.table.text_col.clone_from(text_col);
                b.table.label_col.clone_from(label_col);
                b.table
            }
        };
        lines_before += newlines(data);
        buf.drain(..cut);
        each(table)?;
    }
    Ok(())
}

/// A csv reader over `data` as every delimited file is parsed: rows of any length (checked against the
/// header's by the caller), the header read as a record.
fn csv_reader(data: &[u8], delim: u8, quoting: bool) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delim)
        .quoting(quoting)
        .flexible(true)
        .has_headers(false)
        .from_reader(data)
}

/// Below this many bytes after the header, a delimited file is read in one pass.
const PARALLEL_BYTES: usize = 1 << 20;

fn newlines(data: &[u8]) -> u64 {
    data.iter().filter(|&&c| c == b'\n').count() as u64
}

/// `data` cut into about `n` pieces, each ending after a newline (the last at the end), with the number of
/// newlines before each piece.
fn line_pieces(data: &[u8], n: usize) -> Vec<(&[u8], u64)> {
    let target = data.len().div_ceil(n.max(1)).max(1);
    let mut pieces = Vec::with_capacity(n + 1);
    let (mut at, mut before) = (0, 0u64);
    while at < data.len() {
        let cut = (at + target).min(data.len());
        let end = data[cut..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |i| cut + i + 1);
        let piece = &data[at..end];
        pieces.push((piece, before));
        before += newlines(piece);
        at = end;
    }
    pieces
}

/// How the rows of a delimited file are classified: the columns picked from its header.
struct Rows {
    n_fields: usize,
    ti: usize,
    li: Option<usize>,
    delim: u8,
    quoting: bool,
    text_only: bool,
    sep: String,
}

impl Rows {
    /// Reads `data`, rows that follow the header and `lines_before` lines of the file, into `b`. From
    /// `parallel_min` bytes, when no field can hold a newline (no quoting, or no quote character at all),
    /// in pieces cut after a newline, read in parallel: each piece numbers its lines from the line it
    /// starts on and the pieces are joined in order, giving the table one pass reads (a test compares them).
    fn read_rest(
        &self,
        b: &mut Builder,
        data: &[u8],
        lines_before: u64,
        parallel_min: usize,
        opts: &ReadOptions,
    ) {
        if data.len() < parallel_min || (self.quoting && data.contains(&b'"')) {
            let mut rdr = csv_reader(data, self.delim, self.quoting);
            let mut rec = csv::ByteRecord::new();
            return self.read_all(b, &mut rdr, &mut rec, data, lines_before);
        }
        let parts: Vec<Builder> = line_pieces(data, rayon::current_num_threads() * 4)
            .into_par_iter()
            .map(|(piece, newlines_in_rest)| {
                let mut rdr = csv_reader(piece, self.delim, self.quoting);
                let mut part = Builder::new(opts);
                let mut rec = csv::ByteRecord::new();
                self.read_all(
                    &mut part,
                    &mut rdr,
                    &mut rec,
                    piece,
                    lines_before + newlines_in_rest,
                );
                part
            })
            .collect();
        for part in parts {
            b.absorb(part);
        }
    }

    /// Reads every remaining record of `rdr` (reading `data`, which follows `lines_before` lines of the
    /// file) into `b`.
    fn read_all(
        &self,
        b: &mut Builder,
        rdr: &mut csv::Reader<&[u8]>,
        rec: &mut csv::ByteRecord,
        data: &[u8],
        lines_before: u64,
    ) {
        loop {
            match rdr.read_byte_record(rec) {
                Ok(true) => self.classify(b, rec, data, lines_before),
                Ok(false) => return,
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(0, |p| start_line(data, p) + lines_before);
                    b.reject(line, RejectReason::WrongFieldCount, e.to_string());
                }
            }
        }
    }

    /// Accepts or rejects one record read from `data` (see [`Rows::read_all`]).
    fn classify(&self, b: &mut Builder, rec: &csv::ByteRecord, data: &[u8], lines_before: u64) {
        let line = rec
            .position()
            .map_or(0, |p| start_line(data, p) + lines_before);
        let raw = || {
            rec.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(&self.sep)
        };
        if rec.len() != self.n_fields {
            return b.reject(line, RejectReason::WrongFieldCount, raw());
        }
        b.row(
            line,
            rec.get(self.ti),
            self.li.and_then(|i| rec.get(i)),
            self.text_only,
            raw,
        );
    }
}

/// The 1-based line a record starts on. The csv reader places a record where the previous one ended, before
/// the blank lines (and the `\n` of a `\r\n` ending) it skips, so those line breaks are counted here.
fn start_line(data: &[u8], pos: &csv::Position) -> u64 {
    let at = usize::try_from(pos.byte()).unwrap_or(usize::MAX);
    let skipped = data.get(at..).map_or(0, |rest| {
        rest.iter()
            .take_while(|&&c| c == b'\n' || c == b'\r')
            .filter(|&&c| c == b'\n')
            .count()
    });
    pos.line() + skipped as u64
}

fn json_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(x) => Some(x.to_string()),
        _ => None,
    }
}

fn read_jsonl(path: &str, data: &[u8], opts: &ReadOptions) -> Result<Table, ReadError> {
    let mut b = Builder::new(opts);
    let mut cols: Option<(String, Option<String>)> = None;
    for (i, line) in data.split(|&c| c == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let raw = || String::from_utf8_lossy(line).into_owned();
        let Ok(s) = std::str::from_utf8(line) else {
            b.reject(line_no, RejectReason::InvalidUtf8, raw());
            continue;
        };
        let obj = match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(o)) => o,
            _ => {
                b.reject(line_no, RejectReason::InvalidJson, raw());
                continue;
            }
        };
        if cols.is_none() {
            let keys: Vec<String> = obj.keys().cloned().collect();
            let n = keys.len();
            let t = pick_column(
                path,
                Some(&keys),
                n,
                opts.text_col.as_ref(),
                TEXT_COLUMNS,
                "text",
            )?;
            let l = if opts.text_only {
                None
            } else {
                Some(
                    keys[pick_column(
                        path,
                        Some(&keys),
                        n,
                        opts.label_col.as_ref(),
                        LABEL_COLUMNS,
                        "label",
                    )?]
                    .clone(),
                )
            };
            b.table.text_col = keys[t].clone();
            b.table.label_col = l.clone().unwrap_or_default();
            cols = Some((keys[t].clone(), l));
        }
        let Some((tc, lc)) = &cols else { continue };
        let text = obj.get(tc).and_then(json_scalar);
        let label = lc.as_ref().and_then(|l| obj.get(l)).and_then(json_scalar);
        b.row(
            line_no,
            text.as_deref().map(str::as_bytes),
            label.as_deref().map(str::as_bytes),
            opts.text_only,
            raw,
        );
    }
    Ok(b.table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, data: &[u8]) -> Table {
        read_bytes(name, data, &ReadOptions::default()).unwrap()
    }

    fn reasons(t: &Table) -> Vec<(&str, u64)> {
        t.report
            .reasons
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    #[test]
    fn rows_are_placed_on_their_own_line_after_blank_lines_and_crlf_endings() {
        for (name, nl) in [("lf.tsv", "\n"), ("crlf.tsv", "\r\n"), ("crlf.csv", "\r\n")] {
            let d = if name.ends_with("csv") { "," } else { "\t" };
            let text = [
                "label{d}text",
                "pos{d}ok",
                "neg{d}",
                "pos{d}fine",
                "",
                "",
                "neg{d} ",
                "pos{d}end",
            ]
            .map(|l| l.replace("{d}", d))
            .join(nl);
            let t = read(name, text.as_bytes());
            let rejected: Vec<u64> = t.rejected.iter().map(|r| r.line).collect();
            assert_eq!(rejected, [3, 7], "{name}");
            assert_eq!(t.lines, [2, 4, 8], "{name}");
        }
    }

    #[test]
    fn pieces_read_in_parallel_give_the_table_of_one_pass() {
        // a small generator (no dependency): rows of every kind the reader accepts or rejects
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for (delim, quoting) in [(b'\t', false), (b',', true)] {
            for header in [true, false] {
                let d = char::from(delim);
                let mut data: Vec<u8> = Vec::new();
                if header {
                    data.extend_from_slice(format!("label{d}text\r\n").as_bytes());
                }
                for i in 0..3000 {
                    let label = ["pos", "neg", " neutral ", "2", ""][next(5) as usize];
                    let line = match next(12) {
                        0 => String::new(),
                        1 => label.to_string(),
                        2 => format!("{label}{d}a{d}b"),
                        3 => format!("{label}{d}   "),
                        4 => format!("{label}{d}{}", "long ".repeat(20)),
                        5 => format!("{label}{d}carriage\rreturn {i}"),
                        _ => format!("{label}{d}text number {i}"),
                    };
                    data.extend_from_slice(line.as_bytes());
                    if next(9) == 0 {
                        data.extend_from_slice(b" \xff\xfe");
                    }
                    data.extend_from_slice(if next(4) == 0 { b"\r\n" } else { b"\n" });
                }
                let opts = ReadOptions {
                    has_header: header,
                    max_text_chars: Some(60),
                    text_col: Some(
                        Column::parse(if header { "text" } else { "2" }, header).unwrap(),
                    ),
                    label_col: Some(
                        Column::parse(if header { "label" } else { "1" }, header).unwrap(),
                    ),
                    ..ReadOptions::default()
                };
                let one = read_delimited("f", &data, &opts, delim, quoting, usize::MAX).unwrap();
                let pieces = read_delimited("f", &data, &opts, delim, quoting, 0).unwrap();
                assert_eq!(pieces.texts, one.texts);
                assert_eq!(pieces.labels, one.labels);
                assert_eq!(pieces.label_values, one.label_values);
                assert_eq!(pieces.lines, one.lines);
                assert_eq!(pieces.rejected, one.rejected);
                assert_eq!(pieces.report, one.report);
                assert_eq!(
                    (&pieces.text_col, &pieces.label_col),
                    (&one.text_col, &one.label_col)
                );
                // every kind of row occurred, and the last row is on the file's last line
                assert!(one.report.reasons.len() >= 4, "{:?}", one.report.reasons);
                let last = one
                    .lines
                    .iter()
                    .chain(one.rejected.iter().map(|r| &r.line))
                    .max();
                assert_eq!(last.copied(), Some(newlines(&data)));
                // the same file read in small blocks: the joined tables are the table of one read
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(if quoting { "f.csv" } else { "f.tsv" });
                let bom: &[u8] = if header { b"\xEF\xBB\xBF" } else { b"" };
                std::fs::write(&path, [bom, &data].concat()).unwrap();
                assert!(can_read_blocks(&path, &opts).unwrap());
                let whole = read_path(&path, &opts).unwrap();
                assert_eq!(whole.texts, one.texts);
                for block in [1, 700, 5000, 1 << 20] {
                    let mut joined = Builder::new(&opts);
                    let mut blocks = 0;
                    read_blocks::<ReadError>(&path, &opts, block, |t| {
                        assert_eq!((&t.text_col, &t.label_col), (&one.text_col, &one.label_col));
                        blocks += 1;
                        joined.absorb(Builder {
                            table: t,
                            label_index: Default::default(),
                            max_text_chars: None,
                        });
                        Ok(())
                    })
                    .unwrap();
                    let joined = joined.table;
                    assert!(
                        blocks > usize::from(block < 5000),
                        "{block}: {blocks} blocks"
                    );
                    assert_eq!(joined.texts, one.texts, "{block}");
                    assert_eq!(joined.labels, one.labels);
                    assert_eq!(joined.label_values, one.label_values);
                    assert_eq!(joined.lines, one.lines, "{block}");
                    assert_eq!(joined.rejected, one.rejected, "{block}");
                    assert_eq!(joined.report, one.report);
                }
            }
        }
    }

    #[test]
    fn files_that_cannot_be_cut_at_newlines_are_not_read_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReadOptions::default();
        for (name, data, blocks) in [
            ("a.tsv", &b"label\ttext\npos\t\"fine\"\n"[..], true),
            ("a.csv", b"label,text\npos,fine\n", true),
            ("b.csv", b"label,text\npos,\"two\nlines\"\n", false),
            ("a.jsonl", b"{\"label\": \"pos\", \"text\": \"x\"}\n", false),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            assert_eq!(can_read_blocks(&path, &opts).unwrap(), blocks, "{name}");
            // read whole when it cannot be cut: one table, the table of one read
            let mut tables = Vec::new();
            read_blocks::<ReadError>(&path, &opts, 4, |t| {
                tables.push(t);
                Ok(())
            })
            .unwrap();
            let whole = read_path(&path, &opts).unwrap();
            assert!(blocks || tables.len() == 1, "{name}");
            let texts: Vec<String> = tables.into_iter().flat_map(|t| t.texts).collect();
            assert_eq!(texts, whole.texts, "{name}");
        }
        let path = dir.path().join("c.tsv");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"label\ttext\npos\tfine\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        assert!(!can_read_blocks(&path, &opts).unwrap());
        let small = ReadOptions {
            max_bytes: Some(10),
            ..ReadOptions::default()
        };
        assert!(!can_read_blocks(&dir.path().join("a.csv"), &small).unwrap());
    }

    #[test]
    fn csv_with_quotes_and_multiline_fields() {
        let t = read(
            "x.csv",
            b"id,review,sentiment\n1,\"Great, really \"\"great\"\"\nfilm\",pos\n2,meh,neg\n",
        );
        assert_eq!(t.texts, ["Great, really \"great\"\nfilm", "meh"]);
        assert_eq!(t.label_values, ["pos", "neg"]);
        assert_eq!(t.lines, [2, 4]);
        assert_eq!(
            (t.text_col.as_str(), t.label_col.as_str()),
            ("review", "sentiment")
        );
    }

    #[test]
    fn bad_rows_are_rejected_with_reasons_and_counted() {
        let data = b"text,label\nok,1\n,1\nno label,\n\xff\xfe bad,0\ntoo,many,fields\n   ,0\n";
        let t = read("x.csv", data);
        assert_eq!(t.texts, ["ok"]);
        assert_eq!(
            reasons(&t),
            [
                ("invalid_utf8", 1),
                ("missing_label", 1),
                ("missing_text", 2),
                ("wrong_field_count", 1)
            ]
        );
        assert_eq!(t.report.rows_in, 6);
        assert_eq!(t.report.rows_in, t.report.accepted + t.report.rejected);
        assert_eq!(t.rejected[2].line, 5);
        assert!(t.rejected[2].raw.contains("bad"));
    }

    #[test]
    fn tsv_keeps_quotes_literal() {
        let t = read("x.tsv", b"label\tsentence\n1\tsaid \"hi\n0\tplain\n");
        assert_eq!(t.texts, ["said \"hi", "plain"]);
    }

    #[test]
    fn jsonl_with_numbers_bools_and_garbage() {
        let data = b"{\"content\": \"good\", \"polarity\": 1}\n\n{\"content\": \"bad\", \"polarity\": false}\nnot json\n{\"content\": 5}\n[1]\n";
        let t = read("x.jsonl", data);
        assert_eq!(t.texts, ["good", "bad"]);
        assert_eq!(t.label_values, ["1", "false"]);
        assert_eq!(reasons(&t), [("invalid_json", 2), ("missing_label", 1)]);
        assert_eq!(t.report.rows_in, 5);
    }

    #[test]
    fn sniffs_format_and_gzip() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"label\ttext\n1\tfine\n").unwrap();
        let t = read("upload.bin", &gz.finish().unwrap());
        assert_eq!(t.texts, ["fine"]);
        assert_eq!(detect_format("a", b"{\"text\":1}"), Format::Jsonl);
        assert_eq!(detect_format("a", b"text,label\n"), Format::Csv);
        assert_eq!(detect_format("A.TSV.GZ", b""), Format::Tsv);
    }

    #[test]
    fn a_file_that_expands_past_the_limit_is_refused_and_long_texts_are_rejected() {
        use std::io::Write;
        // 64 MiB of one row compress to ~64 KiB: only the limit's worth is ever decompressed
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"text,label\n").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&chunk).unwrap();
        }
        gz.write_all(b",1\n").unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let limited = ReadOptions {
            max_bytes: Some(1 << 20),
            ..Default::default()
        };
        let e = read_bytes("bomb.csv.gz", &bomb, &limited).unwrap_err();
        assert!(
            matches!(e, ReadError::TooLarge { limit, .. } if limit == 1 << 20),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("more than 1048576 bytes once decompressed"),
            "{e}"
        );
        // the same limit applies to a file that is not compressed
        let plain = format!("text,label\n{},1\n", "b".repeat(2 << 20));
        assert!(matches!(
            read_bytes("big.csv", plain.as_bytes(), &limited),
            Err(ReadError::TooLarge { .. })
        ));
        // a text over max_text_chars is rejected with its content cut; the other rows are read
        let opts = ReadOptions {
            max_text_chars: Some(10),
            ..Default::default()
        };
        let t = read_bytes(
            "f.csv",
            "text,label\nshort,1\névérything is long here,0\nten chars!,1\n".as_bytes(),
            &opts,
        )
        .unwrap();
        assert_eq!(t.texts, ["short", "ten chars!"]);
        assert_eq!(t.report.reasons.get("text_too_long"), Some(&1));
        assert_eq!(t.rejected[0].raw, "évérything…");
        assert_eq!(t.report.rows_in, 3);
    }

    #[test]
    fn missing_columns_and_empty_files_are_errors() {
        let e = read_bytes("f.csv", b"foo,bar\n1,2\n", &ReadOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.csv: no text column (looked for text, sentence, content, review, review_text, comment, body, message, tweet, document, utterance; pass --text-col); columns are: \"foo\", \"bar\""
        );
        let opts = ReadOptions {
            text_col: Some(Column::Name("foo".into())),
            label_col: Some(Column::Name("nope".into())),
            ..Default::default()
        };
        assert!(matches!(
            read_bytes("f.csv", b"foo,bar\n", &opts),
            Err(ReadError::ColumnNotFound { role: "label", .. })
        ));
        assert!(matches!(
            read_bytes("f.csv", b"", &ReadOptions::default()),
            Err(ReadError::Header { .. })
        ));
        assert!(matches!(
            read_bytes("f.csv", b"\x1f\x8bxx", &ReadOptions::default()),
            Err(ReadError::Gzip { .. })
        ));
    }

    #[test]
    fn explicit_columns_bom_and_text_only() {
        let opts = ReadOptions {
            text_col: Some(Column::Name("Body".into())),
            text_only: true,
            ..Default::default()
        };
        let t = read_bytes("f.csv", b"\xEF\xBB\xBFbody,x\nhello,1\n", &opts).unwrap();
        assert_eq!(t.texts, ["hello"]);
        assert!(t.labels.is_empty());
    }

    #[test]
    fn headerless_files_name_columns_by_position() {
        let opts = ReadOptions {
            has_header: false,
            text_col: Some(Column::parse("2", false).unwrap()),
            label_col: Some(Column::parse("1", false).unwrap()),
            ..Default::default()
        };
        let t = read_bytes("x.tsv", b"1\tgood film\n0\tbad film\n1\n", &opts).unwrap();
        assert_eq!(t.texts, ["good film", "bad film"]);
        assert_eq!(t.label_values, ["1", "0"]);
        assert_eq!((t.report.rows_in, t.report.rejected), (3, 1));
        assert_eq!((t.text_col.as_str(), t.label_col.as_str()), ("#2", "#1"));
        // a header cell named "1" is not a position: without --no-header, "1" is a name
        assert_eq!(Column::parse("1", true).unwrap(), Column::Name("1".into()));
        assert_eq!(Column::parse("#1", true).unwrap(), Column::Position(1));
        assert!(Column::parse("text", false).is_err());
        let e = read_bytes(
            "x.tsv",
            b"1\tgood\n",
            &ReadOptions {
                has_header: false,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("no header row"), "{e}");
        let far = ReadOptions {
            has_header: false,
            text_col: Some(Column::Position(9)),
            label_col: Some(Column::Position(1)),
            ..Default::default()
        };
        let e = read_bytes("x.tsv", b"1\tgood\n", &far).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.tsv: no text column #9; columns are: 2 unnamed"
        );
    }

    #[test]
    fn names_are_shown_with_control_characters_escaped_and_cut() {
        assert_eq!(visible("plain name.csv"), "plain name.csv");
        let v = visible("evil\u{1b}[2J\nforged\u{202E}row");
        assert!(!v.chars().any(is_unprintable), "{v}");
        assert_eq!(v, "evil\\u{1b}[2J\\u{a}forged\\u{202e}row");
        assert_eq!(visible(&"x".repeat(100)).chars().count(), 81);
    }

    #[test]
    fn messages_quote_and_truncate_file_content() {
        // a headerless file read as if it had a header: the "header" is user data
        let data = "4111 1111 1111 1111 is my card and a very long sentence follows here,1\nok,1\n";
        let e = read_bytes("x.csv", data.as_bytes(), &ReadOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            msg.contains("\"4111 1111 1111 1111 is my card and a ver…\""),
            "{msg}"
        );
        assert!(!msg.contains("follows here"), "{msg}");
        assert_eq!(quoted("a\nb\"c"), "\"a\\nb\\\"c\"");
    }

    #[test]
    fn a_delimiter_overrides_sniffing() {
        let opts = ReadOptions {
            delimiter: Some(b';'),
            ..Default::default()
        };
        let t = read_bytes("x.csv", b"text;label\n\"a; b\";pos\n", &opts).unwrap();
        assert_eq!(t.texts, ["a; b"]);
    }
}
