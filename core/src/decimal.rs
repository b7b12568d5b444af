//! [`Decimal`]: an exact, non-negative fixed-point number (integer mantissa and decimal scale).
//!
//! Every price and quantity on the book path is one of these, parsed straight from the JSON
//! number token's text. There is no `f64` anywhere between the wire and the record.

use std::fmt;

/// `mantissa / 10^scale`, exact. Non-negative: Kraken book prices and quantities never are.
///
/// Equality is by value at the same scale; use [`Decimal::rescale`] to compare across scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    mantissa: u128,
    scale: u8,
}

/// Why a number token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not a non-negative decimal number.
    #[error("{text:?} is not a non-negative decimal number")]
    Syntax {
        /// The offending text (truncated to 64 characters).
        text: String,
    },
    /// More fractional digits than allowed, or than the target precision keeps.
    #[error("{text:?} has more significant fractional digits than precision {scale}")]
    TooPrecise {
        /// The offending text.
        text: String,
        /// The precision it had to fit.
        scale: u8,
    },
    /// The value does not fit the mantissa at that scale.
    #[error("{text:?} is too large at precision {scale}")]
    Overflow {
        /// The offending text.
        text: String,
        /// The precision it had to fit.
        scale: u8,
    },
}

impl Decimal {
    /// Largest supported scale (fractional digits).
    pub const MAX_SCALE: u8 = 18;

    /// Zero at scale 0.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa / 10^scale`; `None` if `scale` exceeds [`Decimal::MAX_SCALE`].
    pub const fn new(mantissa: u128, scale: u8) -> Option<Self> {
        if scale > Self::MAX_SCALE {
            None
        } else {
            Some(Self { mantissa, scale })
        }
    }

    /// The integer mantissa.
    pub const fn mantissa(&self) -> u128 {
        self.mantissa
    }

    /// The number of fractional digits.
    pub const fn scale(&self) -> u8 {
        self.scale
    }

    /// True when the value is zero (a delete, for a quantity).
    pub const fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Parses a JSON number token's text (`45283.5`, `0.10000000`, `5.325e-05`, `0E-8`), keeping
    /// exactly the fractional digits it carries (after applying any exponent).
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        parse(text.as_bytes()).ok_or_else(|| classify(text))
    }

    /// Parses `text` and brings it to exactly `scale` fractional digits; trailing zeros may be
    /// dropped, significant digits never.
    pub fn parse_at(text: &str, scale: u8) -> Result<Self, DecimalError> {
        Self::parse(text)?
            .rescale(scale)
            .ok_or_else(|| rescale_error(text, scale))
    }

    /// The same value at `scale` fractional digits, or `None` if that would drop a non-zero
    /// digit, overflow, or exceed [`Decimal::MAX_SCALE`].
    pub fn rescale(&self, scale: u8) -> Option<Self> {
        if scale > Self::MAX_SCALE {
            return None;
        }
        let mantissa = if scale >= self.scale {
            self.mantissa
                .checked_mul(POW10[usize::from(scale - self.scale)])?
        } else {
            let div = POW10[usize::from(self.scale - scale)];
            if self.mantissa % div != 0 {
                return None;
            }
            self.mantissa / div
        };
        Some(Self { mantissa, scale })
    }

    /// Appends the decimal text with exactly `scale` fractional digits (`0.10000000`).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 40];
        let mut n = self.mantissa;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            n /= 10;
            len += 1;
            if n == 0 {
                break;
            }
        }
        let scale = usize::from(self.scale);
        while len <= scale {
            digits[len] = b'0';
            len += 1;
        }
        for i in (scale..len).rev() {
            out.push(digits[i]);
        }
        if scale > 0 {
            out.push(b'.');
            for i in (0..scale).rev() {
                out.push(digits[i]);
            }
        }
    }
}

/// Powers of ten up to 10^38 (the largest that fits `u128`).
pub(crate) const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn parse(b: &[u8]) -> Option<Decimal> {
    let mut i = 0;
    let mut mantissa: u128 = 0;
    let mut int_digits = 0usize;
    while i < b.len() && b[i].is_ascii_digit() {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(u128::from(b[i] - b'0'))?;
        i += 1;
        int_digits += 1;
    }
    let mut frac: i64 = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(u128::from(b[i] - b'0'))?;
            i += 1;
        }
        frac = (i - start) as i64;
        if frac == 0 {
            return None;
        }
    }
    if int_digits == 0 {
        return None;
    }
    let mut exp: i64 = 0;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        let neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            exp = exp.checked_mul(10)?.checked_add(i64::from(b[i] - b'0'))?;
            if exp > 100 {
                return None;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        if neg {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    let mut scale = frac - exp;
    if scale < 0 {
        mantissa = mantissa.checked_mul(*POW10.get(usize::try_from(-scale).ok()?)?)?;
        scale = 0;
    }
    // Exponent forms may carry more digits than needed (`1.50e-7`); drop only zeros.
    while scale > i64::from(Decimal::MAX_SCALE) && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::new(mantissa, u8::try_from(scale).ok()?)
}

fn classify(text: &str) -> DecimalError {
    let short: String = text.chars().take(64).collect();
    let looks_numeric = !text.is_empty()
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.as_bytes()[0].is_ascii_digit();
    if looks_numeric && text.contains('.') && !text.contains(['e', 'E']) {
        let frac = text.split('.').nth(1).map_or(0, str::len);
        if frac > usize::from(Decimal::MAX_SCALE) {
            return DecimalError::TooPrecise {
                text: short,
                scale: Decimal::MAX_SCALE,
            };
        }
    }
    if looks_numeric && text.len() > 30 {
        return DecimalError::Overflow {
            text: short,
            scale: 0,
        };
    }
    DecimalError::Syntax { text: short }
}

fn rescale_error(text: &str, scale: u8) -> DecimalError {
    let short: String = text.chars().take(64).collect();
    match Decimal::parse(text) {
        Ok(d) if d.scale > scale => DecimalError::TooPrecise { text: short, scale },
        _ => DecimalError::Overflow { text: short, scale },
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(24);
        self.write_to(&mut out);
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> (u128, u8) {
        let v = Decimal::parse(text).unwrap();
        (v.mantissa(), v.scale())
    }

    #[test]
    fn parses_plain_and_exponent_tokens_exactly() {
        assert_eq!(d("45283.5"), (452835, 1));
        assert_eq!(d("0.10000000"), (10000000, 8));
        assert_eq!(d("0.0286"), (286, 4));
        assert_eq!(d("5.325e-05"), (5325, 8));
        assert_eq!(d("1e-08"), (1, 8));
        assert_eq!(d("0E-8"), (0, 8));
        assert_eq!(d("1.5E2"), (150, 0));
        assert_eq!(d("4"), (4, 0));
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        for bad in [
            "", "-1", "1.", ".5", "1e", "abc", "1.2.3", "NaN", "1e-", " 1",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rescale_is_exact_or_refused() {
        assert_eq!(
            Decimal::parse_at("0.1", 8).unwrap().to_string(),
            "0.10000000"
        );
        assert_eq!(
            Decimal::parse_at("5.325e-05", 8).unwrap().to_string(),
            "0.00005325"
        );
        assert_eq!(
            Decimal::parse_at("45281.0", 1).unwrap().to_string(),
            "45281.0"
        );
        assert_eq!(Decimal::parse_at("4.10", 1).unwrap().to_string(), "4.1");
        assert!(matches!(
            Decimal::parse_at("0.123", 2),
            Err(DecimalError::TooPrecise { .. })
        ));
    }

    #[test]
    fn quantities_up_to_1e12_at_8_decimals_fit() {
        let q = Decimal::parse_at("999999999999.99999999", 8).unwrap();
        assert_eq!(q.to_string(), "999999999999.99999999");
        assert_eq!(
            Decimal::parse_at("1000000000000", 8).unwrap().mantissa(),
            100_000_000_000_000_000_000
        );
    }
}
