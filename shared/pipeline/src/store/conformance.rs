//! Checks every object-store adapter must pass, shared by the local store's unit tests and the S3 tests
//! against moto. They panic on the first violation.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use bytes::Bytes;

use super::ObjectStore;

/// `racers` concurrent [`ObjectStore::put_if_absent`] calls on `key`: exactly one wins, and the stored
/// bytes are the winner's.
pub async fn racing_put_if_absent<S: ObjectStore + 'static>(
    store: Arc<S>,
    key: &str,
    racers: usize,
) {
    let tasks: Vec<_> = (0..racers)
        .map(|i| {
            let (s, key) = (store.clone(), key.to_owned());
            tokio::spawn(async move {
                let won = s
                    .put_if_absent(&key, Bytes::from(format!("{i}")))
                    .await
                    .unwrap();
                (i, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one conditional write wins: {winners:?}"
    );
    assert_eq!(
        &store.get(key).await.unwrap()[..],
        format!("{}", winners[0]).as_bytes(),
        "the stored object is the winner's"
    );
}
