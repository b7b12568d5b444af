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
    /// exactly the fractional digits it carries after applying any exponent (trailing zeros
    /// beyond [`Decimal::MAX_SCALE`] are dropped; significant digits there are an error).
    #[inline]
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        parse_bytes(text.as_bytes()).map_err(|f| error(text, f))
    }

    /// Parses `text` and brings it to exactly `scale` fractional digits; trailing zeros may be
    /// dropped, significant digits never (that is [`DecimalError::TooPrecise`], not rounding).
    pub fn parse_at(text: &str, scale: u8) -> Result<Self, DecimalError> {
        let value = Self::parse(text)?;
        value.rescale(scale).ok_or_else(|| {
            if scale > Self::MAX_SCALE || value.rescale_fits_digits(scale) {
                DecimalError::Overflow {
                    text: short(text),
                    scale,
                }
            } else {
                DecimalError::TooPrecise {
                    text: short(text),
                    scale,
                }
            }
        })
    }

    /// Whether going to `scale` keeps every significant digit (it may still overflow).
    fn rescale_fits_digits(&self, scale: u8) -> bool {
        scale >= self.scale || self.mantissa % POW10[usize::from(self.scale - scale)] == 0
    }

    /// The same value at `scale` fractional digits, or `None` if that would drop a non-zero
    /// digit, overflow, or exceed [`Decimal::MAX_SCALE`].
    #[inline]
    pub fn rescale(&self, scale: u8) -> Option<Self> {
        if scale == self.scale {
            return Some(*self);
        }
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
        // This runs twice per level of every record. The text is laid out in a stack buffer
        // of fixed size, which is appended whole and the tail cut off: a fixed-size copy is a
        // few register moves, a variable-length one a `memcpy` call.
        let mut buf = [0u8; TEXT_MAX];
        let len = match u64::try_from(self.mantissa) {
            Ok(small) => layout_u64(small, self.scale, &mut buf),
            Err(_) => layout_wide(self.mantissa, self.scale, &mut buf),
        };
        out.extend_from_slice(&buf);
        out.truncate(out.len() - (TEXT_MAX - len));
    }
}

/// Longest decimal text: 39 digits of a `u128`, a point and a leading zero.
const TEXT_MAX: usize = 48;

/// Writes `v / 10^scale` at the start of `buf` (at least one integer digit, exactly `scale`
/// fractional ones) and returns its length; for the mantissas of real prices and quantities: the integer and fractional
/// parts are split with one division, then each is written two digits at a time.
#[inline(always)]
fn layout_u64(v: u64, scale: u8, buf: &mut [u8; TEXT_MAX]) -> usize {
    let scale = usize::from(scale);
    if scale == 0 {
        let len = digit_count(v);
        write_pairs(v, &mut buf[..len]);
        return len;
    }
    // MAX_SCALE is 18, and 10^18 fits a u64.
    let unit = POW10_U64[scale];
    let (int, frac) = (v / unit, v % unit);
    let int_len = digit_count(int);
    let total = int_len + 1 + scale;
    write_pairs(int, &mut buf[..int_len]);
    buf[int_len] = b'.';
    write_pairs(frac, &mut buf[int_len + 1..total]);
    total
}

/// Powers of ten that fit a `u64`, for [`layout_u64`].
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// "00" to "99", for writing two digits per division.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Fills `dst` with the last `dst.len()` decimal digits of `v`, zero-padded on the left.
#[inline(always)]
pub(crate) fn write_pairs(mut v: u64, dst: &mut [u8]) {
    let mut end = dst.len();
    while end >= 2 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        dst[end - 2..end].copy_from_slice(&PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if end == 1 {
        dst[0] = b'0' + (v % 10) as u8;
    }
}

/// [`layout_u64`] for mantissas past `u64` (never a real price or quantity): one digit per
/// division, right to left.
fn layout_wide(mut v: u128, scale: u8, buf: &mut [u8; TEXT_MAX]) -> usize {
    let scale = usize::from(scale);
    let digits = v.checked_ilog10().map_or(1, |l| l as usize + 1);
    let total = digits.max(scale + 1) + usize::from(scale > 0);
    let mut pos = total;
    while pos > 0 {
        pos -= 1;
        if scale > 0 && pos == total - 1 - scale {
            buf[pos] = b'.';
            continue;
        }
        buf[pos] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    total
}

/// How many decimal digits `v` has (1 for zero).
#[inline(always)]
pub(crate) fn digit_count(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |l| l as usize + 1)
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

/// Why [`parse_bytes`] refused a token; turned into a [`DecimalError`] (with the text) only on
/// the cold path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Syntax,
    TooPrecise,
    Overflow(u8),
}

/// Accumulates digits in a `u64` while they surely fit (19 digits), then in a checked `u128`:
/// every real price and quantity stays on the cheap path.
#[derive(Default)]
struct Digits {
    narrow: u64,
    wide: u128,
    count: usize,
    overflow: bool,
}

impl Digits {
    #[inline(always)]
    fn push(&mut self, d: u8) {
        if self.count < 19 {
            self.narrow = self.narrow * 10 + u64::from(d);
        } else {
            if self.count == 19 {
                self.wide = u128::from(self.narrow);
            }
            match self
                .wide
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d)))
            {
                Some(w) => self.wide = w,
                None => self.overflow = true,
            }
        }
        self.count += 1;
    }

    fn value(&self) -> u128 {
        if self.count <= 19 {
            u128::from(self.narrow)
        } else {
            self.wide
        }
    }
}

/// Exponents beyond this are clamped: no representable non-zero value needs more.
const EXP_CLAMP: i64 = 10_000;

fn parse_bytes(b: &[u8]) -> Result<Decimal, Fail> {
    match parse_prefix(b)? {
        (value, used) if used == b.len() => Ok(value),
        _ => Err(Fail::Syntax),
    }
}

/// Parses the number at the start of `b`, stopping at the first byte that cannot continue it;
/// returns the value and how many bytes it took. A frame decoder uses this to read a token in
/// the same pass that finds its end.
pub(crate) fn parse_number_prefix(b: &[u8]) -> Option<(Decimal, usize)> {
    parse_prefix(b).ok()
}

#[inline(always)]
fn parse_prefix(b: &[u8]) -> Result<(Decimal, usize), Fail> {
    let mut digits = Digits::default();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        digits.push(c - b'0');
        i += 1;
    }
    if i == 0 {
        return Err(Fail::Syntax);
    }
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            digits.push(c - b'0');
            i += 1;
        }
        if i == start {
            return Err(Fail::Syntax);
        }
        frac = (i - start) as i64;
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
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
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            exp = (exp * 10 + i64::from(c - b'0')).min(EXP_CLAMP);
            i += 1;
        }
        if i == start {
            return Err(Fail::Syntax);
        }
        if neg {
            exp = -exp;
        }
    }
    let mut scale = frac - exp;
    let overflow_scale = u8::try_from(scale.clamp(0, 255)).unwrap_or(u8::MAX);
    if digits.overflow {
        return Err(Fail::Overflow(overflow_scale));
    }
    let mut mantissa = digits.value();
    if mantissa == 0 {
        // `0E-8`, `0.000`: zero keeps the scale it was written with, within range.
        return Ok((
            Decimal {
                mantissa: 0,
                scale: scale.clamp(0, i64::from(Decimal::MAX_SCALE)) as u8,
            },
            i,
        ));
    }
    if scale < 0 {
        let factor = usize::try_from(-scale)
            .ok()
            .and_then(|e| POW10.get(e))
            .ok_or(Fail::Overflow(0))?;
        mantissa = mantissa.checked_mul(*factor).ok_or(Fail::Overflow(0))?;
        scale = 0;
    }
    // Exponent forms and over-long tokens may carry trailing zeros (`1.50e-17`); only those go.
    while scale > i64::from(Decimal::MAX_SCALE) && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if scale > i64::from(Decimal::MAX_SCALE) {
        return Err(Fail::TooPrecise);
    }
    Ok((
        Decimal {
            mantissa,
            scale: scale as u8,
        },
        i,
    ))
}

fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

fn error(text: &str, fail: Fail) -> DecimalError {
    match fail {
        Fail::Syntax => DecimalError::Syntax { text: short(text) },
        Fail::TooPrecise => DecimalError::TooPrecise {
            text: short(text),
            scale: Decimal::MAX_SCALE,
        },
        Fail::Overflow(scale) => DecimalError::Overflow {
            text: short(text),
            scale,
        },
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

    #[test]
    fn exponent_forms_normalise_to_plain_scale() {
        assert_eq!(d("0e0"), (0, 0));
        assert_eq!(d("0.000"), (0, 3));
        assert_eq!(d("0E-30"), (0, 18));
        assert_eq!(d("1E+2"), (100, 0));
        assert_eq!(d("1.23e1"), (123, 1));
        assert_eq!(d("1.50e-17"), (15, 18));
        assert_eq!(d("2.5E-3"), (25, 4));
        assert_eq!(
            Decimal::parse("5.325e-05").unwrap().to_string(),
            "0.00005325"
        );
    }

    #[test]
    fn significant_digits_beyond_precision_are_errors_never_rounded() {
        assert!(matches!(
            Decimal::parse("0.0000000000000000001"),
            Err(DecimalError::TooPrecise { .. })
        ));
        assert!(matches!(
            Decimal::parse("1e-19"),
            Err(DecimalError::TooPrecise { .. })
        ));
        // Trailing zeros past 18 digits carry no information and are dropped.
        assert_eq!(
            d("0.10000000000000000000000"),
            (100_000_000_000_000_000, 18)
        );
        assert!(matches!(
            Decimal::parse_at("45283.55", 1),
            Err(DecimalError::TooPrecise { scale: 1, .. })
        ));
        assert!(matches!(
            Decimal::parse_at("1e-9", 8),
            Err(DecimalError::TooPrecise { scale: 8, .. })
        ));
        assert!(Decimal::parse_at("1", 19).is_err());
    }

    #[test]
    fn text_has_exactly_scale_fractional_digits() {
        let text = |m: u128, s: u8| Decimal::new(m, s).unwrap().to_string();
        assert_eq!(text(0, 0), "0");
        assert_eq!(text(0, 3), "0.000");
        assert_eq!(text(5, 2), "0.05");
        assert_eq!(text(12_345, 2), "123.45");
        assert_eq!(text(10, 1), "1.0");
        assert_eq!(text(7, 18), "0.000000000000000007");
        assert_eq!(text(u128::from(u64::MAX), 0), u64::MAX.to_string());
        // Past u64: the wide path.
        assert_eq!(
            text(u128::MAX, 18),
            "340282366920938463463.374607431768211455"
        );
        assert_eq!(text(u128::MAX, 0), u128::MAX.to_string());
        // Appends, never overwrites what is already there.
        let mut out = b"x=".to_vec();
        Decimal::new(452_810, 1).unwrap().write_to(&mut out);
        assert_eq!(out, b"x=45281.0");
    }

    #[test]
    fn every_precision_from_0_to_18_round_trips() {
        for scale in 0..=Decimal::MAX_SCALE {
            let v = Decimal::parse_at("7", scale).unwrap();
            assert_eq!(v.scale(), scale);
            assert_eq!(v.mantissa(), 7 * POW10[usize::from(scale)]);
            assert_eq!(Decimal::parse(&v.to_string()).unwrap(), v);
        }
        assert_eq!(Decimal::new(1, 19), None);
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        assert_eq!(d(&u128::MAX.to_string()), (u128::MAX, 0));
        for big in [
            "340282366920938463463374607431768211456",
            "1e39",
            "1e100000",
        ] {
            assert!(
                matches!(Decimal::parse(big), Err(DecimalError::Overflow { .. })),
                "{big}"
            );
        }
        assert!(matches!(
            Decimal::parse_at("340282366920938463463374607431768211455", 1),
            Err(DecimalError::Overflow { .. })
        ));
        // 20 digits: leaves the fast u64 path exactly.
        assert_eq!(d("18446744073709551616"), (18_446_744_073_709_551_616, 0));
        assert_eq!(d("0.0000000000000000001e1"), (1, 18));
    }

    #[test]
    fn errors_name_the_text() {
        let e = Decimal::parse("12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"12x\" is not a non-negative decimal number"
        );
        let long = "9".repeat(200);
        match Decimal::parse(&long).unwrap_err() {
            DecimalError::Overflow { text, .. } => assert_eq!(text.len(), 64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn write_to_pads_fraction_and_integer() {
        let mut out = Vec::new();
        Decimal::new(5, 3).unwrap().write_to(&mut out);
        assert_eq!(out, b"0.005");
        assert_eq!(Decimal::new(0, 2).unwrap().to_string(), "0.00");
        assert_eq!(Decimal::new(12345, 0).unwrap().to_string(), "12345");
        assert_eq!(
            Decimal::new(u128::MAX, 18).unwrap().to_string(),
            "340282366920938463463.374607431768211455"
        );
    }
}
