//! Polarity's pure, synchronous ML core: readers, cleaning, TF-IDF, logistic regression, metrics and the
//! model artifact. No I/O beyond reading a file path in [`reader::read_path`]; no async, no AWS.
//!
//! ```
//! use polarity_core::{train::{self, TrainConfig, Labelled}, labels::{LabelScheme, Labels}};
//! let rows = Labelled {
//!     texts: vec!["a great film".into(), "dull and bad".into(), "great fun".into(), "bad plot".into()],
//!     classes: vec![1, 0, 1, 0],
//! };
//! let labels = Labels::from_names(["negative", "positive"]);
//! let cfg = TrainConfig::default().check()?;
//! let (model, _) = train::train(&cfg, &rows, &Labelled::default(), labels, LabelScheme::Names)?;
//! assert_eq!(model.predict("Great!").label, "positive");
//! let bytes = polarity_core::artifact::encode(&model);
//! assert_eq!(polarity_core::artifact::decode(&bytes)?.predict("so bad").label, "negative");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod artifact;
pub mod contract;
pub mod labels;
pub mod lbfgs;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod names;
pub mod prepare;
pub mod reader;
pub mod sparse;
pub mod split;
pub mod text;
pub mod tfidf;
pub mod train;
pub mod tune;

pub use model::{Classifier, Prediction};
