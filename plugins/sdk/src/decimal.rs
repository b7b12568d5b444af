//! Exact arithmetic on [`Decimal`] (the ABI's number type): what a handler needs to turn levels
//! into derived values (spreads, mids, sums) without ever going through a float.

use std::fmt;

use crate::abi::Decimal;

/// Largest scale a [`Decimal`] may carry.
pub const MAX_SCALE: u8 = 18;

const fn pow10(n: u8) -> u128 {
    let mut v = 1u128;
    let mut i = 0;
    while i < n {
        v *= 10;
        i += 1;
    }
    v
}

impl Decimal {
    /// `mantissa / 10^scale`; `None` when `scale` exceeds [`MAX_SCALE`].
    pub const fn new(mantissa: u128, scale: u8) -> Option<Decimal> {
        if scale > MAX_SCALE {
            return None;
        }
        Some(Decimal {
            lo: mantissa as u64,
            hi: (mantissa >> 64) as u64,
            scale,
            _pad: [0; 7],
        })
    }

    /// Parses plain decimal text (`45283.5`, `0.10000000`), keeping its digits as its scale.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scale = u8::try_from(frac.len()).ok()?;
        let mut m: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
        }
        Decimal::new(m, scale)
    }

    /// The integer mantissa.
    pub const fn mantissa(&self) -> u128 {
        (self.hi as u128) << 64 | self.lo as u128
    }

    /// Fractional digits.
    pub const fn scale(&self) -> u8 {
        self.scale
    }

    /// True when zero.
    pub const fn is_zero(&self) -> bool {
        self.lo == 0 && self.hi == 0
    }

    /// The same value with `scale` fractional digits, if that keeps every digit and fits.
    pub fn rescale(&self, scale: u8) -> Option<Decimal> {
        if scale > MAX_SCALE {
            return None;
        }
        let m = self.mantissa();
        let m = if scale >= self.scale {
            m.checked_mul(pow10(scale - self.scale))?
        } else {
            let div = pow10(self.scale - scale);
            if m % div != 0 {
                return None;
            }
            m / div
        };
        Decimal::new(m, scale)
    }

    /// Both values at the larger of their scales.
    fn aligned(a: &Decimal, b: &Decimal) -> Option<(u128, u128, u8)> {
        let s = a.scale.max(b.scale);
        Some((a.rescale(s)?.mantissa(), b.rescale(s)?.mantissa(), s))
    }

    /// `self + other`, exact, at the larger scale; `None` on overflow.
    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::aligned(self, other)?;
        Decimal::new(a.checked_add(b)?, s)
    }

    /// `self - other`, exact, at the larger scale; `None` when negative or on overflow.
    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        let (a, b, s) = Decimal::aligned(self, other)?;
        Decimal::new(a.checked_sub(b)?, s)
    }

    /// `self / 2`, exact: one more fractional digit (`45283.5` → `22641.75`).
    pub fn half(&self) -> Option<Decimal> {
        Decimal::new(self.mantissa().checked_mul(5)?, self.scale.checked_add(1)?)
    }

    /// Compares values (not representations): `1.50` equals `1.5`.
    pub fn cmp_value(&self, other: &Decimal) -> std::cmp::Ordering {
        match Decimal::aligned(self, other) {
            Some((a, b, _)) => a.cmp(&b),
            // Only overflows past 10^38: the larger mantissa at the smaller scale is larger.
            None => {
                (self.mantissa() / pow10(self.scale)).cmp(&(other.mantissa() / pow10(other.scale)))
            }
        }
    }
}

impl fmt::Display for Decimal {
    /// Exactly `scale` fractional digits: `0.10000000`, `45283.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.mantissa();
        if self.scale == 0 {
            return write!(f, "{m}");
        }
        let unit = pow10(self.scale);
        write!(
            f,
            "{}.{:0width$}",
            m / unit,
            m % unit,
            width = usize::from(self.scale)
        )
    }
}

impl serde::Serialize for Decimal {
    /// As a JSON string with the exact digits (JSON numbers would invite floats).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u128, s: u8) -> Decimal {
        Decimal::new(m, s).unwrap()
    }

    #[test]
    fn exact_text_and_arithmetic() {
        assert_eq!(d(452835, 1).to_string(), "45283.5");
        assert_eq!(d(10_000_000, 8).to_string(), "0.10000000");
        assert_eq!(d(7, 0).to_string(), "7");
        let spread = d(452852, 1).checked_sub(&d(452835, 1)).unwrap();
        assert_eq!(spread.to_string(), "1.7");
        let mid = d(452835, 1)
            .checked_add(&d(452852, 1))
            .unwrap()
            .half()
            .unwrap();
        assert_eq!(mid.to_string(), "45284.35");
        assert_eq!(d(1, 0).checked_sub(&d(2, 0)), None);
        assert_eq!(d(15, 1).cmp_value(&d(150, 2)), std::cmp::Ordering::Equal);
        assert_eq!(Decimal::parse("0.10000000"), Some(d(10_000_000, 8)));
        assert_eq!(Decimal::parse("1e5"), None);
        assert_eq!(d(u128::MAX, 0).to_string(), u128::MAX.to_string());
    }
}
