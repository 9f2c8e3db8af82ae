//! The pace of the rounds a call loses to concurrent writers of the same document.
//!
//! Every write is one transaction (`shared::dynamo::transact`, with an explicit
//! `ClientRequestToken`): a transaction the SDK repeats after a lost or late answer is answered as
//! the first and not applied again. A cancelled one (a condition failed, or another transaction
//! was writing the same items) applied nothing, so the store builds a new one from a fresh read and
//! sends it, with a new token, after a pause. Any other error ends the call with that error: the
//! transaction may have been applied, so it is never sent again under another token.

use shared::StoreError;
use std::time::{Duration, Instant};

/// Time a call may spend on rounds lost to concurrent writers before it answers `503` (no pause
/// ends past it): inside the functions' 10 s timeout, with room for the last round's own calls
/// (milliseconds, unless DynamoDB is failing, when the call ends with that error instead). See
/// `Rounds` for what 50 creates at once on one document take.
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

    /// Waits before the next round, or gives up with `503` when the pause would end past the
    /// budget (so a call ends within the budget and one more round).
    pub(crate) async fn next(&mut self, op: &str) -> Result<(), StoreError> {
        let calls = self.round_started.elapsed();
        let ceiling = (calls * (2u32 << self.round.min(9)))
            .clamp(Duration::from_millis(2), Duration::from_secs(1));
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        let pause = Duration::from_micros(random % (ceiling.as_micros() as u64).max(1));
        if self.started.elapsed() + pause >= ROUNDS_BUDGET {
            return Err(StoreError::Unavailable(format!(
                "{op}: the document kept changing for {} s ({} rounds); try again",
                ROUNDS_BUDGET.as_secs(),
                self.round + 1
            )));
        }
        self.round += 1;
        tokio::time::sleep(pause).await;
        self.round_started = Instant::now();
        Ok(())
    }
}
