//! The audit trail on both backends: entries read back exactly as recorded, newest first, paged
//! with `before`, filtered by action, token and time, and kept across reopening.

use super::{TestDb, t};
use crate::{AuditEntry, AuditQuery};
use serde_json::json;

/// An entry of `action` on `target` by `token`, at `secs`.
fn entry(action: &str, target: &str, token: &str, secs: i64) -> AuditEntry {
    AuditEntry {
        id: 0,
        at: t(secs),
        action: action.to_owned(),
        target: target.to_owned(),
        token: token.to_owned(),
        source: "127.0.0.1".to_owned(),
        by: format!("{token} on shift"),
        detail: json!({ "note": format!("{action} {target}") }),
    }
}

fn ids(entries: &[AuditEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

async fn audit_entries_read_back_newest_first_and_page_with_before(db: TestDb) {
    let store = db.open().await;
    assert!(
        store
            .audit(&AuditQuery::default())
            .await
            .expect("empty")
            .is_empty()
    );
    let mut recorded = Vec::new();
    for (i, (action, token)) in [
        ("ack", "ops"),
        ("silence_set", "ops"),
        ("status", "admin"),
        ("ack", "admin"),
        ("reload", "admin"),
    ]
    .into_iter()
    .enumerate()
    {
        let i = i64::try_from(i).expect("few");
        let e = store
            .record_audit(&entry(action, &format!("T{i}"), token, i * 10))
            .await
            .expect("record");
        assert!(e.id > 0);
        assert_eq!(
            AuditEntry { id: 0, ..e.clone() },
            entry(action, &format!("T{i}"), token, i * 10)
        );
        recorded.push(e);
    }
    let newest_first: Vec<i64> = recorded.iter().rev().map(|e| e.id).collect();
    let all = store.audit(&AuditQuery::default()).await.expect("all");
    assert_eq!(ids(&all), newest_first);
    assert_eq!(
        all[0], recorded[4],
        "an entry reads back exactly as recorded"
    );

    // Page by two with `before` = the smallest id seen.
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit(&AuditQuery {
                before_id: before,
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.iter().map(|e| e.id).min();
        pages.push(ids(&page));
        assert!(pages.len() <= 3, "paging must end: {pages:?}");
    }
    assert_eq!(pages.concat(), newest_first);
    assert_eq!(pages.len(), 3);

    let acks = store
        .audit(&AuditQuery {
            action: Some("ack".into()),
            ..AuditQuery::default()
        })
        .await
        .expect("acks");
    assert_eq!(ids(&acks), [recorded[3].id, recorded[0].id]);
    let by_ops = store
        .audit(&AuditQuery {
            token: Some("ops".into()),
            ..AuditQuery::default()
        })
        .await
        .expect("ops");
    assert_eq!(ids(&by_ops), [recorded[1].id, recorded[0].id]);
    let since = store
        .audit(&AuditQuery {
            since: Some(t(20)),
            token: Some("admin".into()),
            ..AuditQuery::default()
        })
        .await
        .expect("since");
    assert_eq!(
        ids(&since),
        [recorded[4].id, recorded[3].id, recorded[2].id],
        "since is inclusive"
    );

    drop(store);
    let reopened = db.open().await;
    assert_eq!(
        ids(&reopened.audit(&AuditQuery::default()).await.expect("all")),
        newest_first
    );
}

async fn audit_text_with_nul_characters_is_stored_with_replacement_characters(db: TestDb) {
    let store = db.open().await;
    let mut e = entry("ack", "A\0", "ops", 0);
    e.by = "shift\0lead".into();
    e.detail = json!({ "note": "a\0b" });
    store.record_audit(&e).await.expect("record");
    let read = store.audit(&AuditQuery::default()).await.expect("read");
    assert_eq!(read[0].target, "A\u{FFFD}");
    assert_eq!(read[0].by, "shift\u{FFFD}lead");
    // JSON escapes the NUL as \u0000, which both backends keep as text.
    assert_eq!(read[0].detail, json!({ "note": "a\0b" }));
}

on_both_backends!(
    audit_entries_read_back_newest_first_and_page_with_before,
    audit_text_with_nul_characters_is_stored_with_replacement_characters,
);
