//! [`Timestamp`]: UTC nanoseconds since the Unix epoch, parsed from and printed as RFC 3339.
//!
//! Kraken stamps frames with `2023-10-06T17:35:55.440295Z`; records print both the exchange and
//! the receive time in that shape. Hand-rolled because it runs for every event.

use std::fmt;

/// A UTC instant in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Text that is not an RFC 3339 UTC timestamp of the form `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected YYYY-MM-DDTHH:MM:SS[.fraction]Z")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_nanos() as i64)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+00:00)`.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let err = || TimestampError(text.chars().take(64).collect());
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
            return Err(err());
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let mut v = 0i64;
            for &c in &b[range] {
                if !c.is_ascii_digit() {
                    return Err(err());
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Ok(v)
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || min > 59
            || sec > 60
        {
            return Err(err());
        }
        let mut i = 19;
        let mut nanos = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(err());
            }
            const SCALE: [i64; 10] = [
                1_000_000_000,
                100_000_000,
                10_000_000,
                1_000_000,
                100_000,
                10_000,
                1000,
                100,
                10,
                1,
            ];
            nanos *= SCALE[digits.min(9)];
        }
        match &b[i..] {
            b"Z" | b"z" | b"+00:00" => {}
            _ => return Err(err()),
        }
        let secs = days_of(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
        // Years past 2262 do not fit i64 nanoseconds: refuse them instead of wrapping.
        secs.checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(nanos))
            .map(Self)
            .ok_or_else(err)
    }

    /// Appends the RFC 3339 form with microseconds (`2026-08-02T10:00:00.123456Z`), the precision
    /// Kraken uses.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        thread_local! {
            static SECONDS: std::cell::RefCell<SecondsCache> =
                const { std::cell::RefCell::new(SecondsCache::new()) };
        }
        SECONDS.with(|cache| match cache.try_borrow_mut() {
            Ok(mut cache) => self.write_rfc3339_cached(&mut cache, out),
            Err(_) => self.write_rfc3339_cached(&mut SecondsCache::new(), out),
        });
    }

    /// [`Timestamp::write_rfc3339`] with a cache the caller keeps (a sink rendering a batch),
    /// which saves the thread-local lookup per timestamp.
    #[inline]
    pub fn write_rfc3339_cached(&self, cache: &mut SecondsCache, out: &mut Vec<u8>) {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        buf[..19].copy_from_slice(cache.text(secs));
        put(&mut buf[20..26], micros as u64);
        out.extend_from_slice(&buf);
    }
}

/// The `YYYY-MM-DDTHH:MM:SS` text of the last two seconds written. Records print the same
/// seconds over and over, so the calendar maths runs about once per second; two entries,
/// because a record carries two clocks (the exchange's and ours) usually in different seconds.
#[derive(Clone, Debug)]
pub struct SecondsCache {
    entries: [(i64, [u8; 19]); 2],
}

impl SecondsCache {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            entries: [(i64::MIN, [0; 19]); 2],
        }
    }

    fn text(&mut self, secs: i64) -> &[u8; 19] {
        let hit = if self.entries[0].0 == secs {
            0
        } else if self.entries[1].0 == secs {
            1
        } else {
            // The newest goes first; the older of the two is dropped.
            self.entries[1] = self.entries[0];
            self.entries[0] = (secs, format_second(secs));
            0
        };
        &self.entries[hit].1
    }
}

impl Default for SecondsCache {
    fn default() -> Self {
        Self::new()
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix second.
fn format_second(secs: i64) -> [u8; 19] {
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let mut buf = *b"0000-00-00T00:00:00";
    put(&mut buf[0..4], y as u64);
    put(&mut buf[5..7], m as u64);
    put(&mut buf[8..10], d as u64);
    put(&mut buf[11..13], (sod / 3600) as u64);
    put(&mut buf[14..16], (sod / 60 % 60) as u64);
    put(&mut buf[17..19], (sod % 60) as u64);
    buf
}

/// Days since the epoch of a date; frames carry the same date for hours, so the last one is
/// remembered per thread.
fn days_of(year: i64, month: i64, day: i64) -> i64 {
    thread_local! {
        static LAST_DATE: std::cell::Cell<(i64, i64)> = const { std::cell::Cell::new((-1, 0)) };
    }
    let key = year * 10_000 + month * 100 + day;
    LAST_DATE.with(|cache| {
        let (cached, days) = cache.get();
        if cached == key {
            return days;
        }
        let days = days_from_civil(year, month, day);
        cache.set((key, days));
        days
    })
}

fn put(dst: &mut [u8], mut v: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

// Howard Hinnant's civil-calendar algorithms (public domain descriptions).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(27);
        self.write_rfc3339(&mut out);
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_beyond_i64_nanoseconds_are_refused_not_wrapped() {
        assert!(Timestamp::parse("2262-04-11T23:47:16Z").is_ok());
        assert!(Timestamp::parse("9999-12-31T23:59:59.999999999Z").is_err());
    }

    #[test]
    fn parses_and_prints_kraken_timestamps() {
        for text in [
            "2023-10-06T17:35:55.440295Z",
            "1970-01-01T00:00:00.000000Z",
            "2024-02-29T23:59:59.999999Z",
        ] {
            assert_eq!(Timestamp::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01Z").unwrap(),
            Timestamp(1_000_000_000)
        );
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:00.5Z").unwrap(),
            Timestamp(500_000_000)
        );
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2023-10-06",
            "2023-13-06T17:35:55Z",
            "2023-10-06T17:35:55.Z",
            "2023-10-06T17:35:55+01:00",
            "2023-1O-06T17:35:55Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
