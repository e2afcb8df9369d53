//! The same scenarios against real S3 and DynamoDB protocol servers: moto started per test on a free
//! 127.0.0.1 port, through `tests/moto_serial.py` (one request at a time, so conditional writes are atomic
//! as in DynamoDB) with the interpreter of the `moto_server` found via `MOTO_SERVER`,
//! `.venv-moto/bin/moto_server`, or `PATH`. The tests are `#[ignore]`d with that reason, so a bare
//! `cargo test` lists them as skipped; the test command (`scripts/test.sh`) runs them, and there a missing
//! moto_server fails them.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Reg, Store};
use polarity_pipeline::aws::AwsSettings;
use polarity_pipeline::registry::{DynamoRegistry, Registry, conformance};
use polarity_pipeline::store::{ObjectStore, S3Store};

/// A moto server, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_moto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv-moto/bin/moto_server"
    ));
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// Starts moto; panics, naming the fix, when it is not installed.
pub fn start() -> Moto {
    let Some(bin) = find_moto() else {
        panic!(
            "moto_server not found: run bash scripts/setup.sh (it makes .venv-moto), or set MOTO_SERVER"
        );
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // moto_server's own interpreter runs moto_serial.py: moto, one request at a time (see that file for why).
    let python = Some(bin.with_file_name("python"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let serial = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/moto_serial.py");
    let child = Command::new(&python)
        .args([serial, "127.0.0.1", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {serial}: {e}", python.display()));
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

async fn backends(moto: &Moto) -> (Arc<S3Store>, Arc<DynamoRegistry>) {
    let settings = AwsSettings::local(&moto.endpoint);
    let sdk = settings.load().await;
    let store = Arc::new(S3Store::from_config(&sdk, &settings, "polarity-test"));
    let reg = Arc::new(DynamoRegistry::from_config(&sdk, "polarity-registry"));
    assert!(store.ensure().await.unwrap(), "bucket created");
    assert!(
        !store.ensure().await.unwrap(),
        "second ensure finds the bucket"
    );
    assert!(reg.ensure().await.unwrap(), "table created");
    assert!(
        !reg.ensure().await.unwrap(),
        "second ensure finds the table"
    );
    (store, reg)
}

macro_rules! scenario {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[ignore = "needs moto_server (bash scripts/setup.sh makes .venv-moto); the test command runs it"]
        async fn $name() {
            let moto = start();
            let (s, r) = backends(&moto).await;
            let (s, r): (Store, Reg) = (s, r);
            common::$name(s, r).await;
        }
    };
}

scenario!(full_chain_and_redelivery);
scenario!(better_worse_and_rollback);
scenario!(freeze_holds_promotions);
scenario!(corrupt_upload);
scenario!(out_of_order_and_concurrent_duplicates);
scenario!(racing_candidates);
scenario!(data_contracts);
scenario!(gate_and_dataset_decisions);
scenario!(label_sets_and_baselines);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto_server (bash scripts/setup.sh makes .venv-moto); the test command runs it"]
async fn resumes_after_interruptions() {
    let moto = start();
    let (s, r) = backends(&moto).await;
    let client = s.client().clone();
    let (s, r): (Store, Reg) = (s, r);
    common::resumes_after_interruptions(s, r, move |_, key| {
        let client = client.clone();
        async move {
            client
                .delete_object()
                .bucket("polarity-test")
                .key(key)
                .send()
                .await
                .unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto_server (bash scripts/setup.sh makes .venv-moto); the test command runs it"]
async fn dynamo_registry_meets_the_contract_and_racing_transactions_promote_once() {
    let moto = start();
    let (_, reg) = backends(&moto).await;
    conformance::contract(reg.as_ref()).await;
    let settings = AwsSettings::local(&moto.endpoint);
    let other = Arc::new(DynamoRegistry::from_config(
        &settings.load().await,
        "polarity-race",
    ));
    conformance::race(other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto_server (bash scripts/setup.sh makes .venv-moto); the test command runs it"]
async fn s3_store_round_trips_lists_and_conditional_writes_win_once() {
    let moto = start();
    let (store, _) = backends(&moto).await;
    assert!(matches!(
        store.get("nope").await,
        Err(polarity_pipeline::store::StoreError::NotFound { .. })
    ));
    store
        .put("a/my file.txt", Bytes::from_static(b"1"))
        .await
        .unwrap();
    assert_eq!(&store.get("a/my file.txt").await.unwrap()[..], b"1");
    assert!(
        store.exists("a/my file.txt").await.unwrap() && !store.exists("a/other").await.unwrap()
    );
    polarity_pipeline::store::conformance::racing_put_if_absent(store.clone(), "once", 8).await;
    for i in 0..1005 {
        store
            .put(&format!("many/{i:05}"), Bytes::new())
            .await
            .unwrap();
    }
    let keys = store.list("many/").await.unwrap();
    assert_eq!(keys.len(), 1005, "listing follows continuation tokens");
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
}

/// S3 answers 403, not 404, to a HeadObject of a missing key when the caller may list the bucket only
/// under a prefix condition (moto ignores conditions, so a two-route responder plays S3 here): `exists`
/// decides with a listing of exactly that key, as `get_object` does.
#[tokio::test]
async fn exists_decides_a_denied_head_with_a_listing() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let answer = if head.starts_with("HEAD") {
                "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_string()
            } else {
                let contents = if head.contains("prefix=models%2Fhere.json") {
                    "<Contents><Key>models/here.json</Key><Size>2</Size></Contents>"
                } else {
                    ""
                };
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p</Prefix><KeyCount>{}</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
                    usize::from(!contents.is_empty())
                );
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = c.write_all(answer.as_bytes());
        }
    });
    let settings = AwsSettings::local(&endpoint);
    let sdk = settings.load().await;
    let store = S3Store::from_config(&sdk, &settings, "b");
    assert!(!store.exists("models/gone.json").await.unwrap());
    assert!(store.exists("models/here.json").await.unwrap());
}
