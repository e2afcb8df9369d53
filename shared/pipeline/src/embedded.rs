//! The embedded runner: the whole chain in one process, driven exactly as the bucket would drive it.
//! Every object a stage creates becomes an `ObjectCreated` event ([`crate::events::object_created`]), is
//! decoded by [`crate::events::object_refs`] and routed by [`crate::layout::route`]; objects no
//! route matches trigger nothing. The queue is first-in first-out, like one notification stream.
//!
//! Resuming: a stage that finds its work already done announces its commit marker again
//! ([`StageOutcome::commit_marker`]), so a run repeated after a crash continues every stage whose input
//! is committed and whose output is not (the stages are idempotent, so finished ones cost a read).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::layout::Stage;
use async_trait::async_trait;
use aws_lambda_events::event::s3::S3Event;
use bytes::Bytes;

use crate::config::PipelineConfig;
use crate::error::PipelineError;
use crate::events::{object_created, object_refs};
use crate::records::StageOutcome;
use crate::registry::Registry;
use crate::stages::{Ctx, run_stage};
use crate::store::{Metadata, Object, ObjectStore, StoreError};
use crate::telemetry;
use crate::tracker::Tracker;

/// A store wrapper that remembers every object it created (what S3 would notify about).
struct Recording<'a, S: ?Sized> {
    inner: &'a S,
    created: Mutex<Vec<(String, u64)>>,
}

impl<'a, S: ObjectStore + ?Sized> Recording<'a, S> {
    fn new(inner: &'a S) -> Self {
        Self {
            inner,
            created: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, key: &str, size: usize) {
        if let Ok(mut c) = self.created.lock() {
            c.push((key.to_string(), size as u64));
        }
    }

    fn take(&self) -> Vec<(String, u64)> {
        self.created
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

#[async_trait]
impl<S: ObjectStore + ?Sized> ObjectStore for Recording<'_, S> {
    fn url(&self) -> String {
        self.inner.url()
    }
    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.inner.get(key).await
    }
    async fn get_object(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.inner.get_object(key).await
    }
    async fn put_with_meta(
        &self,
        key: &str,
        body: Bytes,
        meta: &Metadata,
    ) -> Result<(), StoreError> {
        let n = body.len();
        self.inner.put_with_meta(key, body, meta).await?;
        self.note(key, n);
        Ok(())
    }
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let n = body.len();
        self.inner.put(key, body).await?;
        self.note(key, n);
        Ok(())
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let n = body.len();
        let wrote = self.inner.put_if_absent(key, body).await?;
        if wrote {
            self.note(key, n);
        }
        Ok(wrote)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }
    async fn ensure(&self) -> Result<bool, StoreError> {
        self.inner.ensure().await
    }
}

/// One stage run.
#[derive(Debug, Clone)]
pub struct Step {
    /// The stage.
    pub stage: Stage,
    /// The object that triggered it.
    pub key: String,
    /// What it did.
    pub outcome: StageOutcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs the chain in-process.
pub struct Dispatcher<'a> {
    store: &'a dyn ObjectStore,
    registry: &'a dyn Registry,
    cfg: &'a PipelineConfig,
    tracker: Arc<dyn Tracker>,
    bucket: String,
    on_start: Option<StartHook<'a>>,
}

/// What [`Dispatcher::on_start`] calls.
type StartHook<'a> = Box<dyn Fn(Stage, &str) + Send + Sync + 'a>;

impl<'a> Dispatcher<'a> {
    /// A dispatcher over a store (named `bucket` in events) and a registry.
    pub fn new(
        store: &'a dyn ObjectStore,
        registry: &'a dyn Registry,
        cfg: &'a PipelineConfig,
        tracker: Arc<dyn Tracker>,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            store,
            registry,
            cfg,
            tracker,
            bucket: bucket.into(),
            on_start: None,
        }
    }

    /// Calls `f(stage, key)` as each stage starts (progress displays).
    pub fn on_start(mut self, f: impl Fn(Stage, &str) + Send + Sync + 'a) -> Self {
        self.on_start = Some(Box::new(f));
        self
    }

    /// Uploads `body` (with user `meta`, e.g. a data contract) to `key` and runs everything it triggers.
    /// `on_step` sees each stage as it finishes.
    ///
    /// # Errors
    /// The first stage error (the chain stops there, as a Lambda would retry that event).
    pub async fn upload_and_run(
        &self,
        key: &str,
        body: Bytes,
        meta: &Metadata,
        on_step: impl FnMut(&Step),
    ) -> Result<Vec<Step>, PipelineError> {
        let size = body.len() as u64;
        self.store.put_with_meta(key, body, meta).await?;
        self.run(object_created(&self.bucket, key, size), on_step)
            .await
    }

    /// Runs everything an existing object triggers (an operator's dataset decision, say).
    ///
    /// # Errors
    /// The first stage error.
    pub async fn run_key(
        &self,
        key: &str,
        on_step: impl FnMut(&Step),
    ) -> Result<Vec<Step>, PipelineError> {
        self.run(object_created(&self.bucket, key, 0), on_step)
            .await
    }

    /// Delivers `event` and every event the stages' writes cause, until the queue is empty.
    ///
    /// # Errors
    /// The first stage error.
    pub async fn run(
        &self,
        event: S3Event,
        mut on_step: impl FnMut(&Step),
    ) -> Result<Vec<Step>, PipelineError> {
        let mut queue = VecDeque::from([event]);
        let mut steps = Vec::new();
        while let Some(ev) = queue.pop_front() {
            for obj in object_refs(&ev) {
                let Some(stage) = obj.stage() else { continue };
                if let Some(f) = &self.on_start {
                    f(stage, &obj.key);
                }
                let rec = Recording::new(self.store);
                let t0 = Instant::now();
                let ctx = Ctx {
                    store: &rec,
                    registry: Some(self.registry),
                    cfg: self.cfg,
                    tracker: self.tracker.as_ref(),
                    // one process runs the whole chain: above the row limit it trains here and warns
                    launcher: None,
                };
                let result = run_stage(stage, ctx, &obj.key).await;
                telemetry::record(stage, result.as_ref());
                let outcome = result?;
                let mut created = rec.take();
                if outcome.already()
                    && let Some(marker) = outcome.commit_marker()
                {
                    created.push((marker, 0));
                }
                let step = Step {
                    stage,
                    key: obj.key.clone(),
                    outcome,
                    elapsed: t0.elapsed(),
                };
                on_step(&step);
                steps.push(step);
                for (key, size) in created {
                    queue.push_back(object_created(&self.bucket, &key, size));
                }
            }
        }
        Ok(steps)
    }
}
