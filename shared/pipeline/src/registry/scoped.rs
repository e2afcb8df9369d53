//! [`Scoped`]: a registry that refuses the operations whose DynamoDB actions ([`dynamo_actions`]) the
//! principal's [`Access`] does not allow: the rule IAM applies in AWS, applied in every mode.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{
    HistoryEntry, PointerState, Registry, RegistryError, RegistryOp, Transition, VerdictRecord,
    VersionRecord, dynamo_actions,
};
use crate::layout::Access;

/// A registry limited to `access`.
pub struct Scoped<'a> {
    inner: &'a dyn Registry,
    access: &'static Access,
    principal: &'static str,
}

impl<'a> Scoped<'a> {
    /// `inner` as `principal` would see it.
    pub fn new(inner: &'a dyn Registry, access: &'static Access, principal: &'static str) -> Self {
        Self {
            inner,
            access,
            principal,
        }
    }

    fn allow(&self, op: RegistryOp) -> Result<(), RegistryError> {
        match dynamo_actions(op)
            .iter()
            .find(|a| !self.access.may_registry(a))
        {
            None => Ok(()),
            Some(a) => Err(RegistryError::Denied {
                op,
                action: a,
                principal: self.principal,
            }),
        }
    }
}

#[async_trait]
impl Registry for Scoped<'_> {
    fn url(&self) -> String {
        self.inner.url()
    }
    async fn ensure(&self) -> Result<bool, RegistryError> {
        self.allow(RegistryOp::Ensure)?;
        self.inner.ensure().await
    }
    async fn register(&self, rec: &VersionRecord) -> Result<bool, RegistryError> {
        self.allow(RegistryOp::Register)?;
        self.inner.register(rec).await
    }
    async fn version(&self, version: &str) -> Result<Option<VersionRecord>, RegistryError> {
        self.allow(RegistryOp::Version)?;
        self.inner.version(version).await
    }
    async fn versions(&self) -> Result<Vec<VersionRecord>, RegistryError> {
        self.allow(RegistryOp::Versions)?;
        self.inner.versions().await
    }
    async fn pointer(&self) -> Result<PointerState, RegistryError> {
        self.allow(RegistryOp::Pointer)?;
        self.inner.pointer().await
    }
    async fn transition(&self, t: &Transition) -> Result<HistoryEntry, RegistryError> {
        self.allow(RegistryOp::Transition)?;
        self.inner.transition(t).await
    }
    async fn history(&self) -> Result<Vec<HistoryEntry>, RegistryError> {
        self.allow(RegistryOp::History)?;
        self.inner.history().await
    }
    async fn set_frozen(&self, frozen: bool) -> Result<(), RegistryError> {
        self.allow(RegistryOp::SetFrozen)?;
        self.inner.set_frozen(frozen).await
    }
    async fn record_verdict(
        &self,
        version: &str,
        v: &VerdictRecord,
    ) -> Result<bool, RegistryError> {
        self.allow(RegistryOp::RecordVerdict)?;
        self.inner.record_verdict(version, v).await
    }
    async fn verdicts(&self) -> Result<BTreeMap<String, VerdictRecord>, RegistryError> {
        self.allow(RegistryOp::Verdicts)?;
        self.inner.verdicts().await
    }
}
