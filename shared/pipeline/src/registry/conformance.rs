//! Checks every registry adapter must pass, shared by the adapters' unit tests and the integration tests
//! against moto. They panic on the first violation.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

/// A version record named `v` (artifact `models/<v>/model.plm`, sha `sha-<v>`).
pub fn record(v: &str) -> VersionRecord {
    VersionRecord {
        version: v.into(),
        artifact_key: format!("models/{v}/model.plm"),
        sha256: format!("sha-{v}"),
        card_key: format!("models/{v}/card.json"),
        labels: vec!["negative".into(), "positive".into()],
        scores: Scores {
            n: 10,
            accuracy: 0.8,
            macro_f1: 0.8,
        },
        datasets: vec!["d-1".into()],
        data_digest: "abc".into(),
        parent: None,
        created_at: 1,
        git_sha: None,
    }
}

/// The semantics every adapter must have; run by each adapter's tests (and the moto tests).
pub async fn contract<R: Registry>(reg: &R) {
    reg.ensure().await.unwrap();
    assert_eq!(reg.pointer().await.unwrap(), PointerState::default());
    assert!(reg.production().await.unwrap().is_none());
    assert!(reg.register(&record("a")).await.unwrap());
    assert!(
        !reg.register(&record("a")).await.unwrap(),
        "re-registering the same record is a no-op"
    );
    let mut other = record("a");
    other.sha256 = "different".into();
    assert!(matches!(
        reg.register(&other).await,
        Err(RegistryError::VersionMismatch(_))
    ));
    assert!(reg.register(&record("b")).await.unwrap());
    assert_eq!(reg.versions().await.unwrap().len(), 2);
    assert_eq!(reg.version("b").await.unwrap(), Some(record("b")));
    assert_eq!(reg.version("zz").await.unwrap(), None);

    let promote = |expected: PointerState, to: &str| Transition {
        expected,
        to: to.into(),
        kind: TransitionKind::Promote,
        reason: "test".into(),
    };
    let unknown = reg
        .transition(&promote(PointerState::default(), "zz"))
        .await;
    assert!(
        matches!(unknown, Err(RegistryError::UnknownVersion(_))),
        "{unknown:?}"
    );
    let e = reg
        .transition(&promote(PointerState::default(), "a"))
        .await
        .unwrap();
    assert_eq!((e.seq, e.from.clone(), e.to.as_str()), (1, None, "a"));
    // a second writer that read the old state loses
    let stale = reg.transition(&promote(PointerState::default(), "b")).await;
    assert!(
        matches!(stale, Err(RegistryError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(
        reg.production()
            .await
            .unwrap()
            .map(|r| r.version)
            .as_deref(),
        Some("a")
    );

    reg.set_frozen(true).await.unwrap();
    let s = reg.pointer().await.unwrap();
    assert!(s.frozen && s.version.as_deref() == Some("a") && s.seq == 1);
    assert!(matches!(
        reg.transition(&promote(s.clone(), "b")).await,
        Err(RegistryError::Frozen)
    ));
    promote_manual(reg, "b", "operator").await.unwrap();
    reg.set_frozen(false).await.unwrap();
    let s = reg.pointer().await.unwrap();
    assert_eq!(
        (s.version.as_deref(), s.seq, s.frozen),
        (Some("b"), 2, false)
    );

    let back = rollback(reg, "bad model").await.unwrap();
    assert_eq!(
        (back.from.as_deref(), back.to.as_str(), back.kind),
        (Some("b"), "a", TransitionKind::Rollback)
    );
    assert!(matches!(
        rollback(reg, "again").await,
        Err(RegistryError::NoRollbackTarget(_))
    ));
    let h = reg.history().await.unwrap();
    assert_eq!(h.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        h.iter().map(|e| e.to.as_str()).collect::<Vec<_>>(),
        ["a", "b", "a"]
    );

    let v = VerdictRecord {
        verdict: crate::records::Verdict::Reject,
        reason: "worse".into(),
        at: 5,
    };
    assert!(reg.record_verdict("b", &v).await.unwrap());
    assert!(
        !reg.record_verdict(
            "b",
            &VerdictRecord {
                verdict: crate::records::Verdict::Promote,
                ..v.clone()
            }
        )
        .await
        .unwrap()
    );
    assert_eq!(reg.verdicts().await.unwrap()["b"], v);
    let st = statuses(reg).await.unwrap();
    assert_eq!(
        st.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
        ["production", "retired"]
    );
    // a move to the version already in production is refused and leaves no history
    let current = reg.pointer().await.unwrap().version.unwrap();
    assert!(matches!(
        promote_manual(reg, &current, "again").await,
        Err(RegistryError::NoOp(_))
    ));
    assert_eq!(reg.history().await.unwrap().len(), 3);
}

/// Many writers racing from the same state: exactly one transition succeeds.
pub async fn race<R: Registry + 'static>(reg: std::sync::Arc<R>) {
    reg.ensure().await.unwrap();
    for v in ["r0", "r1", "r2", "r3", "r4", "r5"] {
        reg.register(&record(v)).await.unwrap();
    }
    let start = reg.pointer().await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (reg, start) = (reg.clone(), start.clone());
            tokio::spawn(async move {
                let t = Transition {
                    expected: start,
                    to: format!("r{i}"),
                    kind: TransitionKind::Promote,
                    reason: "race".into(),
                };
                reg.transition(&t).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(RegistryError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(reg.history().await.unwrap().len() as u64, start.seq + 1);
}
