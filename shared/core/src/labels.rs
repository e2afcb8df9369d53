//! Label normalisation: raw label values → canonical class names, decided once per dataset.
//!
//! Values are trimmed and lower-cased first; numbers are compared by value (`1`, `1.0` and `01` agree).
//!
//! | raw values in the dataset                     | scheme        | classes                            |
//! |-----------------------------------------------|---------------|------------------------------------|
//! | only `0` and `1`                              | `binary01`    | `0` → negative, `1` → positive     |
//! | only `-1`, `0`, `1`, with a `-1`              | `signed`      | negative, neutral, positive        |
//! | only `0`, `1`, `2`, with a `2`                | `ternary012`  | negative, neutral, positive        |
//! | anything else                                 | `names`       | `neg`/`negative`/`false` → negative, `pos`/`positive`/`true` → positive, `neu`/`neutral` → neutral, any other value is its own class (numbers in plain form: `5.0` → `5`) |
//!
//! The scheme chosen at training time is stored in the model and reused to read evaluation files, so a
//! test file that happens to hold only `0`s still maps `0` to the same class.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// How raw label values map to class names. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelScheme {
    /// `0` → negative, `1` → positive.
    Binary01,
    /// `-1` → negative, `0` → neutral, `1` → positive.
    Signed,
    /// `0` → negative, `1` → neutral, `2` → positive.
    Ternary012,
    /// Sentiment words mapped to canonical names; other values kept as their own class.
    Names,
}

/// Canonical negative class name.
pub(crate) const NEGATIVE: &str = "negative";
/// Canonical neutral class name.
pub(crate) const NEUTRAL: &str = "neutral";
/// Canonical positive class name.
pub(crate) const POSITIVE: &str = "positive";

fn as_int(v: &str) -> Option<i64> {
    let f: f64 = v.trim().parse().ok()?;
    (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
}

impl LabelScheme {
    /// Picks the scheme for a dataset from its distinct raw label values.
    pub fn detect<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ints = BTreeSet::new();
        for v in values {
            match as_int(v) {
                Some(i) => {
                    ints.insert(i);
                }
                None => return Self::Names,
            }
        }
        if ints.is_empty() {
            return Self::Names;
        }
        let within = |allowed: &[i64]| ints.iter().all(|i| allowed.contains(i));
        if within(&[0, 1]) {
            Self::Binary01
        } else if within(&[-1, 0, 1]) {
            Self::Signed
        } else if within(&[0, 1, 2]) {
            Self::Ternary012
        } else {
            Self::Names
        }
    }

    /// The class name of one raw value under this scheme, or `None` when the value does not belong to it
    /// (only possible for the numeric schemes, e.g. `7` under `binary01`).
    pub fn normalize(&self, raw: &str) -> Option<String> {
        let v = raw.trim().to_lowercase();
        let numeric = |map: &[(i64, &str)]| {
            let i = as_int(&v)?;
            map.iter()
                .find(|(k, _)| *k == i)
                .map(|(_, name)| (*name).to_string())
        };
        match self {
            Self::Binary01 => numeric(&[(0, NEGATIVE), (1, POSITIVE)]),
            Self::Signed => numeric(&[(-1, NEGATIVE), (0, NEUTRAL), (1, POSITIVE)]),
            Self::Ternary012 => numeric(&[(0, NEGATIVE), (1, NEUTRAL), (2, POSITIVE)]),
            Self::Names => Some(match v.as_str() {
                "neg" | "negative" | "false" => NEGATIVE.to_string(),
                "pos" | "positive" | "true" => POSITIVE.to_string(),
                "neu" | "neutral" => NEUTRAL.to_string(),
                _ => canonical_value(&v),
            }),
        }
    }
}

/// A raw label value in canonical form: trimmed, lower-cased, whole numbers in plain form (`5.0` → `5`).
pub(crate) fn canonical_value(raw: &str) -> String {
    let v = raw.trim().to_lowercase();
    match as_int(&v) {
        Some(i) => i.to_string(),
        None => v,
    }
}

/// A model's classes in their fixed order (see `sort_classes`); class indices are positions here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(Vec<String>);

impl Labels {
    /// The distinct class names of `names`, ordered.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        // one name per row is typical: copy only the distinct ones
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for s in names {
            if !seen.contains(s.as_ref()) {
                seen.insert(s.as_ref().to_string());
            }
        }
        let mut v: Vec<String> = seen.into_iter().collect();
        sort_classes(&mut v);
        Self(v)
    }

    /// The index of a class name.
    pub fn index(&self, name: &str) -> Option<u32> {
        self.0.iter().position(|l| l == name).map(|i| i as u32)
    }

    /// The class names in order.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The class names, owned.
    pub fn into_names(self) -> Vec<String> {
        self.0
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no class.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Orders class names: negative, neutral, positive first (in that order), then the rest alphabetically.
pub(crate) fn sort_classes(classes: &mut [String]) {
    let rank = |c: &str| match c {
        NEGATIVE => 0,
        NEUTRAL => 1,
        POSITIVE => 2,
        _ => 3,
    };
    classes.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_schemes() {
        assert_eq!(
            LabelScheme::detect(["0", "1", "1.0"]),
            LabelScheme::Binary01
        );
        assert_eq!(LabelScheme::detect(["1"]), LabelScheme::Binary01);
        assert_eq!(LabelScheme::detect(["-1", "0", "1"]), LabelScheme::Signed);
        assert_eq!(LabelScheme::detect(["0", "2"]), LabelScheme::Ternary012);
        assert_eq!(LabelScheme::detect(["1", "5"]), LabelScheme::Names);
        assert_eq!(LabelScheme::detect(["pos", "neg"]), LabelScheme::Names);
    }

    #[test]
    fn normalizes_values() {
        let n = LabelScheme::Names;
        assert_eq!(n.normalize(" POS ").as_deref(), Some("positive"));
        assert_eq!(n.normalize("False").as_deref(), Some("negative"));
        assert_eq!(n.normalize("Neutral").as_deref(), Some("neutral"));
        assert_eq!(n.normalize("Sports").as_deref(), Some("sports"));
        assert_eq!(n.normalize("5.0").as_deref(), Some("5"));
        assert_eq!(
            LabelScheme::Binary01.normalize("1.0").as_deref(),
            Some("positive")
        );
        assert_eq!(LabelScheme::Binary01.normalize("2"), None);
        assert_eq!(
            LabelScheme::Signed.normalize("-1").as_deref(),
            Some("negative")
        );
        assert_eq!(
            LabelScheme::Ternary012.normalize("1").as_deref(),
            Some("neutral")
        );
    }

    #[test]
    fn sorts_sentiment_classes_first() {
        let mut c: Vec<String> = ["zeta", "positive", "alpha", "negative", "neutral"]
            .map(String::from)
            .to_vec();
        sort_classes(&mut c);
        assert_eq!(c, ["negative", "neutral", "positive", "alpha", "zeta"]);
    }
}
