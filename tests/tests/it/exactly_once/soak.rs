//! The soak: concurrent counter writes with a share of DynamoDB's answers lost and some late. The
//! stored totals must equal what the clients were told, exactly.
//!
//! Eight clients write at once through one server. The proxy drops [`LOST`] of the `UpdateItem`
//! answers after DynamoDB applied them and holds [`LATE`] of them past the SDK's attempt timeout,
//! never the same request twice (its retry gets through), so every call should be answered `200`
//! and every acknowledged write must be stored exactly once. On a machine so loaded that a retry
//! too runs out of time, that call is answered `503` and may or may not be applied (at most once):
//! the totals are then checked to lie between the acknowledged and the acknowledged plus the
//! errors, and the errors are printed. Printed (and in the README):
//! `soak: <counter>: <calls> calls, <acknowledged> acknowledged, stored <stored> (double-applied 0, lost 0); ...`

use serde_json::json;
use service_tests::fault_proxy::{Fault, FaultProxy};
use service_tests::{dynamodb_endpoint, spawn_app, DynamoTables, TestApp};
use std::sync::Arc;
use std::time::Duration;

/// Clients writing at once.
const CLIENTS: usize = 8;
/// Share of `UpdateItem` answers lost after DynamoDB applied the write.
const LOST: f64 = 0.10;
/// Share of `UpdateItem` answers held past the attempt timeout.
const LATE: f64 = 0.03;

async fn used(app: &TestApp, user: &str) -> f64 {
    app.ok("/account/getOrCreate", json!({ "userId": user }))
        .await["account"]["usage"]["monthTokensUsed"]
        .as_f64()
        .expect("a number")
}

#[tokio::test]
async fn counters_under_lost_and_late_answers_store_exactly_what_was_acknowledged() {
    let tables = DynamoTables::create().await;
    let proxy = FaultProxy::start(&dynamodb_endpoint()).await;
    let app = Arc::new(spawn_app(tables.store_via(&proxy.endpoint).await).await);
    for user in ["soak-record", "soak-reserve"] {
        app.ok("/account/getOrCreate", json!({ "userId": user }))
            .await;
    }
    proxy.take_calls();
    proxy.share(Some("UpdateItem"), LOST, Fault::DropResponse, 7, true);
    proxy.share(
        Some("UpdateItem"),
        LATE,
        Fault::DelayResponse(Duration::from_millis(2_500)),
        11,
        true,
    );

    // recordUsage: 300 calls of 1 token, 8 clients at once.
    let record = futures::future::join_all((0..CLIENTS).map(|client| {
        let app = Arc::clone(&app);
        async move {
            let (mut acknowledged, mut failed) = (0u32, 0u32);
            for _ in 0..300 / CLIENTS + usize::from(client < 300 % CLIENTS) {
                let answer = app
                    .call(
                        "/account/recordUsage",
                        json!({ "userId": "soak-record", "provider": "p", "tokensUsed": 1 }),
                    )
                    .await;
                match answer.status {
                    200 => acknowledged += 1,
                    503 => failed += 1,
                    _ => panic!("{answer:?}"),
                }
            }
            (acknowledged, failed)
        }
    }))
    .await;
    let record_acknowledged: u32 = record.iter().map(|r| r.0).sum();
    let record_failed: u32 = record.iter().map(|r| r.1).sum();

    // reserveUsage / releaseUsage: each client reserves 1,000 at a time against the free
    // allowance of 50,000 and gives half of each grant back, until it is refused 3 times.
    let reserve = futures::future::join_all((0..CLIENTS).map(|_| {
        let app = Arc::clone(&app);
        async move {
            let (mut granted, mut refused, mut released) = (0u32, 0u32, 0u32);
            let (mut failed_reserve, mut failed_release) = (0u32, 0u32);
            while refused < 3 {
                let answer = app
                    .call(
                        "/account/reserveUsage",
                        json!({ "userId": "soak-reserve", "provider": "p", "tokensRequested": 1000 }),
                    )
                    .await;
                match answer.status {
                    200 if answer.body["account"].is_null() => {
                        refused += 1;
                        continue;
                    }
                    200 => granted += 1,
                    503 => {
                        failed_reserve += 1;
                        continue;
                    }
                    _ => panic!("{answer:?}"),
                }
                let answer = app
                    .call(
                        "/account/releaseUsage",
                        json!({ "userId": "soak-reserve", "tokensReserved": 500 }),
                    )
                    .await;
                match answer.status {
                    200 => released += 1,
                    503 => failed_release += 1,
                    _ => panic!("{answer:?}"),
                }
            }
            (granted, refused, released, failed_reserve, failed_release)
        }
    }))
    .await;
    proxy.clear();
    let calls = proxy.take_calls();
    let faults = |wanted: fn(&Fault) -> bool| {
        calls
            .iter()
            .filter(|c| c.fault.as_ref().is_some_and(wanted))
            .count()
    };
    let (lost, late) = (
        faults(|f| matches!(f, Fault::DropResponse)),
        faults(|f| matches!(f, Fault::DelayResponse(_))),
    );

    let stored_record = used(&app, "soak-record").await;
    let granted: u32 = reserve.iter().map(|r| r.0).sum();
    let refused: u32 = reserve.iter().map(|r| r.1).sum();
    let released: u32 = reserve.iter().map(|r| r.2).sum();
    let failed_reserve: u32 = reserve.iter().map(|r| r.3).sum();
    let failed_release: u32 = reserve.iter().map(|r| r.4).sum();
    let expected_reserved = f64::from(granted) * 1000.0 - f64::from(released) * 500.0;
    let stored_reserved = used(&app, "soak-reserve").await;
    let record_extra = stored_record - f64::from(record_acknowledged);
    let reserved_extra = stored_reserved - expected_reserved;
    println!(
        "soak: recordUsage: 300 calls, {record_acknowledged} acknowledged, {record_failed} failed, \
         stored {stored_record} (double-applied {}, lost {}); reserveUsage/releaseUsage: {granted} \
         granted, {refused} refused, {released} released, {} failed, {expected_reserved} \
         acknowledged, stored {stored_reserved} (double-applied {}, lost {}); UpdateItem answers \
         lost {lost}, late {late}, of {} calls",
        (record_extra - f64::from(record_failed)).max(0.0) as i64,
        (-record_extra).max(0.0) as i64,
        failed_reserve + failed_release,
        ((reserved_extra - 1000.0 * f64::from(failed_reserve)) / 500.0).max(0.0) as i64,
        ((-reserved_extra - 500.0 * f64::from(failed_release)) / 500.0).max(0.0) as i64,
        calls.iter().filter(|c| c.op == "UpdateItem").count(),
    );
    assert!(
        lost >= 10 && late >= 2,
        "faults injected: {lost} lost, {late} late"
    );
    assert!(
        record_failed + failed_reserve + failed_release <= 10,
        "too many calls failed to tell anything"
    );
    // Exactly the acknowledged writes, plus at most once each write answered with an error.
    assert!(
        (0.0..=f64::from(record_failed)).contains(&record_extra),
        "recordUsage: stored {stored_record}, acknowledged {record_acknowledged}, failed {record_failed}"
    );
    assert!(granted >= 50, "the allowance was used: {granted} grants");
    assert!(
        (-500.0 * f64::from(failed_release)..=1000.0 * f64::from(failed_reserve))
            .contains(&reserved_extra),
        "reservations: stored {stored_reserved}, acknowledged {expected_reserved}"
    );
    assert!(stored_reserved <= 50_000.0);
}
