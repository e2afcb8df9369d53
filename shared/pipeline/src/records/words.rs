//! The one-word results shared by logs, metrics and the registry.

polarity_core::named_enum! {
    /// A stable one-word result of a stage run, for logs and metrics (`outcome` label).
    pub enum Outcome {
        /// Done.
        Ok = "ok",
        /// Found already done (a re-delivered event).
        Already = "already",
        /// Ingest accepted no row.
        Quarantined = "quarantined",
        /// The dataset was held by the label-noise gate.
        Held = "held",
        /// Nothing to do.
        Skipped = "skipped",
        /// Validate promoted the candidate.
        Promote = "promote",
        /// Validate rejected the candidate.
        Reject = "reject",
        /// Validate held the candidate.
        Hold = "hold",
        /// Train started an ECS task for datasets above the in-process limit.
        Dispatched = "dispatched",
        /// The stage failed.
        Error = "error",
    }
}

polarity_core::named_enum! {
    /// The verdict.
    pub enum Verdict {
        /// Put the candidate in production.
        Promote = "promote",
        /// Keep production.
        Reject = "reject",
        /// Keep production and wait for a person: the registry is frozen, or the label set changed.
        Hold = "hold",
    }
}

impl Verdict {
    /// The stage outcome (metrics label) of this verdict.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Promote => Outcome::Promote,
            Self::Reject => Outcome::Reject,
            Self::Hold => Outcome::Hold,
        }
    }
}
