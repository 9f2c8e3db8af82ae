//! ISO-8601 timestamps given by callers (`completedAt`, `startedAt`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// An ISO-8601 date-time as a caller sent it, kept verbatim (a `lastRunAt` reads back exactly as
/// the `completedAt` that set it).
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second, then `Z` or an offset
/// `±HH:MM`, e.g. JavaScript's `toISOString()` (`2025-11-21T23:14:50.123Z`). Anything else is a
/// `400` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Checks `text`.
    pub fn parse(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        epoch_ms(&text)
            .map(|_| Timestamp(text))
            .ok_or_else(|| "expected an ISO-8601 date-time such as 2025-01-31T12:00:00.000Z".into())
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instant, epoch milliseconds (fractions of a millisecond dropped).
    pub fn epoch_ms(&self) -> i64 {
        epoch_ms(&self.0).expect("a Timestamp was checked when it was made")
    }

    /// The instant in UTC, in `toISOString` form: timestamps with different offsets order by time
    /// when compared as these strings.
    pub fn utc(&self) -> String {
        shared::clock::iso8601(self.epoch_ms() as f64)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Timestamp::parse(String::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// Epoch milliseconds of a date-time in the accepted form, or `None`.
fn epoch_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if sep(at, b'.') {
        let fraction = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if fraction == 0 {
            return None;
        }
        let first_three = digits(at + 1, fraction.min(3))?;
        millis = first_three * 10i64.pow(3 - fraction.min(3) as u32);
        at += 1 + fraction;
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<i64> {
        Timestamp::parse(text).ok().map(|t| t.epoch_ms())
    }

    #[test]
    fn javascript_iso_strings_read_as_their_instant() {
        assert_eq!(ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(ms("2025-11-21T23:14:50.123Z"), Some(1_763_766_890_123));
        assert_eq!(ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(ms("2025-11-21T23:14:50.1234567Z"), Some(1_763_766_890_123));
        assert_eq!(ms("2025-11-21T23:14:50.5Z"), Some(1_763_766_890_500));
    }

    #[test]
    fn offsets_are_turned_into_utc() {
        let local = Timestamp::parse("2025-11-22T01:14:50.123+02:00").unwrap();
        assert_eq!(local.epoch_ms(), 1_763_766_890_123);
        assert_eq!(local.utc(), "2025-11-21T23:14:50.123Z");
        assert_eq!(local.as_str(), "2025-11-22T01:14:50.123+02:00");
        assert_eq!(ms("2025-11-21T20:14:50.123-03:00"), Some(1_763_766_890_123));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "yesterday",
            "2025-11-21",
            "2025-11-21T23:14:50",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-11-21T24:00:00Z",
            "2025-11-21T23:14:50.Z",
            "2025-11-21T23:14:50.123+0200",
            "2025-11-21T23:14:50.123Zjunk",
            "2025-11-21 23:14:50Z",
            "+2025-11-21T23:14:50Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?}");
        }
    }
}
