//! The account group's domain types and rules, parsed at the edge.

use serde::{Deserialize, Serialize};
use shared::parse::not_null;
use shared::{Key, Num};

/// The tier of a new account.
pub const DEFAULT_PLAN_TIER: &str = "free";

/// The billing status of a new account.
pub const DEFAULT_BILLING_STATUS: &str = "free";

/// Monthly token allowance of each named tier (CONTRACT.md §5).
pub const ALLOWANCES: [(&str, f64); 4] = [
    ("free", 50_000.0),
    ("starter", 200_000.0),
    ("pro", 500_000.0),
    ("enterprise", 2_000_000.0),
];

/// Monthly token allowance of any tier not in [`ALLOWANCES`].
pub const OTHER_TIER_ALLOWANCE: f64 = 200_000.0;

/// The monthly token allowance of `tier`.
pub fn allowance(tier: &str) -> f64 {
    ALLOWANCES
        .iter()
        .find(|(name, _)| *name == tier)
        .map_or(OTHER_TIER_ALLOWANCE, |(_, allowance)| *allowance)
}

/// A stored account (CONTRACT.md §5, `Account`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Account {
    /// The user; the key.
    pub user_id: Key,
    /// Plan tier (`free`, `starter`, `pro`, `enterprise` or any other name).
    pub plan_tier: String,
    /// Billing status.
    pub billing_status: String,
    /// End of a premium period, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premium_expires_at: Option<Num>,
    /// Polar customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_customer_id: Option<String>,
    /// Polar subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_subscription_id: Option<String>,
    /// Polar plan id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_plan_id: Option<String>,
    /// End of the current Polar billing period, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_current_period_end: Option<Num>,
    /// Id of the last Polar webhook event applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_last_event_id: Option<String>,
    /// Polar benefits granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polar_benefits: Option<Vec<Benefit>>,
    /// Token usage of the month.
    pub usage: Usage,
}

impl Account {
    /// The account `getOrCreate` creates: free tier, no usage, nothing else.
    pub fn new_default(user_id: Key, now: Num) -> Self {
        Self {
            user_id,
            plan_tier: DEFAULT_PLAN_TIER.into(),
            billing_status: DEFAULT_BILLING_STATUS.into(),
            premium_expires_at: None,
            polar_customer_id: None,
            polar_subscription_id: None,
            polar_plan_id: None,
            polar_current_period_end: None,
            polar_last_event_id: None,
            polar_benefits: None,
            usage: Usage {
                month_tokens_used: Num(0.0),
                monthly_allowance: Num(allowance(DEFAULT_PLAN_TIER)),
                last_updated: now,
            },
        }
    }
}

/// Reads a stored usage counter: any number. Each `recordUsage` amount is within [`Num`]'s range,
/// but their sum can pass it (`9e37 + 9e37`), and a stored counter must always read back: refusing
/// it would make every later call on the account a `500`.
fn stored_counter<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Num, D::Error> {
    f64::deserialize(deserializer).map(Num)
}

/// The usage part of an [`Account`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Usage {
    /// Tokens used (or reserved) this month.
    #[serde(deserialize_with = "stored_counter")]
    pub month_tokens_used: Num,
    /// The tier's monthly allowance.
    pub monthly_allowance: Num,
    /// Last change of the usage, ms.
    pub last_updated: Num,
}

/// A Polar benefit: `{ id, name? }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benefit {
    /// Benefit id.
    pub id: String,
    /// Benefit name.
    #[serde(
        default,
        deserialize_with = "not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

/// The payload of `/account/update`: an upsert by `userId`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountUpdate {
    /// The user.
    pub user_id: Key,
    /// Overwritten.
    pub plan_tier: String,
    /// Overwritten.
    pub billing_status: String,
    /// Overwritten when given, removed when omitted (not nullable).
    #[serde(default, deserialize_with = "not_null")]
    pub premium_expires_at: Option<Num>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_customer_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_subscription_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_plan_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_current_period_end: Option<Num>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_last_event_id: Option<String>,
    /// Overwritten when given; kept when `null` or omitted.
    #[serde(default)]
    pub polar_benefits: Option<Vec<Benefit>>,
}

impl AccountUpdate {
    /// An update setting only the required fields.
    pub fn new(user_id: &str, plan_tier: &str, billing_status: &str) -> Self {
        Self {
            user_id: Key::parse(user_id).expect("a valid user id"),
            plan_tier: plan_tier.into(),
            billing_status: billing_status.into(),
            premium_expires_at: None,
            polar_customer_id: None,
            polar_subscription_id: None,
            polar_plan_id: None,
            polar_current_period_end: None,
            polar_last_event_id: None,
            polar_benefits: None,
        }
    }

    /// `account` with this update applied at `now` (`account` is `None` for a new one).
    pub(crate) fn apply(self, account: Option<Account>, now: Num) -> Account {
        let (used, old) = match account {
            Some(a) => (a.usage.month_tokens_used, Some(a)),
            None => (Num(0.0), None),
        };
        let keep = |given: Option<String>, stored: Option<&String>| given.or(stored.cloned());
        let old = old.as_ref();
        Account {
            polar_customer_id: keep(
                self.polar_customer_id,
                old.and_then(|a| a.polar_customer_id.as_ref()),
            ),
            polar_subscription_id: keep(
                self.polar_subscription_id,
                old.and_then(|a| a.polar_subscription_id.as_ref()),
            ),
            polar_plan_id: keep(
                self.polar_plan_id,
                old.and_then(|a| a.polar_plan_id.as_ref()),
            ),
            polar_last_event_id: keep(
                self.polar_last_event_id,
                old.and_then(|a| a.polar_last_event_id.as_ref()),
            ),
            polar_current_period_end: self
                .polar_current_period_end
                .or(old.and_then(|a| a.polar_current_period_end)),
            polar_benefits: self
                .polar_benefits
                .or_else(|| old.and_then(|a| a.polar_benefits.clone())),
            premium_expires_at: self.premium_expires_at,
            usage: Usage {
                month_tokens_used: used,
                monthly_allowance: Num(allowance(&self.plan_tier)),
                last_updated: now,
            },
            user_id: self.user_id,
            plan_tier: self.plan_tier,
            billing_status: self.billing_status,
        }
    }
}

/// A number of tokens to reserve: a non-negative safe integer.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Tokens(f64);

impl Tokens {
    /// `value` if it is a non-negative safe integer.
    pub fn parse(value: f64) -> Option<Self> {
        (Num(value).is_safe_integer() && value >= 0.0).then_some(Self(value.abs()))
    }

    /// The count.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A UTC calendar month, as `[start, end)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Month {
    /// First millisecond of the month.
    pub start: f64,
    /// First millisecond of the next month.
    pub end: f64,
}

const DAY_MS: f64 = 86_400_000.0;

impl Month {
    /// The UTC month holding the instant `ms`.
    pub fn of(ms: Num) -> Self {
        let day = (ms.get() / DAY_MS).floor() as i64;
        let (year, month) = year_month_of_day(day);
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        Self {
            start: day_of_month_start(year, month) as f64 * DAY_MS,
            end: day_of_month_start(next_year, next_month) as f64 * DAY_MS,
        }
    }

    /// True when `ms` falls in this month.
    pub fn contains(self, ms: Num) -> bool {
        self.start <= ms.get() && ms.get() < self.end
    }
}

/// Year and month (1–12) of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn year_month_of_day(day: i64) -> (i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// The day (counted from 1970-01-01) of the first of `month` in `year` (`days_from_civil`).
fn day_of_month_start(year: i64, month: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Tokens already used this month by `account`: 0 when its usage is from another month.
pub(crate) fn used_this_month(usage: &Usage, month: Month) -> f64 {
    if month.contains(usage.last_updated) {
        usage.month_tokens_used.get()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::num::MAX_SAFE_INTEGER;

    const DAY: f64 = 86_400_000.0;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2024-02-10T12:00:00Z, in a leap year.
        let feb = Month::of(Num(1_707_566_400_000.0));
        assert_eq!(feb.start, 1_706_745_600_000.0, "2024-02-01T00:00:00Z");
        assert_eq!(feb.end, feb.start + 29.0 * DAY, "2024-03-01T00:00:00Z");
        // 2025-12-31T23:59:59.999Z rolls into 2026-01-01.
        let december = Month::of(Num(1_767_225_599_999.0));
        assert_eq!(december.start, 1_764_547_200_000.0, "2025-12-01T00:00:00Z");
        assert_eq!(december.end, 1_767_225_600_000.0, "2026-01-01T00:00:00Z");
        assert!(december.contains(Num(1_767_225_599_999.0)));
        assert!(!december.contains(Num(1_767_225_600_000.0)));
        assert_eq!(Month::of(Num(december.end)).start, december.end);
        let epoch = Month::of(Num(0.0));
        assert_eq!((epoch.start, epoch.end), (0.0, 31.0 * DAY));
        let before = Month::of(Num(-1.0));
        assert_eq!((before.start, before.end), (-31.0 * DAY, 0.0), "1969-12");
    }

    #[test]
    fn every_day_of_four_centuries_is_in_its_own_month() {
        let mut day = day_of_month_start(1900, 1);
        for year in 1900..2300 {
            for month in 1..=12 {
                assert_eq!(day_of_month_start(year, month), day, "{year}-{month}");
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                while day < day_of_month_start(next_year, next_month) {
                    assert_eq!(year_month_of_day(day), (year, month));
                    day += 1;
                }
            }
        }
    }

    #[test]
    fn the_allowance_table_gives_200000_to_unknown_tiers() {
        assert_eq!(allowance("free"), 50_000.0);
        assert_eq!(allowance("starter"), 200_000.0);
        assert_eq!(allowance("pro"), 500_000.0);
        assert_eq!(allowance("enterprise"), 2_000_000.0);
        assert_eq!(allowance("Pro"), 200_000.0);
        assert_eq!(allowance(""), 200_000.0);
    }

    #[test]
    fn only_non_negative_safe_integers_are_token_counts() {
        assert_eq!(Tokens::parse(0.0).map(Tokens::get), Some(0.0));
        assert_eq!(Tokens::parse(-0.0).map(Tokens::get), Some(0.0));
        assert_eq!(
            Tokens::parse(MAX_SAFE_INTEGER).map(Tokens::get),
            Some(MAX_SAFE_INTEGER)
        );
        for refused in [-1.0, 1.5, MAX_SAFE_INTEGER + 1.0, 1e300] {
            assert_eq!(Tokens::parse(refused), None, "{refused}");
        }
    }
}
