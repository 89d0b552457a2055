//! Numbers as Terraform users expect them: integers stay exact (64-bit, so far
//! beyond 2^53) and print without `.0`; anything else is a 64-bit float.
//!
//! Invariant: an integral result that fits in `i64` is always an `Int`, so equal
//! numbers have one representation and `==` means numeric equality.

use std::cmp::Ordering;
use std::fmt;

/// A number value.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    /// An exact integer.
    Int(i64),
    /// A non-integral (or out-of-range) number. Never NaN or infinite.
    Float(f64),
}

/// Integers with magnitude up to 2^63 convert exactly from floats below this.
const I64_EXACT_LIMIT: f64 = 9_223_372_036_854_775_808.0;

impl Number {
    /// Normalises a float: integral values in range become `Int`. Returns `None`
    /// for NaN and infinities (the language has neither).
    pub fn from_f64(value: f64) -> Option<Number> {
        if !value.is_finite() {
            return None;
        }
        if value.fract() == 0.0 && value.abs() < I64_EXACT_LIMIT {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "integral and in range, checked above"
            )]
            return Some(Number::Int(value as i64));
        }
        Some(Number::Float(value))
    }

    /// Parses a literal as written in source: `42`, `-3`, `1.5`, `1e3`, `2.5E-2`.
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(int) = text.parse::<i64>() {
            return Some(Number::Int(int));
        }
        let float: f64 = text.parse().ok()?;
        Number::from_f64(float)
    }

    /// The value as a float (may round very large integers).
    pub fn as_f64(self) -> f64 {
        match self {
            #[expect(clippy::cast_precision_loss, reason = "a float view is wanted here")]
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The value as an integer, when it is one.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    /// Whether the number is integral.
    pub fn is_integer(self) -> bool {
        matches!(self, Number::Int(_))
    }

    /// `self + other`; `None` when the result is not finite.
    pub fn checked_add(self, other: Number) -> Option<Number> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_add(b) {
                Some(sum) => Some(Number::Int(sum)),
                None => Number::from_f64(self.as_f64() + other.as_f64()),
            },
            _ => Number::from_f64(self.as_f64() + other.as_f64()),
        }
    }

    /// `self - other`.
    pub fn checked_sub(self, other: Number) -> Option<Number> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_sub(b) {
                Some(diff) => Some(Number::Int(diff)),
                None => Number::from_f64(self.as_f64() - other.as_f64()),
            },
            _ => Number::from_f64(self.as_f64() - other.as_f64()),
        }
    }

    /// `self * other`.
    pub fn checked_mul(self, other: Number) -> Option<Number> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => match a.checked_mul(b) {
                Some(product) => Some(Number::Int(product)),
                None => Number::from_f64(self.as_f64() * other.as_f64()),
            },
            _ => Number::from_f64(self.as_f64() * other.as_f64()),
        }
    }

    /// `self / other`; `None` on division by zero.
    pub fn checked_div(self, other: Number) -> Option<Number> {
        if other.as_f64() == 0.0 {
            return None;
        }
        match (self, other) {
            (Number::Int(a), Number::Int(b)) if b != 0 && a.checked_rem(b) == Some(0) => {
                a.checked_div(b).map(Number::Int)
            }
            _ => Number::from_f64(self.as_f64() / other.as_f64()),
        }
    }

    /// `self % other` (sign follows the dividend, as in Terraform); `None` on zero.
    pub fn checked_rem(self, other: Number) -> Option<Number> {
        if other.as_f64() == 0.0 {
            return None;
        }
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.checked_rem(b).map(Number::Int),
            _ => Number::from_f64(self.as_f64() % other.as_f64()),
        }
    }

    /// `-self`.
    pub fn checked_neg(self) -> Option<Number> {
        match self {
            Number::Int(i) => match i.checked_neg() {
                Some(n) => Some(Number::Int(n)),
                None => Number::from_f64(-self.as_f64()),
            },
            Number::Float(f) => Number::from_f64(-f),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            _ => self.as_f64().total_cmp(&other.as_f64()),
        }
    }
}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Number::Int(i) => i.hash(state),
            Number::Float(f) => f.to_bits().hash(state),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            // Rust's shortest round-trip representation; never prints `.0`
            // because integral floats in range are `Int`.
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Number::Int(value)
    }
}

#[cfg(test)]
mod tests {
    use super::Number;

    #[test]
    fn integers_print_without_fraction_and_stay_exact() {
        let big = Number::parse("9007199254740993").map(|n| n.to_string());
        assert_eq!(big.as_deref(), Some("9007199254740993"));
        let sum = Number::Int(1 << 53)
            .checked_add(Number::Int(1))
            .map(|n| n.to_string());
        assert_eq!(sum.as_deref(), Some("9007199254740993"));
        assert_eq!(
            Number::parse("1e3").map(|n| n.to_string()).as_deref(),
            Some("1000")
        );
        assert_eq!(
            Number::parse("2.50").map(|n| n.to_string()).as_deref(),
            Some("2.5")
        );
    }

    #[test]
    fn division_is_exact_when_it_can_be() {
        assert_eq!(
            Number::Int(6).checked_div(Number::Int(3)),
            Some(Number::Int(2))
        );
        assert_eq!(
            Number::Int(7).checked_div(Number::Int(2)),
            Some(Number::Float(3.5))
        );
        assert_eq!(Number::Int(7).checked_div(Number::Int(0)), None);
        assert_eq!(
            Number::Int(-7).checked_rem(Number::Int(3)),
            Some(Number::Int(-1))
        );
    }

    #[test]
    fn mixed_comparisons_are_numeric() {
        assert_eq!(Number::Int(2), Number::Float(2.0));
        assert!(Number::Int(2) < Number::Float(2.5));
    }
}
