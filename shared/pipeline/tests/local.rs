//! The pipeline scenarios on the local twins (a folder and a JSON file).
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Reg, Store};
use polarity_pipeline::registry::FileRegistry;
use polarity_pipeline::store::LocalStore;

fn twins() -> (tempfile::TempDir, Store, Reg) {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(LocalStore::new(dir.path().join("bucket")));
    let reg: Reg = Arc::new(FileRegistry::new(dir.path().join("registry.json")));
    (dir, store, reg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_chain_and_redelivery() {
    let (_d, s, r) = twins();
    common::full_chain_and_redelivery(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn better_worse_and_rollback() {
    let (_d, s, r) = twins();
    common::better_worse_and_rollback(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_holds_promotions() {
    let (_d, s, r) = twins();
    common::freeze_holds_promotions(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_upload() {
    let (_d, s, r) = twins();
    common::corrupt_upload(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_order_and_concurrent_duplicates() {
    let (_d, s, r) = twins();
    common::out_of_order_and_concurrent_duplicates(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_candidates() {
    let (_d, s, r) = twins();
    common::racing_candidates(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_contracts() {
    let (_d, s, r) = twins();
    common::data_contracts(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_and_dataset_decisions() {
    let (_d, s, r) = twins();
    common::gate_and_dataset_decisions(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_sets_and_baselines() {
    let (_d, s, r) = twins();
    common::label_sets_and_baselines(s, r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_interruptions() {
    let (dir, s, r) = twins();
    let bucket = dir.path().join("bucket");
    common::resumes_after_interruptions(s, r, move |_, key| {
        let path = bucket.join(key);
        async move { std::fs::remove_file(path).unwrap() }
    })
    .await;
}
