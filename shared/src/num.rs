//! JSON numbers as the contract carries them: float64, written without a fractional part when whole.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Largest integer a float64 holds exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JSON number (float64).
///
/// It serializes whole values as integers (`1700000000000`, not `1700000000000.0`), as JavaScript's
/// `JSON.stringify` does, so responses read exactly as the Convex backend's did.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Num(pub f64);

impl Num {
    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }

    /// True when the value is a whole number that a float64 holds exactly.
    pub fn is_safe_integer(self) -> bool {
        self.0.fract() == 0.0 && self.0.abs() <= MAX_SAFE_INTEGER
    }

    /// The number's text for DynamoDB's `N` type: the shortest form that reads back as the same float64.
    pub fn to_dynamo(self) -> String {
        self.to_string()
    }
}

impl From<f64> for Num {
    fn from(value: f64) -> Self {
        Num(value)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_safe_integer() {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_safe_integer() {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

/// Numbers at or beyond this magnitude are refused: DynamoDB stores at most 38 significant digits
/// and the service writes numbers in plain decimal form.
pub const MAX_MAGNITUDE: f64 = 1e38;
/// Non-zero numbers below this magnitude are refused (DynamoDB's smallest is 1e-130).
pub const MIN_MAGNITUDE: f64 = 1e-120;

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        let magnitude = value.abs();
        // `NaN` fails every comparison, so it is refused by name (JSON cannot carry it, but the
        // function protocol can: see `crate::args`).
        if value.is_nan()
            || magnitude >= MAX_MAGNITUDE
            || (magnitude != 0.0 && magnitude < MIN_MAGNITUDE)
        {
            return Err(serde::de::Error::custom(
                "must be a number between -1e38 and 1e38 (the range the database stores)",
            ));
        }
        Ok(Num(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_serialize_without_a_fraction_and_others_keep_it() {
        assert_eq!(
            serde_json::to_string(&Num(1_700_000_000_000.0)).unwrap(),
            "1700000000000"
        );
        assert_eq!(serde_json::to_string(&Num(-3.0)).unwrap(), "-3");
        assert_eq!(serde_json::to_string(&Num(2.5)).unwrap(), "2.5");
        assert_eq!(serde_json::to_string(&Num(1e300)).unwrap(), "1e+300");
    }

    #[test]
    fn numbers_the_database_cannot_store_are_refused() {
        assert!(serde_json::from_str::<Num>("1e38").is_err());
        assert!(serde_json::from_str::<Num>("-1e40").is_err());
        assert!(serde_json::from_str::<Num>("1e-200").is_err());
        assert_eq!(serde_json::from_str::<Num>("9.9e37").unwrap(), Num(9.9e37));
        assert_eq!(serde_json::from_str::<Num>("0").unwrap(), Num(0.0));
        assert_eq!(serde_json::from_str::<Num>("-0.5").unwrap(), Num(-0.5));
        use serde::de::IntoDeserializer;
        for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let de: serde::de::value::F64Deserializer<serde_json::Error> =
                special.into_deserializer();
            assert!(Num::deserialize(de).is_err(), "{special}");
        }
    }

    #[test]
    fn dynamo_text_reads_back_as_the_same_float() {
        for v in [0.0, 1.5, 1_700_000_000_000.0, 1e300, -0.25, 0.1 + 0.2] {
            let text = Num(v).to_dynamo();
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
        }
    }
}
