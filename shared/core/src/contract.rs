//! The data contract of a file: which columns hold the text and the label, whether the first row is a
//! header, the delimiter when sniffing cannot tell, and an optional label mapping. The same contract is
//! given as `polarity train`/`pipeline run` flags, as S3 object metadata (`text-col`, `label-col`, `header`,
//! `delimiter`, `label-map`) or as a named contract file (`contracts/<name>.json`).
//!
//! * Columns: by header name, or by 1-based position for a file without a header row (see
//!   [`Column::parse`]).
//! * Label mapping: `1|2=negative;4|5=positive` (or `,` between values on a command line): each raw value
//!   (trimmed, lower-cased; numbers by value) maps to a class name; a value the mapping does not name is
//!   rejected with `unmapped_label`. Without a mapping, [`LabelScheme::detect`] decides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels::{LabelScheme, canonical_value};
use crate::reader::{Column, ReadOptions, quoted};

/// A data contract. Every field is optional; the default means "detect everything".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Text column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_col: Option<Column>,
    /// Label column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_col: Option<Column>,
    /// `false`: the file has no header row (columns are positions). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    /// Field delimiter of a CSV/TSV file (one ASCII character).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Raw label value → class name; values not listed are rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_map: Option<BTreeMap<String, String>>,
}

/// A contract setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data contract: {0}")]
pub struct ContractError(pub String);

impl Contract {
    /// True when nothing is set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// True unless `header` is `Some(false)`.
    pub fn has_header(&self) -> bool {
        self.header.unwrap_or(true)
    }

    /// The contract as canonical JSON (field order fixed, unset fields left out): what a dataset id
    /// digests.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a contract is plain data and always serialises")
    }

    /// The reader settings this contract implies.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            text_col: self.text_col.clone(),
            label_col: self.label_col.clone(),
            has_header: self.has_header(),
            delimiter: self.delimiter.map(|c| c as u8),
            ..Default::default()
        }
    }

    /// This contract with every field `over` sets replaced by `over`'s.
    pub fn overridden_by(self, over: Contract) -> Contract {
        Contract {
            text_col: over.text_col.or(self.text_col),
            label_col: over.label_col.or(self.label_col),
            header: over.header.or(self.header),
            delimiter: over.delimiter.or(self.delimiter),
            label_map: over.label_map.or(self.label_map),
        }
    }

    /// Builds a contract from `key=value` settings (S3 object metadata, or flags): `text-col`,
    /// `label-col`, `header` (`true`/`false`/`yes`/`no`/`1`/`0`), `delimiter` (one character, or `tab`,
    /// `comma`, `semicolon`, `pipe`), `label-map`. Keys are case-insensitive and may use `_` for `-`;
    /// other keys are ignored (metadata may carry anything).
    ///
    /// # Errors
    /// [`ContractError`] naming the key whose value cannot be used.
    pub fn from_settings<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ContractError> {
        let mut raw: BTreeMap<String, &str> = BTreeMap::new();
        for (k, v) in pairs {
            raw.insert(k.trim().to_ascii_lowercase().replace('_', "-"), v);
        }
        let mut c = Contract::default();
        if let Some(v) = raw.get("header") {
            c.header = Some(parse_bool(v).ok_or_else(|| {
                ContractError(format!("header={} must be true or false", quoted(v)))
            })?);
        }
        let has_header = c.has_header();
        let col = |key: &str| -> Result<Option<Column>, ContractError> {
            raw.get(key)
                .map(|v| {
                    Column::parse(v, has_header).map_err(|e| ContractError(format!("{key}: {e}")))
                })
                .transpose()
        };
        c.text_col = col("text-col")?;
        c.label_col = col("label-col")?;
        if let Some(v) = raw.get("delimiter") {
            c.delimiter = Some(parse_delimiter(v)?);
        }
        if let Some(v) = raw.get("label-map") {
            c.label_map = Some(parse_label_map(v)?);
        }
        c.check()?;
        Ok(c)
    }

    /// Checks what serde cannot: positions need `header: false` or `#`, a usable delimiter, a non-empty
    /// mapping.
    ///
    /// # Errors
    /// [`ContractError`] naming the problem.
    pub fn check(&self) -> Result<(), ContractError> {
        if !self.has_header() {
            for (role, c) in [("text-col", &self.text_col), ("label-col", &self.label_col)] {
                if let Some(Column::Name(n)) = c {
                    return Err(ContractError(format!(
                        "{role} {} names a header cell, but the contract says the file has no header row; give a position (1, 2, …)",
                        quoted(n)
                    )));
                }
            }
        }
        if let Some(d) = self.delimiter
            && !(d.is_ascii() && !d.is_ascii_alphanumeric() && d != '"' && d != '\n' && d != '\r')
        {
            return Err(ContractError(format!(
                "delimiter {} must be one ASCII punctuation or whitespace character",
                quoted(&d.to_string())
            )));
        }
        if let Some(m) = &self.label_map
            && (m.is_empty() || m.values().any(|v| v.trim().is_empty()))
        {
            return Err(ContractError(
                "label-map must map at least one value, each to a class name".into(),
            ));
        }
        Ok(())
    }

    /// The class name of each distinct raw label value (`None`: the row is rejected, with `unmapped_label`
    /// under a mapping, `unknown_label` otherwise) and the scheme that decided (`None` under a mapping).
    pub fn class_names(&self, values: &[String]) -> (Vec<Option<String>>, Option<LabelScheme>) {
        match &self.label_map {
            Some(map) => (
                values
                    .iter()
                    .map(|v| map.get(&canonical_value(v)).cloned())
                    .collect(),
                None,
            ),
            None => {
                let scheme = LabelScheme::detect(values.iter().map(String::as_str));
                (
                    values.iter().map(|v| scheme.normalize(v)).collect(),
                    Some(scheme),
                )
            }
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

fn parse_delimiter(v: &str) -> Result<char, ContractError> {
    let named = match v.trim().to_ascii_lowercase().as_str() {
        "tab" | "\\t" => Some('\t'),
        "comma" => Some(','),
        "semicolon" => Some(';'),
        "pipe" => Some('|'),
        "space" => Some(' '),
        _ => None,
    };
    let mut chars = v.chars();
    match (named, chars.next(), chars.next()) {
        (Some(c), _, _) => Ok(c),
        (None, Some(c), None) => Ok(c),
        _ => Err(ContractError(format!(
            "delimiter {} must be one character (or tab, comma, semicolon, pipe, space)",
            quoted(v)
        ))),
    }
}

/// Parses `1|2=negative;4|5=positive` (values may also be separated by `,`; groups by `;` or a new line).
///
/// # Errors
/// [`ContractError`] for a group without `=`, an empty value or class, or a value mapped twice.
pub(crate) fn parse_label_map(spec: &str) -> Result<BTreeMap<String, String>, ContractError> {
    let mut map = BTreeMap::new();
    for group in spec
        .split([';', '\n'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        let (values, class) = group.split_once('=').ok_or_else(|| {
            ContractError(format!(
                "label-map group {} needs VALUES=CLASS (e.g. 1|2=negative)",
                quoted(group)
            ))
        })?;
        let class = class.trim();
        if class.is_empty() {
            return Err(ContractError(format!(
                "label-map group {} has no class",
                quoted(group)
            )));
        }
        for v in values.split(['|', ',']).map(str::trim) {
            if v.is_empty() {
                return Err(ContractError(format!(
                    "label-map group {} has an empty value",
                    quoted(group)
                )));
            }
            if map.insert(canonical_value(v), class.to_string()).is_some() {
                return Err(ContractError(format!("label-map maps {} twice", quoted(v))));
            }
        }
    }
    if map.is_empty() {
        return Err(ContractError("label-map is empty".into()));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_build_a_contract_and_name_bad_values() {
        let c = Contract::from_settings([
            ("Text-Col", "review"),
            ("label_col", "stars"),
            ("label-map", "1|2=negative;4|5=positive"),
        ])
        .unwrap();
        assert_eq!(c.text_col, Some(Column::Name("review".into())));
        let (names, scheme) = c.class_names(&["1".into(), "3".into(), "5.0".into()]);
        assert_eq!(
            names,
            [Some("negative".into()), None, Some("positive".into())]
        );
        assert_eq!(scheme, None);
        let headerless =
            Contract::from_settings([("header", "false"), ("text-col", "2"), ("label-col", "1")])
                .unwrap();
        assert_eq!(headerless.text_col, Some(Column::Position(2)));
        assert!(!headerless.read_options().has_header);
        for (k, v) in [
            ("header", "maybe"),
            ("delimiter", "ab"),
            ("label-map", "1,2"),
            ("label-map", "1=a;1=b"),
        ] {
            let e = Contract::from_settings([(k, v)]).unwrap_err();
            assert!(e.to_string().contains(k), "{k}={v}: {e}");
        }
        let e = Contract::from_settings([("header", "no"), ("text-col", "review")]).unwrap_err();
        assert!(e.to_string().contains("position"), "{e}");
        assert_eq!(
            Contract::from_settings([("delimiter", "semicolon")])
                .unwrap()
                .delimiter,
            Some(';')
        );
    }

    #[test]
    fn json_form_round_trips_and_rejects_unknown_fields() {
        let c: Contract = serde_json::from_str(
            r#"{"text_col": "text", "label_col": 3, "header": true, "label_map": {"1": "negative"}}"#,
        )
        .unwrap();
        assert_eq!(c.label_col, Some(Column::Position(3)));
        assert_eq!(serde_json::from_str::<Contract>(&c.canonical()).unwrap(), c);
        assert!(serde_json::from_str::<Contract>(r#"{"text_column": "x"}"#).is_err());
        assert!(Contract::default().is_default());
        assert_eq!(Contract::default().canonical(), "{}");
        let over = Contract {
            header: Some(false),
            ..Default::default()
        };
        let merged = c.clone().overridden_by(over);
        assert_eq!((merged.header, merged.text_col), (Some(false), c.text_col));
    }
}
