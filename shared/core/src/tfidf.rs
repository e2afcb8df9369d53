//! TF-IDF with scikit-learn `TfidfVectorizer` semantics, over already-cleaned text.
//!
//! * Tokens come from `crate::text::for_each_token` (scikit-learn's default token pattern); word n-grams
//!   for `n` in `ngram_min..=ngram_max` are the tokens joined by one space.
//! * `min_df` (a document count) and `max_df` (a fraction of documents) filter terms first, then
//!   `max_features` keeps the terms with the highest corpus frequency (total count over all documents).
//!   Ties at that boundary go to shorter n-grams first, then by term, ascending (scikit-learn's own order
//!   there is unspecified; on SST-2 this rule scored best of the four measured, see docs/cli.md).
//! * Features are numbered in ascending term order (byte order of the UTF-8 string, as Python sorts `str`).
//! * `idf(t) = ln((1 + n) / (1 + df(t))) + 1` with `smooth_idf` (else `ln(n / df(t)) + 1`);
//!   `tf` is the raw count, or `1 + ln(count)` with `sublinear_tf`; each row is scaled to unit L2 norm.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::sparse::{Cols, Csr, ScaledCounts, tf_weight};
use crate::text::for_each_token;

/// Largest supported `ngram_max` (n-grams are keyed by packed word ids).
pub(crate) const MAX_NGRAM: usize = 3;
const ID_BITS: u32 = 21;
/// Word ids must stay below this so that three of them pack into one `u64` key.
const MAX_WORD_ID: u32 = (1 << ID_BITS) - 2;
const NO_FEATURE: u32 = u32::MAX;

/// Unfitted TF-IDF settings. Validated by [`TfidfConfig::validate`]; fitted by [`Tfidf::fit_transform`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfConfig {
    /// Smallest n-gram length (≥ 1).
    pub ngram_min: usize,
    /// Largest n-gram length (≥ `ngram_min`, ≤ `MAX_NGRAM`).
    pub ngram_max: usize,
    /// Keep at most this many terms, by corpus frequency; `None` keeps all.
    pub max_features: Option<usize>,
    /// Drop terms found in fewer than this many documents.
    pub min_df: usize,
    /// Drop terms found in more than this fraction of documents (0 < max_df ≤ 1).
    pub max_df: f64,
    /// Use `1 + ln(tf)` instead of the raw count.
    pub sublinear_tf: bool,
    /// Add one to document counts, as if one extra document held every term.
    pub smooth_idf: bool,
    /// Shortest token, in characters: 2 is scikit-learn's default pattern, 1 also keeps one-letter words
    /// such as "i" and "a" (Polarity's default: +0.3 points of SST-2 dev accuracy, see docs/cli.md).
    pub min_token_chars: usize,
}

impl Default for TfidfConfig {
    /// Polarity's defaults: word 1–2 grams, 20,000 features, `min_df` 1, smooth idf and, unlike the
    /// scikit-learn peer, sublinear tf and one-letter tokens. With the regression's defaults they are the
    /// settings with the largest worst-case gain over the peer across eight public sets
    /// (`bench/defaults_study.py`, `bench/results/defaults.md`).
    fn default() -> Self {
        Self {
            ngram_min: 1,
            ngram_max: 2,
            max_features: Some(20_000),
            min_df: 1,
            max_df: 1.0,
            sublinear_tf: true,
            smooth_idf: true,
            min_token_chars: 1,
        }
    }
}

impl TfidfConfig {
    /// The Python peer's vectoriser (`TfidfVectorizer(max_features=20000, ngram_range=(1, 2))`): raw tf
    /// (the other settings as [`TfidfConfig::default`]; its tokens are one letter shorter, see
    /// `min_token_chars`).
    pub fn scikit_learn() -> Self {
        Self {
            sublinear_tf: false,
            ..Self::default()
        }
    }
}

/// An invalid TF-IDF or model setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TfidfError {
    /// `ngram_min..=ngram_max` is empty or out of the supported range.
    #[error("invalid n-gram range {min},{max}: need 1 <= min <= max <= {MAX_NGRAM}")]
    NgramRange {
        /// Given minimum.
        min: usize,
        /// Given maximum.
        max: usize,
    },
    /// `min_token_chars` is zero.
    #[error("min_token_chars must be at least 1")]
    TokenChars,
    /// `max_features` is zero.
    #[error("max_features must be at least 1")]
    MaxFeatures,
    /// `max_df` is not in (0, 1].
    #[error("max_df must be in (0, 1], got {0}")]
    MaxDf(f64),
    /// No term survived the filters (empty corpus, or min_df/max_df too strict).
    #[error(
        "no terms remain after tokenising and filtering {docs} documents; lower min_df or raise max_df"
    )]
    EmptyVocabulary {
        /// Documents seen.
        docs: usize,
    },
}

impl TfidfConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// The first invalid setting as a [`TfidfError`].
    pub fn validate(&self) -> Result<(), TfidfError> {
        if self.ngram_min < 1 || self.ngram_min > self.ngram_max || self.ngram_max > MAX_NGRAM {
            return Err(TfidfError::NgramRange {
                min: self.ngram_min,
                max: self.ngram_max,
            });
        }
        if self.min_token_chars == 0 {
            return Err(TfidfError::TokenChars);
        }
        if self.max_features == Some(0) {
            return Err(TfidfError::MaxFeatures);
        }
        if !(self.max_df > 0.0 && self.max_df <= 1.0) {
            return Err(TfidfError::MaxDf(self.max_df));
        }
        Ok(())
    }
}

/// A fitted vectoriser: vocabulary and idf. Only this type transforms text.
#[derive(Debug, Clone)]
pub struct Tfidf {
    config: TfidfConfig,
    terms: Vec<String>,
    idf: Vec<f64>,
    words: FxHashMap<Box<str>, u32>,
    unigram: Vec<u32>,
    ngrams: FxHashMap<u64, u32>,
}

/// Training documents as word ids, with each n-gram key's feature (from [`Tfidf::fit_tokens`]).
#[derive(Debug)]
pub(crate) struct Tokenised {
    /// Word ids of every document, one after another.
    ids: Vec<u32>,
    /// Document `d`'s ids are `ids[offs[d]..offs[d + 1]]`.
    offs: Vec<usize>,
    /// The feature of each n-gram key kept in the vocabulary.
    key_feature: FxHashMap<u64, u32>,
}

/// Per-text counters from [`Tfidf::transform_into`], for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenStats {
    /// Tokens in the text.
    pub tokens: usize,
    /// Tokens that are not a unigram feature of the vocabulary (out of vocabulary).
    pub oov_tokens: usize,
}

/// Reusable buffers for [`Tfidf::transform_into`].
#[derive(Debug, Default)]
pub struct Scratch {
    ids: Vec<u32>,
    feats: Vec<u32>,
    /// The row written by the last transform: `(feature, value)` sorted by feature.
    pub row: Vec<(u32, f32)>,
}

#[inline]
fn pack(ids: &[u32]) -> u64 {
    // Field k holds id + 1 for k > 0, so an n-gram never collides with a shorter one.
    ids.iter().enumerate().fold(0u64, |acc, (k, &id)| {
        acc | (u64::from(id) + u64::from(k > 0)) << (ID_BITS * k as u32)
    })
}

impl Tfidf {
    /// Rebuilds a fitted vectoriser from its vocabulary (ascending terms) and idf, as stored in an artifact.
    ///
    /// # Errors
    /// [`TfidfError`] when the config is invalid or a term has more words than `ngram_max`.
    pub fn from_parts(
        config: TfidfConfig,
        terms: Vec<String>,
        idf: Vec<f64>,
    ) -> Result<Self, TfidfError> {
        config.validate()?;
        let mut words: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut unigram: Vec<u32> = Vec::new();
        let mut ngrams = FxHashMap::default();
        let mut ids = Vec::with_capacity(MAX_NGRAM);
        for (f, term) in terms.iter().enumerate() {
            ids.clear();
            for w in term.split(' ') {
                let next = words.len() as u32;
                let id = *words.entry(w.into()).or_insert(next);
                if id as usize >= unigram.len() {
                    unigram.push(NO_FEATURE);
                }
                ids.push(id);
            }
            if ids.len() > config.ngram_max || id_overflow(&ids) {
                return Err(TfidfError::NgramRange {
                    min: config.ngram_min,
                    max: ids.len(),
                });
            }
            if ids.len() == 1 {
                unigram[ids[0] as usize] = f as u32;
            } else {
                ngrams.insert(pack(&ids), f as u32);
            }
        }
        Ok(Self {
            config,
            terms,
            idf,
            words,
            unigram,
            ngrams,
        })
    }

    /// Fits on cleaned `docs` and returns the vectoriser with the documents' TF-IDF matrix, kept factorised
    /// ([`ScaledCounts::to_csr`] gives the plain values).
    ///
    /// # Errors
    /// [`TfidfError`] for an invalid config or when no term survives.
    pub fn fit_transform(
        config: &TfidfConfig,
        docs: &[String],
    ) -> Result<(Self, ScaledCounts), TfidfError> {
        let (fitted, tokens) = Self::fit_tokens(config, docs)?;
        let m = fitted.matrix(tokens);
        Ok((fitted, m))
    }

    /// The vocabulary and idf fitted on `docs`, and the documents as word ids for [`Tfidf::matrix`]: the
    /// documents themselves are not needed after this (the owner may free them before the matrix is
    /// built).
    pub(crate) fn fit_tokens(
        config: &TfidfConfig,
        docs: &[String],
    ) -> Result<(Self, Tokenised), TfidfError> {
        config.validate()?;
        // 1. Tokenise and intern words (ids borrow the documents: no allocation per word).
        let mut names: Names<&str> = Names::default();
        let (ids, offs) = intern_words(docs, config.min_token_chars, &mut names);
        // 2. Count every n-gram key ([`Counts::add`]); 3. choose the vocabulary ([`Counts::choose`]).
        let mut counts = Counts::new(config);
        counts.add(&ids, &offs, names.len());
        let (fitted, key_feature) = counts.choose(config, &names.list)?;
        Ok((
            fitted,
            Tokenised {
                ids,
                offs,
                key_feature,
            },
        ))
    }

    /// The TF-IDF matrix of the documents [`Tfidf::fit_tokens`] tokenised, kept factorised.
    pub(crate) fn matrix(&self, tokens: Tokenised) -> ScaledCounts {
        let Tokenised {
            ids,
            offs,
            key_feature,
        } = tokens;
        let n_docs = offs.len() - 1;
        let (nmin, nmax) = (self.config.ngram_min, self.config.ngram_max);
        let parts: Vec<MatrixRows> = (0..n_docs)
            .collect::<Vec<_>>()
            .par_chunks(4096)
            .map(|chunk| {
                let (mut keys, mut feats) = (Vec::new(), Vec::new());
                let mut rows = MatrixRows::new(self);
                for &d in chunk {
                    doc_keys(&ids[offs[d]..offs[d + 1]], nmin, nmax, &mut keys);
                    feats.clear();
                    feats.extend(keys.iter().filter_map(|k| key_feature.get(k).copied()));
                    rows.push(self, &mut feats);
                }
                rows
            })
            .collect();
        // the word ids are no longer needed: free them before the parts are joined
        drop((ids, offs, key_feature));
        let mut all = MatrixRows::new(self);
        all.reserve(&parts);
        for p in parts {
            all.append(p);
        }
        all.finish(self)
    }

    /// The features of one cleaned text, unweighted and unsorted, into `scratch.feats` (an n-gram that
    /// repeats is listed as often): what [`Tfidf::transform_into`] weighs, and the matrix rows of
    /// [`MatrixBuilder`].
    fn features(&self, text: &str, scratch: &mut Scratch) -> TokenStats {
        let mut stats = TokenStats::default();
        scratch.ids.clear();
        for_each_token(text, self.config.min_token_chars, |t| {
            let id = self.words.get(t).copied().unwrap_or(NO_FEATURE);
            stats.tokens += 1;
            if id == NO_FEATURE || self.unigram[id as usize] == NO_FEATURE {
                stats.oov_tokens += 1;
            }
            scratch.ids.push(id);
        });
        scratch.feats.clear();
        let ids = &scratch.ids;
        for i in 0..ids.len() {
            for n in self.config.ngram_min..=self.config.ngram_max {
                if i + n > ids.len() {
                    break;
                }
                let g = &ids[i..i + n];
                if g.contains(&NO_FEATURE) {
                    break;
                }
                let f = if n == 1 {
                    self.unigram[g[0] as usize]
                } else {
                    self.ngrams.get(&pack(g)).copied().unwrap_or(NO_FEATURE)
                };
                if f != NO_FEATURE {
                    scratch.feats.push(f);
                }
            }
        }
        stats
    }

    /// Transforms one cleaned text into `scratch.row` and returns its token counters. Allocation-free once
    /// the scratch buffers have grown.
    pub fn transform_into(&self, text: &str, scratch: &mut Scratch) -> TokenStats {
        let stats = self.features(text, scratch);
        self.weigh(&mut scratch.feats, &mut scratch.row);
        stats
    }

    /// Transforms cleaned texts into a matrix (in parallel, deterministic).
    pub fn transform(&self, docs: &[String]) -> Csr {
        let rows: Vec<Csr> = docs
            .par_chunks(4096)
            .map(|chunk| {
                let mut m = Csr::new(self.terms.len());
                let mut s = Scratch::default();
                for d in chunk {
                    self.transform_into(d, &mut s);
                    m.push_row(&s.row);
                }
                m
            })
            .collect();
        concat_rows(rows, self.terms.len())
    }

    /// Turns a bag of feature indices into sorted, weighted, L2-normalised `(feature, value)` pairs.
    fn weigh(&self, feats: &mut [u32], row: &mut Vec<(u32, f32)>) {
        feats.sort_unstable();
        row.clear();
        let mut norm2 = 0.0;
        for_each_run(feats, |f, count| {
            let v = self.tf(count) * self.idf[f as usize];
            norm2 += v * v;
        });
        let scale = if norm2 > 0.0 { 1.0 / norm2.sqrt() } else { 0.0 };
        for_each_run(feats, |f, count| {
            row.push((f, (self.tf(count) * self.idf[f as usize] * scale) as f32))
        });
    }

    /// The tf weight of a term counted `count` times (same rounding as [`ScaledCounts`]).
    #[inline]
    fn tf(&self, count: usize) -> f64 {
        tf_weight(
            count.min(usize::from(u16::MAX)) as u16,
            self.config.sublinear_tf,
        )
    }

    /// The settings this vectoriser was fitted with.
    pub fn config(&self) -> &TfidfConfig {
        &self.config
    }

    /// Feature index → term, ascending.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Feature index → idf.
    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.terms.len()
    }
}

/// The vocabulary fitted on documents given in batches, in corpus order, none of them held: the same
/// [`Tfidf`] as [`Tfidf::fit_transform`] fits on all of them at once (a test). Its matrix is built by
/// [`MatrixBuilder`] from the same documents given again.
#[derive(Debug)]
pub struct VocabularyCounter {
    config: TfidfConfig,
    names: Names<Box<str>>,
    counts: Counts,
}

impl VocabularyCounter {
    /// An empty count.
    ///
    /// # Errors
    /// [`TfidfError`] for an invalid config.
    pub fn new(config: &TfidfConfig) -> Result<Self, TfidfError> {
        config.validate()?;
        Ok(Self {
            config: config.clone(),
            names: Names::default(),
            counts: Counts::new(config),
        })
    }

    /// Counts the next cleaned documents.
    pub fn add(&mut self, docs: &[String]) {
        let (ids, offs) = intern_words(docs, self.config.min_token_chars, &mut self.names);
        self.counts.add(&ids, &offs, self.names.list.len());
    }

    /// Documents counted so far.
    pub fn docs(&self) -> usize {
        self.counts.n_docs
    }

    /// The fitted vectoriser.
    ///
    /// # Errors
    /// [`TfidfError::EmptyVocabulary`] when no term survives.
    pub fn finish(self) -> Result<Tfidf, TfidfError> {
        let names: Vec<&str> = self.names.list.iter().map(|n| &**n).collect();
        Ok(self.counts.choose(&self.config, &names)?.0)
    }
}

/// The TF-IDF matrix of documents given in batches, in corpus order: for the documents `tfidf` was fitted
/// on, the matrix [`Tfidf::fit_transform`] returns (a test).
#[derive(Debug)]
pub struct MatrixBuilder<'t> {
    tfidf: &'t Tfidf,
    rows: MatrixRows,
}

impl<'t> MatrixBuilder<'t> {
    /// An empty matrix.
    pub fn new(tfidf: &'t Tfidf) -> Self {
        Self {
            tfidf,
            rows: MatrixRows::new(tfidf),
        }
    }

    /// Appends the rows of the next cleaned documents (built in parallel).
    pub fn add(&mut self, docs: &[String]) {
        let t = self.tfidf;
        let parts: Vec<MatrixRows> = docs
            .par_chunks(4096)
            .map(|chunk| {
                let mut s = Scratch::default();
                let mut rows = MatrixRows::new(t);
                for d in chunk {
                    t.features(d, &mut s);
                    rows.push(t, &mut s.feats);
                }
                rows
            })
            .collect();
        for p in parts {
            self.rows.append(p);
        }
    }

    /// The matrix.
    pub fn finish(self) -> ScaledCounts {
        self.rows.finish(self.tfidf)
    }
}

/// Rows of a TF-IDF matrix being built: term counts by column (16-bit columns when the vocabulary allows),
/// each row's end and inverse L2 norm.
#[derive(Debug)]
struct MatrixRows {
    indptr: Vec<usize>,
    cols: Cols,
    counts: Vec<u16>,
    row_scale: Vec<f64>,
}

impl MatrixRows {
    fn new(t: &Tfidf) -> Self {
        let narrow = t.terms.len() <= usize::from(u16::MAX) + 1;
        Self {
            indptr: vec![0],
            cols: if narrow {
                Cols::U16(Vec::new())
            } else {
                Cols::U32(Vec::new())
            },
            counts: Vec::new(),
            row_scale: Vec::new(),
        }
    }

    /// Appends the row of a document with these features (sorted here; a repeated one is counted).
    fn push(&mut self, t: &Tfidf, feats: &mut [u32]) {
        feats.sort_unstable();
        let mut norm2 = 0.0;
        for_each_run(feats, |f, count| {
            let v = t.tf(count) * t.idf[f as usize];
            norm2 += v * v;
            match &mut self.cols {
                Cols::U16(c) => c.push(f as u16),
                Cols::U32(c) => c.push(f),
            }
            self.counts.push(count.min(usize::from(u16::MAX)) as u16);
        });
        self.indptr.push(self.counts.len());
        self.row_scale
            .push(if norm2 > 0.0 { 1.0 / norm2.sqrt() } else { 0.0 });
    }

    /// Makes room for `parts` to be appended.
    fn reserve(&mut self, parts: &[MatrixRows]) {
        let nnz = parts.iter().map(|p| p.counts.len()).sum();
        let rows = parts.iter().map(|p| p.row_scale.len()).sum();
        match &mut self.cols {
            Cols::U16(c) => c.reserve_exact(nnz),
            Cols::U32(c) => c.reserve_exact(nnz),
        }
        self.counts.reserve_exact(nnz);
        self.indptr.reserve_exact(rows);
        self.row_scale.reserve_exact(rows);
    }

    /// Appends the rows of `other`, built with the same vectoriser.
    fn append(&mut self, other: MatrixRows) {
        let base = self.counts.len();
        self.indptr
            .extend(other.indptr[1..].iter().map(|&e| e + base));
        match (&mut self.cols, other.cols) {
            (Cols::U16(all), Cols::U16(c)) => all.extend_from_slice(&c),
            (Cols::U32(all), Cols::U32(c)) => all.extend_from_slice(&c),
            _ => unreachable!("every part has the matrix's column width"),
        }
        self.counts.extend_from_slice(&other.counts);
        self.row_scale.extend_from_slice(&other.row_scale);
    }

    fn finish(self, t: &Tfidf) -> ScaledCounts {
        ScaledCounts {
            indptr: self.indptr,
            cols: self.cols,
            tf: ScaledCounts::tf_table(&self.counts, t.config.sublinear_tf),
            counts: self.counts,
            row_scale: self.row_scale,
            col_scale: t.idf.clone(),
        }
    }
}

/// Corpus and document frequency of every n-gram key, counted from documents given as word ids, in
/// batches. Words are counted in dense arrays indexed by word id (a unigram's key is its id), per
/// contiguous range of documents, then summed. Longer n-grams are counted in hash shards: shard `s`
/// counts only the keys that hash to it, so the shards' maps are disjoint and need no merging. Neither
/// count depends on the number of threads or on how the documents are batched.
#[derive(Debug)]
struct Counts {
    ngram_min: usize,
    ngram_max: usize,
    n_docs: usize,
    threads: usize,
    /// `(corpus count, document count)` by word id.
    words: Vec<(u32, u32)>,
    /// The same by key of every longer n-gram, one map per shard.
    long: Vec<FxHashMap<u64, (u32, u32)>>,
}

impl Counts {
    fn new(config: &TfidfConfig) -> Self {
        let threads = rayon::current_num_threads().clamp(1, 64);
        let shards = if config.ngram_max >= config.ngram_min.max(2) {
            threads
        } else {
            0
        };
        Self {
            ngram_min: config.ngram_min,
            ngram_max: config.ngram_max,
            n_docs: 0,
            threads,
            words: Vec::new(),
            long: (0..shards).map(|_| FxHashMap::default()).collect(),
        }
    }

    /// Counts documents given as word ids (`ids`, cut by `offs`) of a vocabulary of `n_names` words.
    fn add(&mut self, ids: &[u32], offs: &[usize], n_names: usize) {
        let n_docs = offs.len() - 1;
        self.n_docs += n_docs;
        if self.ngram_min == 1 {
            let n_words = n_names.min(MAX_WORD_ID as usize + 1);
            let counted = count_words(ids, offs, n_words, self.threads);
            if self.words.len() < n_words {
                self.words.resize(n_words, (0, 0));
            }
            self.words.iter_mut().zip(counted).for_each(|(a, b)| {
                a.0 = a.0.saturating_add(b.0);
                a.1 += b.1;
            });
        }
        let shards = self.long.len();
        let (long_min, nmax) = (self.ngram_min.max(2), self.ngram_max);
        let shard_of = |k: u64| ((k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize) % shards;
        self.long
            .par_iter_mut()
            .enumerate()
            .for_each(|(shard, counts)| {
                let mut keys: Vec<u64> = Vec::new();
                for d in 0..n_docs {
                    doc_keys(&ids[offs[d]..offs[d + 1]], long_min, nmax, &mut keys);
                    if shards > 1 {
                        keys.retain(|&k| shard_of(k) == shard);
                    }
                    keys.sort_unstable();
                    for_each_run(&keys, |k, n| {
                        let e = counts.entry(k).or_insert((0, 0));
                        e.0 = e.0.saturating_add(n as u32);
                        e.1 += 1;
                    });
                }
            });
    }

    /// Filters the counted keys by document frequency, caps them by corpus frequency (ties: shorter
    /// n-grams, then ascending term) and gives the vectoriser with each kept key's feature. `names` are
    /// the words by id.
    fn choose(
        self,
        config: &TfidfConfig,
        names: &[&str],
    ) -> Result<(Tfidf, FxHashMap<u64, u32>), TfidfError> {
        let n_docs = self.n_docs;
        let max_df_docs = config.max_df * n_docs as f64;
        let mut cand: Vec<(u64, u32, u32)> = self
            .words
            .into_iter()
            .enumerate()
            .filter(|&(_, (_, df))| df > 0)
            .map(|(id, c)| (id as u64, c))
            .chain(self.long.into_iter().flatten())
            .filter(|&(_, (_, df))| df as usize >= config.min_df && f64::from(df) <= max_df_docs)
            .map(|(k, (tf, df))| (k, tf, df))
            .collect();
        let named = |c: &(u64, u32, u32)| (key_to_term(c.0, names), c.0, c.2);
        let spaces = |t: &str| t.bytes().filter(|&b| b == b' ').count();
        let mut chosen: Vec<(String, u64, u32)> = match config.max_features {
            Some(limit) if cand.len() > limit => {
                cand.select_nth_unstable_by(limit - 1, |a, b| b.1.cmp(&a.1));
                let cut_tf = cand[limit - 1].1;
                let mut out: Vec<_> = cand.iter().filter(|c| c.1 > cut_tf).map(named).collect();
                let mut ties: Vec<_> = cand.iter().filter(|c| c.1 == cut_tf).map(named).collect();
                ties.sort_unstable_by(|a, b| {
                    spaces(&a.0).cmp(&spaces(&b.0)).then_with(|| a.cmp(b))
                });
                ties.truncate(limit - out.len());
                out.extend(ties);
                out
            }
            _ => cand.iter().map(named).collect(),
        };
        if chosen.is_empty() {
            return Err(TfidfError::EmptyVocabulary { docs: n_docs });
        }
        chosen.sort_unstable();
        let sm = if config.smooth_idf { 1.0 } else { 0.0 };
        let n = n_docs as f64 + sm;
        let idf: Vec<f64> = chosen
            .iter()
            .map(|c| (n / (f64::from(c.2) + sm)).ln() + 1.0)
            .collect();
        let key_feature: FxHashMap<u64, u32> = chosen
            .iter()
            .enumerate()
            .map(|(f, c)| (c.1, f as u32))
            .collect();
        let terms: Vec<String> = chosen.into_iter().map(|c| c.0).collect();
        Ok((Tfidf::from_parts(config.clone(), terms, idf)?, key_feature))
    }
}

/// Interned words: ids in first-occurrence order.
#[derive(Debug)]
struct Names<S> {
    ids: FxHashMap<S, u32>,
    list: Vec<S>,
}

impl<S> Default for Names<S> {
    fn default() -> Self {
        Self {
            ids: FxHashMap::default(),
            list: Vec::new(),
        }
    }
}

impl<S: std::hash::Hash + Eq + Clone + std::borrow::Borrow<str>> Names<S> {
    /// The id of `t`, a new one when it is new.
    fn id<'a>(&mut self, t: &'a str) -> u32
    where
        S: From<&'a str>,
    {
        if let Some(&i) = self.ids.get(t) {
            return i;
        }
        let next = self.list.len() as u32;
        let s = S::from(t);
        self.ids.insert(s.clone(), next);
        self.list.push(s);
        next
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

/// Calls `f(value, run_length)` for each run of equal values in a sorted slice.
#[inline]
/// Calls `f(value, run length)` for each run of equal values in `sorted`, in order.
fn for_each_run<T: Copy + PartialEq>(sorted: &[T], mut f: impl FnMut(T, usize)) {
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        f(sorted[i], j - i);
        i = j;
    }
}

fn id_overflow(ids: &[u32]) -> bool {
    ids.iter().any(|&i| i > MAX_WORD_ID)
}

/// The id of word `t` in `vocab`; a new word gets the next id and is appended to `names`.
fn intern<'a>(vocab: &mut FxHashMap<&'a str, u32>, names: &mut Vec<&'a str>, t: &'a str) -> u32 {
    let next = names.len() as u32;
    *vocab.entry(t).or_insert_with(|| {
        names.push(t);
        next
    })
}

/// Tokenises `docs` and interns their words into `names`: returns every token's word id (ids past
/// [`MAX_WORD_ID`] clamped to `MAX_WORD_ID + 1`) and each document's offsets into those ids. New words get
/// ids in first-occurrence order, independent of how the work is split: the documents are tokenised in
/// parallel over contiguous ranges, each interning locally, and the ranges' words are merged in order.
fn intern_words<'a, S>(
    docs: &'a [String],
    min_chars: usize,
    names: &mut Names<S>,
) -> (Vec<u32>, Vec<usize>)
where
    S: std::hash::Hash + Eq + Clone + std::borrow::Borrow<str> + From<&'a str>,
{
    type Local<'a> = (Vec<&'a str>, Vec<u32>, Vec<u32>);
    let parts = rayon::current_num_threads().clamp(1, 64);
    let per = docs.len().div_ceil(parts).max(1);
    let local: Vec<Local<'_>> = docs
        .par_chunks(per)
        .map(|chunk| {
            let mut vocab: FxHashMap<&str, u32> = FxHashMap::default();
            let (mut names, mut ids, mut lens) = (Vec::new(), Vec::new(), Vec::new());
            for d in chunk {
                let before = ids.len();
                for_each_token(d, min_chars, |t| {
                    ids.push(intern(&mut vocab, &mut names, t))
                });
                lens.push((ids.len() - before) as u32);
            }
            (names, ids, lens)
        })
        .collect();
    let mut ids = Vec::with_capacity(local.iter().map(|l| l.1.len()).sum());
    let mut offs = Vec::with_capacity(docs.len() + 1);
    offs.push(0);
    for (local_names, local_ids, lens) in local {
        let global: Vec<u32> = local_names.iter().map(|&t| names.id(t)).collect();
        ids.extend(
            local_ids
                .iter()
                .map(|&i| global[i as usize].min(MAX_WORD_ID + 1)),
        );
        for l in lens {
            offs.push(offs[offs.len() - 1] + l as usize);
        }
    }
    (ids, offs)
}

/// Every n-gram key of one document's word ids (ids past [`MAX_WORD_ID`] break n-grams).
fn doc_keys(ids: &[u32], nmin: usize, nmax: usize, keys: &mut Vec<u64>) {
    keys.clear();
    for i in 0..ids.len() {
        for n in nmin..=nmax {
            if i + n > ids.len() || id_overflow(&ids[i..i + n]) {
                break;
            }
            keys.push(pack(&ids[i..i + n]));
        }
    }
}

/// Corpus and document frequency of every word id below `n_words` (ids at or past it are not counted, as
/// [`doc_keys`] makes no key of them): dense arrays per contiguous range of documents, summed.
fn count_words(ids: &[u32], offs: &[usize], n_words: usize, parts: usize) -> Vec<(u32, u32)> {
    let n_docs = offs.len() - 1;
    let per = n_docs.div_ceil(parts).max(1);
    (0..n_docs.div_ceil(per))
        .into_par_iter()
        .map(|p| {
            let mut counts = vec![(0u32, 0u32); n_words];
            let mut last_doc = vec![usize::MAX; n_words];
            for d in p * per..((p + 1) * per).min(n_docs) {
                for &id in &ids[offs[d]..offs[d + 1]] {
                    let id = id as usize;
                    if id < n_words {
                        let c = &mut counts[id];
                        c.0 = c.0.saturating_add(1);
                        if last_doc[id] != d {
                            last_doc[id] = d;
                            c.1 += 1;
                        }
                    }
                }
            }
            counts
        })
        .reduce(Vec::new, |mut a, b| {
            if a.is_empty() {
                return b;
            }
            a.iter_mut().zip(b).for_each(|(a, b)| {
                a.0 = a.0.saturating_add(b.0);
                a.1 += b.1;
            });
            a
        })
}

fn key_to_term(key: u64, names: &[&str]) -> String {
    let mut s = String::new();
    let mask = (1u64 << ID_BITS) - 1;
    for k in 0..MAX_NGRAM {
        let field = (key >> (ID_BITS * k as u32)) & mask;
        if k > 0 && field == 0 {
            break;
        }
        let id = if k > 0 { field - 1 } else { field };
        if k > 0 {
            s.push(' ');
        }
        s.push_str(names[id as usize]);
    }
    s
}

fn concat_rows(parts: Vec<Csr>, cols: usize) -> Csr {
    let nnz = parts.iter().map(Csr::nnz).sum();
    let mut out = Csr::new(cols);
    out.indices.reserve(nnz);
    out.values.reserve(nnz);
    for p in parts {
        let base = out.indices.len();
        out.indptr.extend(p.indptr[1..].iter().map(|o| o + base));
        out.indices.extend_from_slice(&p.indices);
        out.values.extend_from_slice(&p.values);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fit_is_identical_across_thread_counts() {
        // Word ids come from per-thread vocabularies merged in order and n-grams are counted in hash
        // shards: neither may show in the result.
        let d: Vec<String> = (0..20_000)
            .map(|i: usize| {
                (0..1 + i % 7)
                    .map(|j| format!("w{}", (i * 31 + j * j * 17 + i / 13) % 97))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let cfg = TfidfConfig {
            max_features: Some(40),
            ..Default::default()
        };
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (v, m) = Tfidf::fit_transform(&cfg, &d).unwrap();
                (v.terms().to_vec(), v.idf().to_vec(), m.to_csr())
            })
        };
        let one = fit(1);
        assert_eq!(one.0.len(), 40);
        assert_eq!(one, fit(3));
        assert_eq!(one, fit(8));
    }

    #[test]
    fn batches_counted_then_given_again_make_the_vectoriser_and_matrix_of_one_fit() {
        // new words keep appearing in later documents, words repeat within a document
        let d: Vec<String> = (0..9_000)
            .map(|i: usize| {
                (0..1 + i % 9)
                    .map(|j| format!("w{}", (i * 31 + j * j * 17 + i / 13) % (20 + i / 50)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        for cfg in [
            TfidfConfig::default(),
            TfidfConfig {
                max_features: Some(300),
                ngram_min: 2,
                ngram_max: 3,
                ..TfidfConfig::default()
            },
            TfidfConfig {
                max_features: None,
                min_df: 2,
                max_df: 0.5,
                ngram_max: 3,
                sublinear_tf: false,
                ..TfidfConfig::default()
            },
        ] {
            let (whole, m) = Tfidf::fit_transform(&cfg, &d).unwrap();
            for batch in [1, 7, 4097, d.len()] {
                let mut counter = VocabularyCounter::new(&cfg).unwrap();
                d.chunks(batch).for_each(|b| counter.add(b));
                assert_eq!(counter.docs(), d.len());
                let v = counter.finish().unwrap();
                assert_eq!(
                    (v.terms(), v.idf()),
                    (whole.terms(), whole.idf()),
                    "{batch}"
                );
                let mut rows = MatrixBuilder::new(&v);
                d.chunks(batch).for_each(|b| rows.add(b));
                assert_eq!(rows.finish(), m, "{cfg:?} {batch}");
            }
        }
    }

    #[test]
    fn vocabulary_is_sorted_and_idf_smoothed() {
        let d = docs(&["good movie", "bad movie", "good good fun"]);
        let (v, m) = Tfidf::fit_transform(
            &TfidfConfig {
                ngram_max: 1,
                ..TfidfConfig::scikit_learn()
            },
            &d,
        )
        .unwrap();
        let m = m.to_csr();
        assert_eq!(v.terms(), ["bad", "fun", "good", "movie"]);
        let idf_movie = (4.0f64 / 3.0).ln() + 1.0;
        assert!((v.idf()[3] - idf_movie).abs() < 1e-12);
        // row 2: good x2, fun x1
        let (idx, val) = m.row(2);
        assert_eq!(idx, &[1, 2]);
        let (f, g) = (v.idf()[1], 2.0 * v.idf()[2]);
        let n = (f * f + g * g).sqrt();
        assert!((f64::from(val[0]) - f / n).abs() < 1e-6);
        assert!((f64::from(val[1]) - g / n).abs() < 1e-6);
    }

    #[test]
    fn max_features_keeps_most_frequent_with_term_tiebreak() {
        let d = docs(&["aa aa aa bb bb cc dd", "cc dd ee"]);
        let cfg = TfidfConfig {
            ngram_max: 1,
            max_features: Some(3),
            ..Default::default()
        };
        let (v, _) = Tfidf::fit_transform(&cfg, &d).unwrap();
        // aa:3, bb:2, cc:2, dd:2 -> aa plus the two smallest of the tied {bb, cc, dd}
        assert_eq!(v.terms(), ["aa", "bb", "cc"]);
        // with bigrams, a tied unigram wins over a tied bigram that sorts before it
        let d = docs(&["zz aa", "zz aa", "qq"]);
        let cfg = TfidfConfig {
            max_features: Some(2),
            ..Default::default()
        };
        let (v, _) = Tfidf::fit_transform(&cfg, &d).unwrap();
        assert_eq!(v.terms(), ["aa", "zz"]);
    }

    #[test]
    fn bigrams_and_transform_agree_with_fit() {
        let d = docs(&["not good at all", "very good film", "not bad"]);
        let (v, m) = Tfidf::fit_transform(&TfidfConfig::default(), &d).unwrap();
        assert!(v.terms().iter().any(|t| t == "not good"));
        assert_eq!(v.transform(&d), m.to_csr());
    }

    #[test]
    fn ngram_ranges_without_words_count_only_longer_ngrams() {
        let d = docs(&["a b c", "a b", "b c d b c"]);
        let cfg = TfidfConfig {
            ngram_min: 2,
            ngram_max: 3,
            max_features: None,
            smooth_idf: false,
            ..TfidfConfig::default()
        };
        let (v, m) = Tfidf::fit_transform(&cfg, &d).unwrap();
        assert_eq!(
            v.terms(),
            [
                "a b", "a b c", "b c", "b c d", "c d", "c d b", "d b", "d b c"
            ]
        );
        // df: "a b" and "b c" in two documents of three, the rest in one
        let idf = |df: f64| (3.0 / df).ln() + 1.0;
        let want = [2.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0].map(idf);
        assert!(v.idf().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
        // "b c" twice in the third document
        assert_eq!(m.counts[m.indptr[2]..].to_vec(), [2, 1, 1, 1, 1, 1]);
        assert_eq!(v.transform(&d), m.to_csr());
    }

    #[test]
    fn unknown_words_break_ngrams_and_count_as_oov() {
        let d = docs(&["not good", "good film"]);
        let (v, _) = Tfidf::fit_transform(&TfidfConfig::default(), &d).unwrap();
        let mut s = Scratch::default();
        let st = v.transform_into("not zzz good", &mut s);
        assert_eq!(
            st,
            TokenStats {
                tokens: 3,
                oov_tokens: 1
            }
        );
        let feats: Vec<&str> = s
            .row
            .iter()
            .map(|(f, _)| v.terms()[*f as usize].as_str())
            .collect();
        assert_eq!(feats, ["good", "not"]);
    }

    #[test]
    fn min_df_and_empty_vocabulary() {
        let d = docs(&["aa bb", "aa cc"]);
        let cfg = TfidfConfig {
            ngram_max: 1,
            min_df: 2,
            ..Default::default()
        };
        assert_eq!(Tfidf::fit_transform(&cfg, &d).unwrap().0.terms(), ["aa"]);
        let cfg = TfidfConfig {
            min_df: 3,
            ..Default::default()
        };
        assert!(matches!(
            Tfidf::fit_transform(&cfg, &d),
            Err(TfidfError::EmptyVocabulary { docs: 2 })
        ));
    }

    #[test]
    fn rejects_bad_config() {
        let bad = TfidfConfig {
            ngram_min: 2,
            ngram_max: 1,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        assert!(
            TfidfConfig {
                ngram_max: 4,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            TfidfConfig {
                max_df: 0.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            TfidfConfig {
                max_features: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn from_parts_round_trips() {
        let d = docs(&["the plot is thin", "a thin plot , great cast", "great cast"]);
        let (v, m) = Tfidf::fit_transform(&TfidfConfig::default(), &d).unwrap();
        let v2 =
            Tfidf::from_parts(v.config().clone(), v.terms().to_vec(), v.idf().to_vec()).unwrap();
        assert_eq!(v2.transform(&d), m.to_csr());
    }
}
