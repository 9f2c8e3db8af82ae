//! Time, injectable so that rules that depend on it (expiry, month rollover, prune) can be tested.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time in epoch milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// The current time, epoch milliseconds.
    fn now_ms(&self) -> f64;
}

/// The clock handlers hold.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        since_epoch.as_millis() as f64
    }
}

/// A clock that stands still until it is told to move; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn at(ms: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(ms)))
    }

    /// Moves the clock to `ms`.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.0.load(Ordering::SeqCst) as f64
    }
}

/// Formats epoch milliseconds as JavaScript's `Date.prototype.toISOString` does:
/// `2026-11-21T23:14:50.123Z`. Values before 1970 are clamped to the epoch.
pub fn iso8601(ms: f64) -> String {
    let ms = if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    };
    let time = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// The current time as an ISO-8601 string (see [`iso8601`]).
pub fn now_iso8601() -> String {
    iso8601(SystemClock.now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_javascript_to_iso_string() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_763_766_890_123.0), "2025-11-21T23:14:50.123Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now_ms(), 1_000.0);
        clock.advance(500);
        assert_eq!(clock.now_ms(), 1_500.0);
        clock.set(7);
        assert_eq!(clock.now_ms(), 7.0);
    }
}
