//! `TransactWriteItems` with an explicit `ClientRequestToken`, and the pacing of retried rounds.
//!
//! A transaction whose answer was lost is sent again by the SDK with the same token; DynamoDB
//! answers a repeat within its 10-minute window as it answered the first, without applying it
//! twice. A cancelled transaction (a condition failed, or a conflict with another transaction)
//! applied nothing, so the store may build a new one from what it learned and send it with a new
//! token. Any other error ends the call with that error: the transaction may have been applied, so
//! it is never sent again under another token.
//!
//! (The SDK fills `ClientRequestToken` itself when it is not set, as the field is an idempotency
//! token; it is set here so that the guarantee does not rest on that default.)
//!
//! This is the shape of `shared::dynamo::transact` (issue 13, being added on main); when it lands,
//! this module's [`transact`] gives way to it.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use shared::dynamo::{store_error, Client};
use shared::StoreError;
use std::time::{Duration, Instant};

/// The outcome of a transaction DynamoDB answered.
#[derive(Debug)]
pub(crate) enum Transacted {
    /// Applied (exactly once).
    Done,
    /// Not applied; per item, in order: why.
    Cancelled(Vec<Reason>),
}

/// Why one item of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reason {
    /// `None` (this item was fine), `ConditionalCheckFailed`, `TransactionConflict`, ...
    pub(crate) code: String,
}

impl Reason {
    /// Whether this item's condition failed.
    pub(crate) fn failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

/// Runs `items` as one transaction with a new `ClientRequestToken`.
pub(crate) async fn transact(
    client: &Client,
    op: &str,
    items: Vec<TransactWriteItem>,
) -> Result<Transacted, StoreError> {
    let result = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .client_request_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await;
    let err = match result {
        Ok(_) => return Ok(Transacted::Done),
        Err(err) => err,
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        let reasons: Vec<Reason> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| Reason {
                code: r.code().unwrap_or("None").to_owned(),
            })
            .collect();
        let answered = |code: &str| {
            matches!(
                code,
                "None" | "ConditionalCheckFailed" | "TransactionConflict"
            )
        };
        if reasons.iter().all(|r| answered(&r.code)) {
            return Ok(Transacted::Cancelled(reasons));
        }
        let has = |code: &str| reasons.iter().any(|r| r.code == code);
        if has("ThrottlingError") || has("ProvisionedThroughputExceeded") {
            tracing::warn!(op, "transaction throttled");
            return Err(StoreError::Unavailable(format!("{op}: throttled")));
        }
        let too_large = cancelled.cancellation_reasons().iter().any(|r| {
            r.message().is_some_and(|m| {
                m.contains("size has exceeded") || m.contains("maximum allowed size")
            })
        });
        if too_large {
            return Err(StoreError::TooLarge(
                "the item is over DynamoDB's 400 KB item limit".into(),
            ));
        }
    }
    Err(store_error(op, err))
}

/// Time a call may spend on rounds lost to concurrent writers before it answers `503`: inside the
/// functions' 10 s timeout, with room for the last round's own calls (milliseconds, unless
/// DynamoDB is failing, when the call ends with that error instead). See `Rounds` for what 50
/// creates at once on one document take.
pub const ROUNDS_BUDGET: Duration = Duration::from_millis(8_000);

/// The pace of a call's rounds: the n-th lost round waits a pause drawn at random (full jitter)
/// below the time the round's own calls took × 2^(n+1) (at least 2 ms, at most 1 s), until
/// [`ROUNDS_BUDGET`] is spent. Scaled by the calls' own time, the pauses keep in step with how fast
/// the document's writers can commit, however loaded DynamoDB is: with 50 creates at once on one
/// document (DynamoDB Local, a 2-core machine with a load average of 16) this took 2.7 to 4
/// transactions per create and 2.7 to 3.3 s in all, where fixed pauses (10 ms × 2^n, at most
/// 640 ms) took 7 to 8 and 5.8 to 9.2 s. The store reads again after the pause: what it learned
/// before it would be stale by then.
pub(crate) struct Rounds {
    started: Instant,
    round_started: Instant,
    round: u32,
}

impl Rounds {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            round_started: now,
            round: 0,
        }
    }

    /// Waits before the next round, or gives up with `503` when the budget is spent.
    pub(crate) async fn next(&mut self, op: &str) -> Result<(), StoreError> {
        if self.started.elapsed() >= ROUNDS_BUDGET {
            return Err(StoreError::Unavailable(format!(
                "{op}: the document kept changing for {} s ({} rounds); try again",
                ROUNDS_BUDGET.as_secs(),
                self.round
            )));
        }
        self.round += 1;
        let calls = self.round_started.elapsed();
        let ceiling = (calls * (2u32 << self.round.min(9)))
            .clamp(Duration::from_millis(2), Duration::from_secs(1));
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        let micros = random % (ceiling.as_micros() as u64).max(1);
        tokio::time::sleep(Duration::from_micros(micros)).await;
        self.round_started = Instant::now();
        Ok(())
    }
}
