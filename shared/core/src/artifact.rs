//! The model artifact: one versioned, checksummed binary file.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "POLARITY"
//! 8       4     format version, u32 little-endian (this build writes and reads FORMAT_VERSION)
//! 12      8     payload length in bytes, u64 LE
//! 20      32    SHA-256 of the payload
//! 52      …     payload:
//!               u32 meta length, meta (JSON of ModelMeta)
//!               u32 n_features; n_features × (u32 length, UTF-8 term bytes)      ascending terms
//!               n_features × f64 idf
//!               u32 outputs; n_features × outputs × f64 coef (feature-major); outputs × f64 intercept
//! ```
//! All numbers little-endian. The file's SHA-256 (over all bytes) is the model's identity in the registry.
//! A wrong magic, a newer format, a short or long file, or a checksum mismatch is refused with an
//! [`ArtifactError`]. Writing is deterministic: the same classifier always gives the same bytes.
//!
//! The checksum is inside the file, so anyone can make it match: [`decode`] trusts no count. Every count
//! is checked against the bytes that remain before anything is allocated, and the decoded model must pass
//! [`check`] (the one validation of a loaded model, for every loader) or it is refused.

use sha2::{Digest, Sha256};

use crate::logistic::{LogisticModel, outputs};
use crate::model::{Classifier, ModelMeta};
use crate::reader::quoted;
use crate::tfidf::Tfidf;

/// Magic bytes at the start of every artifact.
pub(crate) const MAGIC: &[u8; 8] = b"POLARITY";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 32;

/// Why an artifact was refused. None of these is retryable: the bytes are wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArtifactError {
    /// Not a Polarity artifact at all.
    #[error("not a Polarity model file (bad magic bytes)")]
    BadMagic,
    /// Written by a newer Polarity.
    #[error(
        "model format v{found} is newer than this build supports (v{FORMAT_VERSION}); upgrade Polarity"
    )]
    FutureVersion {
        /// Version in the file.
        found: u32,
    },
    /// Shorter or longer than the header says.
    #[error(
        "model file is truncated or has trailing bytes: header says {expected} payload bytes, found {found}"
    )]
    Length {
        /// Payload bytes the header announces.
        expected: u64,
        /// Payload bytes present.
        found: u64,
    },
    /// The payload does not match its checksum.
    #[error("model file is corrupt: SHA-256 checksum mismatch")]
    Checksum,
    /// The payload is internally inconsistent (should not happen after a checksum pass).
    #[error("model file is malformed: {0}")]
    Malformed(String),
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Bytes as lower-case hex (how every digest in Polarity is written).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialises a classifier.
pub fn encode(c: &Classifier) -> Vec<u8> {
    let meta =
        serde_json::to_vec(&c.meta).expect("model metadata is plain data and always serialises");
    let terms = c.tfidf.terms();
    let mut p = Vec::with_capacity(meta.len() + terms.len() * 40 + c.model.coef.len() * 8);
    p.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    p.extend_from_slice(&meta);
    p.extend_from_slice(&(terms.len() as u32).to_le_bytes());
    for t in terms {
        p.extend_from_slice(&(t.len() as u32).to_le_bytes());
        p.extend_from_slice(t.as_bytes());
    }
    c.tfidf
        .idf()
        .iter()
        .for_each(|v| p.extend_from_slice(&v.to_le_bytes()));
    p.extend_from_slice(&(c.model.outputs() as u32).to_le_bytes());
    c.model
        .coef
        .iter()
        .chain(&c.model.intercept)
        .for_each(|v| p.extend_from_slice(&v.to_le_bytes()));
    seal(&p)
}

/// An artifact from its payload: the header (magic, format version, payload length, the payload's SHA-256)
/// followed by the payload. [`encode`] seals what it serialises; a forged payload sealed here passes the
/// checksum, so only [`decode`]'s own checks stand between it and a served model.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// A cursor over the payload that fails with [`ArtifactError::Malformed`] instead of panicking.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ArtifactError> {
        if self.b.len() < n {
            return Err(ArtifactError::Malformed(format!(
                "{what} runs past the end"
            )));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<usize, ArtifactError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// A count of items that each take at least `min_bytes` of what remains.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, ArtifactError> {
        let n = self.u32(what)?;
        if n.saturating_mul(min_bytes) > self.b.len() {
            return Err(ArtifactError::Malformed(format!(
                "{what} {n} does not fit in the {} bytes left",
                self.b.len()
            )));
        }
        Ok(n)
    }

    fn f64s(&mut self, n: usize, what: &str) -> Result<Vec<f64>, ArtifactError> {
        let len = n
            .checked_mul(8)
            .ok_or_else(|| ArtifactError::Malformed(format!("{what} too large")))?;
        let b = self.take(len, what)?;
        Ok(b.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
}

/// Parses and verifies an artifact.
///
/// # Errors
/// [`ArtifactError`] when the bytes are not a valid artifact of a supported version.
pub fn decode(bytes: &[u8]) -> Result<Classifier, ArtifactError> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(ArtifactError::BadMagic);
    }
    if bytes.len() < HEADER {
        return Err(ArtifactError::Length {
            expected: 0,
            found: 0,
        });
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version > FORMAT_VERSION || version == 0 {
        return Err(ArtifactError::FutureVersion { found: version });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let expected = u64::from_le_bytes(len);
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != expected {
        return Err(ArtifactError::Length {
            expected,
            found: payload.len() as u64,
        });
    }
    if Sha256::digest(payload).as_slice() != &bytes[20..52] {
        return Err(ArtifactError::Checksum);
    }
    let mut c = Cursor { b: payload };
    let meta_len = c.u32("meta length")?;
    let meta: ModelMeta = serde_json::from_slice(c.take(meta_len, "meta")?)
        .map_err(|e| ArtifactError::Malformed(format!("metadata: {e}")))?;
    // each feature takes at least a 4-byte term length and an 8-byte idf
    let n = c.count("feature count", 12)?;
    let mut terms = Vec::with_capacity(n);
    for _ in 0..n {
        let l = c.u32("term length")?;
        let t = std::str::from_utf8(c.take(l, "term")?)
            .map_err(|_| ArtifactError::Malformed("term is not UTF-8".into()))?;
        terms.push(t.to_string());
    }
    let idf = c.f64s(n, "idf")?;
    let k = c.count("outputs", 8)?;
    if k != outputs(meta.labels.len()) {
        return Err(ArtifactError::Malformed(format!(
            "{k} outputs for {} labels",
            meta.labels.len()
        )));
    }
    let coef = c.f64s(n * k, "weights")?;
    let intercept = c.f64s(k, "intercepts")?;
    if !c.b.is_empty() {
        return Err(ArtifactError::Malformed(
            "unexpected bytes after the intercepts".into(),
        ));
    }
    let tfidf = Tfidf::from_parts(meta.tfidf.clone(), terms, idf)
        .map_err(|e| ArtifactError::Malformed(e.to_string()))?;
    let model = LogisticModel {
        classes: meta.labels.len(),
        features: n,
        coef,
        intercept,
    };
    let c = Classifier { meta, tfidf, model };
    check(&c)?;
    Ok(c)
}

/// Text every loaded model must classify into a probability distribution (also the server's warm-up).
pub(crate) const SMOKE_TEXT: &str = "a smoke test : this film was good , not bad .";

/// The largest weight or intercept magnitude a model may have. A trained model's weights stay far below
/// (L2-regularised, a bounded number of iterations); within it, a row's logits (its values have unit L2
/// norm) are finite sums, so every probability a model gives is finite by construction.
pub(crate) const MAX_WEIGHT: f64 = 1e6;

/// The largest idf a model may have: `ln(n) + 1` for 10^43 documents. Both idf formulas give at least 1.
pub(crate) const MAX_IDF: f64 = 100.0;

/// The one validation of a loaded model: at least two distinct labels, a class prior per label that is a
/// distribution, weights within ±`MAX_WEIGHT`, idf in `[1, MAX_IDF]`, valid settings, and a smoke
/// prediction that is a probability distribution over the labels.
///
/// # Errors
/// [`ArtifactError::Malformed`] naming the first problem.
pub fn check(c: &Classifier) -> Result<(), ArtifactError> {
    let bad = |m: String| Err(ArtifactError::Malformed(m));
    let labels = c.labels();
    if labels.len() < 2 {
        return bad(format!(
            "{} label(s); a model needs at least two",
            labels.len()
        ));
    }
    let mut distinct = labels.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != labels.len() {
        return bad("duplicate labels".into());
    }
    let prior = &c.meta.data.class_prior;
    if prior.len() != labels.len()
        || !prior.iter().all(|p| p.is_finite() && *p >= 0.0)
        || (prior.iter().sum::<f64>() - 1.0).abs() > 1e-6
    {
        return bad("the class prior is not a distribution over the labels".into());
    }
    let term = |f: usize| {
        c.tfidf
            .terms()
            .get(f)
            .map_or_else(|| format!("#{f}"), |t| quoted(t))
    };
    let k = c.model.outputs().max(1);
    if let Some((i, w)) = c
        .model
        .coef
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || w.abs() > MAX_WEIGHT)
    {
        return bad(format!(
            "the weight of feature {} (output {}) is {w:e}, not a finite number within ±{MAX_WEIGHT:e}",
            term(i / k),
            i % k
        ));
    }
    if let Some((i, w)) = c
        .model
        .intercept
        .iter()
        .enumerate()
        .find(|(_, w)| !w.is_finite() || w.abs() > MAX_WEIGHT)
    {
        return bad(format!(
            "intercept {i} is {w:e}, not a finite number within ±{MAX_WEIGHT:e}"
        ));
    }
    if let Some((f, v)) = c
        .tfidf
        .idf()
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < 1.0 || **v > MAX_IDF)
    {
        return bad(format!(
            "the idf of feature {} is {v:e}, not within [1, {MAX_IDF}]",
            term(f)
        ));
    }
    c.meta
        .tfidf
        .validate()
        .map_err(|e| ArtifactError::Malformed(format!("vectoriser settings: {e}")))?;
    let mut s = crate::model::PredictScratch::default();
    let (best, _) = c.predict_into(SMOKE_TEXT, &mut s);
    let sum: f64 = s.probs.iter().sum();
    if s.probs.len() != labels.len()
        || best >= labels.len()
        || !s.probs.iter().all(|p| p.is_finite())
        || (sum - 1.0).abs() > 1e-6
    {
        return bad(format!(
            "the smoke prediction is not a distribution over {} labels",
            labels.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{ValidTrainConfig, fit_classifier};

    fn tiny() -> Classifier {
        let texts: Vec<String> = ["good fun film", "bad dull film", "great fun", "awful bad"]
            .map(String::from)
            .to_vec();
        let labels = crate::labels::Labels::from_names(["negative", "positive"]);
        fit_classifier(
            &ValidTrainConfig::default(),
            &texts,
            &[1, 0, 1, 0],
            labels,
            crate::labels::LabelScheme::Names,
        )
        .unwrap()
        .0
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let c = tiny();
        let bytes = encode(&c);
        assert_eq!(bytes, encode(&tiny()));
        let back = decode(&bytes).unwrap();
        assert_eq!(back.meta, c.meta);
        assert_eq!(back.model, c.model);
        assert_eq!(back.tfidf.terms(), c.tfidf.terms());
        assert_eq!(back.predict("good film"), c.predict("good film"));
        assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn refuses_damaged_files() {
        let bytes = encode(&tiny());
        assert_eq!(decode(b"hello world").unwrap_err(), ArtifactError::BadMagic);
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(decode(&flipped).unwrap_err(), ArtifactError::Checksum);
        assert!(matches!(
            decode(&bytes[..bytes.len() - 9]).unwrap_err(),
            ArtifactError::Length { .. }
        ));
        assert!(matches!(
            decode(&bytes[..30]).unwrap_err(),
            ArtifactError::Length { .. }
        ));
        let mut future = bytes.clone();
        future[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            decode(&future).unwrap_err(),
            ArtifactError::FutureVersion { found: 2 }
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer).unwrap_err(),
            ArtifactError::Length { .. }
        ));
        // every single-byte truncation is refused, never a panic
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
    }

    /// Rewrites the u32 at `at` of the payload and recomputes the checksum: what anyone can do.
    fn forged(bytes: &[u8], at: usize, value: u32) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[HEADER + at..HEADER + at + 4].copy_from_slice(&value.to_le_bytes());
        let sum = Sha256::digest(&b[HEADER..]);
        b[20..52].copy_from_slice(&sum);
        b
    }

    #[test]
    fn forged_counts_are_refused_before_anything_is_allocated() {
        let bytes = encode(&tiny());
        let meta_len = u32::from_le_bytes(bytes[HEADER..HEADER + 4].try_into().unwrap()) as usize;
        let features_at = 4 + meta_len;
        let e = decode(&forged(&bytes, features_at, u32::MAX)).unwrap_err();
        assert!(
            matches!(&e, ArtifactError::Malformed(m) if m.contains("feature count")),
            "{e}"
        );
        // every u32-aligned position of the payload set to huge or zero values: an error or a valid
        // model, never a panic or an abort
        for at in (0..bytes.len() - HEADER - 4).step_by(4) {
            for v in [u32::MAX, 0x8000_0000, 0xFFFF, 0] {
                let _ = decode(&forged(&bytes, at, v));
            }
        }
    }

    #[test]
    fn a_model_that_lies_about_its_labels_is_refused() {
        let mut c = tiny();
        c.meta.labels.truncate(1);
        c.meta.data.class_prior = vec![1.0];
        c.model.classes = 1;
        let e = decode(&encode(&c)).unwrap_err();
        assert!(e.to_string().contains("at least two"), "{e}");
        let mut c = tiny();
        c.meta.data.class_prior = vec![0.9, 0.9];
        assert!(
            decode(&encode(&c))
                .unwrap_err()
                .to_string()
                .contains("prior")
        );
        let mut c = tiny();
        c.model.coef[0] = f64::NAN;
        assert!(
            decode(&encode(&c))
                .unwrap_err()
                .to_string()
                .contains("not a finite number")
        );
    }

    /// `c` with its idf replaced.
    fn with_idf(c: &Classifier, idf: Vec<f64>) -> Classifier {
        let mut out = c.clone();
        out.tfidf = Tfidf::from_parts(c.meta.tfidf.clone(), c.tfidf.terms().to_vec(), idf).unwrap();
        out
    }

    #[test]
    fn huge_weights_and_idf_are_refused_naming_the_field() {
        // finite but huge weights on common words, checksum valid: the forged model that served NaN
        let mut c = tiny();
        let f = c.tfidf.terms().iter().position(|t| t == "fun").unwrap();
        c.model.coef[f] = 1.7e308;
        let g = c.tfidf.terms().iter().position(|t| t == "film").unwrap();
        c.model.coef[g] = -1.7e308;
        let e = decode(&encode(&c)).unwrap_err().to_string();
        assert!(
            e.contains("weight of feature") && e.contains("1.7e308"),
            "{e}"
        );
        let mut c = tiny();
        c.model.intercept[0] = -1e300;
        let e = decode(&encode(&c)).unwrap_err().to_string();
        assert!(e.contains("intercept 0"), "{e}");
        for v in [5e-324, 1.7e308, 0.5, f64::INFINITY] {
            let t = tiny();
            let mut idf = t.tfidf.idf().to_vec();
            idf[0] = v;
            let e = decode(&encode(&with_idf(&t, idf))).unwrap_err().to_string();
            assert!(e.contains("the idf of feature"), "{v}: {e}");
        }
    }

    #[test]
    fn any_model_within_the_bounds_gives_finite_distributions() {
        // a property over random weights and idf anywhere within the bounds (a fixed-seed generator: the
        // same cases every run), texts of the model's own words, binary and multinomial
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let base = tiny();
        let terms = base.tfidf.terms().to_vec();
        for case in 0..400 {
            let mut c = base.clone();
            if case % 2 == 1 {
                // three classes: one output per class
                c.meta.labels = vec!["negative".into(), "neutral".into(), "positive".into()];
                c.meta.data.class_prior = vec![0.3, 0.3, 0.4];
                c.model.classes = 3;
                c.model.coef = vec![0.0; c.model.features * 3];
                c.model.intercept = vec![0.0; 3];
            }
            let extreme = case % 3 == 0;
            for w in c.model.coef.iter_mut().chain(c.model.intercept.iter_mut()) {
                let u = next() * 2.0 - 1.0;
                *w = if extreme {
                    u.signum() * MAX_WEIGHT
                } else {
                    u * MAX_WEIGHT
                };
            }
            let idf = (0..terms.len())
                .map(|_| {
                    if extreme {
                        MAX_IDF
                    } else {
                        1.0 + next() * (MAX_IDF - 1.0)
                    }
                })
                .collect();
            let c = with_idf(&c, idf);
            check(&c).unwrap();
            let mut s = crate::model::PredictScratch::default();
            for n in 0..8 {
                let text: Vec<&str> = (0..n * 3)
                    .map(|_| terms[(next() * terms.len() as f64) as usize].as_str())
                    .collect();
                let (best, _) = c.predict_into(&text.join(" "), &mut s);
                let sum: f64 = s.probs.iter().sum();
                assert!(
                    best < c.labels().len()
                        && s.probs
                            .iter()
                            .all(|p| p.is_finite() && (0.0..=1.0).contains(p))
                        && (sum - 1.0).abs() < 1e-9,
                    "case {case}: {:?}",
                    s.probs
                );
            }
        }
    }
}
