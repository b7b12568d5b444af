//! Records: what sinks write for each event.
//!
//! - `json`: one versioned JSON object per event (`"v":1`), prices and quantities as strings
//!   with the instrument's exact digits. Written by hand: it runs for every event.
//! - `raw`: the Kraken frame exactly as received (the old engine's behaviour); only `raw`
//!   events render.
//! - `pretty`: one readable line per event, for people.

use crate::decimal::{digit_count, write_pairs};
use crate::event::{BookData, Event, EventFilter, EventKind, EventType, Level};
use crate::symbol::Symbol;
use crate::time::SecondsCache;

/// Version of the JSON record layout; bumped on any incompatible change.
pub const RECORD_VERSION: u32 = 1;

/// How a sink renders events.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordFormat {
    /// One JSON object per event (`{"v":1,"type":"book_update",...}`).
    #[default]
    Json,
    /// The Kraken frame as received, one per line (needs `raw` events).
    Raw,
    /// One human-readable line per event.
    Pretty,
}

impl RecordFormat {
    /// The events a sink in this format writes when the pipeline gives no `events:` list.
    pub fn default_events(&self) -> EventFilter {
        match self {
            Self::Raw => EventFilter::of(&[EventType::Raw]),
            Self::Json | Self::Pretty => EventFilter::ALL.without(EventType::Raw),
        }
    }

    /// Appends `event`'s record and a newline to `out`; returns false (and appends nothing)
    /// when this format has no rendering for the event (non-raw events in `raw`).
    pub fn write(&self, event: &Event, out: &mut Vec<u8>) -> bool {
        self.write_cached(event, &mut SecondsCache::new(), out)
    }

    /// Appends the records of the `events` that pass `filter` (and have a rendering in this
    /// format) to `out`; returns how many. What a sink calls per batch.
    pub fn write_events(&self, events: &[Event], filter: EventFilter, out: &mut Vec<u8>) -> u64 {
        let mut seconds = SecondsCache::new();
        let mut n = 0;
        for event in events {
            if filter.accepts(event.event_type()) && self.write_cached(event, &mut seconds, out) {
                n += 1;
            }
        }
        n
    }

    /// [`RecordFormat::write`] with a caller-kept [`SecondsCache`]: what a sink that needs each
    /// record on its own (one Kafka message per record) calls per event.
    pub fn write_cached(
        &self,
        event: &Event,
        seconds: &mut SecondsCache,
        out: &mut Vec<u8>,
    ) -> bool {
        match self {
            Self::Json => write_json(event, seconds, out),
            Self::Raw => match &event.kind {
                EventKind::Raw(frame) => out.extend_from_slice(frame),
                _ => return false,
            },
            Self::Pretty => write_pretty(event, out),
        }
        out.push(b'\n');
        true
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a symbol as a JSON string; symbols are plain text, so the escaping path is rare.
fn write_symbol(out: &mut Vec<u8>, symbol: &Symbol) {
    let (bytes, len) = symbol.padded();
    if bytes[..len]
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    {
        return write_json_str(out, symbol.as_str());
    }
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.truncate(out.len() - (bytes.len() - len));
    out.push(b'"');
}

/// Appends the digits of `v`. Like [`Decimal::write_to`](crate::Decimal::write_to), through a
/// fixed-size copy with the tail cut off, which is cheaper than a `memcpy` call of the exact
/// length.
fn write_u64(out: &mut Vec<u8>, v: u64) {
    const MAX: usize = 20;
    let mut buf = [0u8; MAX];
    let len = digit_count(v);
    write_pairs(v, &mut buf[..len]);
    out.extend_from_slice(&buf);
    out.truncate(out.len() - (MAX - len));
}

/// `head` is the whole `,"side":[` prefix, a constant at every call, so it is copied inline.
#[inline(always)]
fn write_levels(out: &mut Vec<u8>, head: &[u8], levels: &[Level]) {
    out.extend_from_slice(head);
    for (i, l) in levels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"[\"");
        l.price.write_to(out);
        out.extend_from_slice(b"\",\"");
        l.qty.write_to(out);
        out.extend_from_slice(b"\"]");
    }
    out.push(b']');
}

fn write_book(out: &mut Vec<u8>, b: &BookData) {
    if let Some(c) = b.checksum {
        out.extend_from_slice(b",\"checksum\":");
        write_u64(out, u64::from(c));
    }
    if let Some(ok) = b.checksum_ok {
        out.extend_from_slice(if ok {
            b",\"checksum_ok\":true"
        } else {
            b",\"checksum_ok\":false"
        });
    }
    write_levels(out, b",\"bids\":[", &b.bids);
    write_levels(out, b",\"asks\":[", &b.asks);
}

fn write_json(event: &Event, seconds: &mut SecondsCache, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"v\":");
    write_u64(out, u64::from(RECORD_VERSION));
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(event.event_type().as_str().as_bytes());
    out.push(b'"');
    if let Some(s) = &event.symbol {
        out.extend_from_slice(b",\"symbol\":");
        write_symbol(out, s);
    }
    out.extend_from_slice(b",\"seq\":");
    write_u64(out, event.seq);
    if let Some(ts) = event.exchange_ts {
        out.extend_from_slice(b",\"exchange_ts\":\"");
        ts.write_rfc3339_cached(seconds, out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"received_ts\":\"");
    event.received_ts.write_rfc3339_cached(seconds, out);
    out.push(b'"');
    match &event.kind {
        EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) => write_book(out, b),
        EventKind::BookTop(t) => {
            write_levels(out, b",\"bids\":[", &t.bids);
            write_levels(out, b",\"asks\":[", &t.asks);
        }
        EventKind::ChecksumMismatch { expected, computed } => {
            out.extend_from_slice(b",\"expected\":");
            write_u64(out, u64::from(*expected));
            out.extend_from_slice(b",\"computed\":");
            write_u64(out, u64::from(*computed));
        }
        EventKind::BookReset { reason } => {
            out.extend_from_slice(b",\"reason\":\"");
            out.extend_from_slice(reason.as_str().as_bytes());
            out.push(b'"');
        }
        EventKind::Status(s) => {
            out.extend_from_slice(b",\"system\":");
            write_json_str(out, &s.system);
            out.extend_from_slice(b",\"api_version\":");
            write_json_str(out, &s.api_version);
            out.extend_from_slice(b",\"version\":");
            write_json_str(out, &s.version);
            if let Some(id) = s.connection_id {
                out.extend_from_slice(b",\"connection_id\":");
                write_u64(out, id);
            }
        }
        EventKind::Heartbeat => {}
        EventKind::Instrument(i) => {
            out.extend_from_slice(b",\"price_precision\":");
            write_u64(out, u64::from(i.price_precision));
            out.extend_from_slice(b",\"qty_precision\":");
            write_u64(out, u64::from(i.qty_precision));
        }
        EventKind::SubscriptionAck(s) | EventKind::SubscriptionError(s) => {
            out.extend_from_slice(b",\"method\":");
            write_json_str(
                out,
                match s.method {
                    crate::event::SubscriptionMethod::Subscribe => "subscribe",
                    crate::event::SubscriptionMethod::Unsubscribe => "unsubscribe",
                },
            );
            out.extend_from_slice(b",\"channel\":");
            write_json_str(out, &s.channel);
            if let Some(d) = s.depth {
                out.extend_from_slice(b",\"depth\":");
                write_u64(out, u64::from(d));
            }
            if let Some(r) = s.req_id {
                out.extend_from_slice(b",\"req_id\":");
                write_u64(out, r);
            }
            if let Some(e) = &s.error {
                out.extend_from_slice(b",\"error\":");
                write_json_str(out, e);
            }
        }
        EventKind::Raw(frame) => {
            out.extend_from_slice(b",\"frame\":");
            write_json_str(out, &String::from_utf8_lossy(frame));
        }
        EventKind::Plugin(r) => {
            out.extend_from_slice(b",\"plugin\":");
            write_json_str(out, &r.plugin);
            // Checked to be one compact JSON object when the plugin emitted it.
            out.extend_from_slice(b",\"data\":");
            out.extend_from_slice(r.data.as_bytes());
        }
    }
    out.push(b'}');
}

fn write_pretty_levels(out: &mut Vec<u8>, label: &str, levels: &[Level]) {
    if levels.is_empty() {
        return;
    }
    out.extend_from_slice(label.as_bytes());
    for (i, l) in levels.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b" " } else { b", " });
        l.qty.write_to(out);
        out.push(b'@');
        l.price.write_to(out);
    }
}

fn write_pretty(event: &Event, out: &mut Vec<u8>) {
    use std::io::Write;
    event
        .exchange_ts
        .unwrap_or(event.received_ts)
        .write_rfc3339(out);
    out.push(b' ');
    out.extend_from_slice(event.event_type().as_str().as_bytes());
    if let Some(s) = &event.symbol {
        let _ = write!(out, " {s} #{}", event.seq);
    }
    match &event.kind {
        EventKind::BookSnapshot(b) | EventKind::BookUpdate(b) => {
            let best = |l: &[Level]| l.first().map(|l| l.price);
            if let EventKind::BookSnapshot(_) = event.kind {
                let _ = write!(out, " {} bids, {} asks", b.bids.len(), b.asks.len());
                if let (Some(bid), Some(ask)) = (best(&b.bids), best(&b.asks)) {
                    let _ = write!(out, ", best {bid} / {ask}");
                }
            } else {
                write_pretty_levels(out, " | bids", &b.bids);
                write_pretty_levels(out, " | asks", &b.asks);
            }
            match b.checksum_ok {
                Some(true) => out.extend_from_slice(" | checksum ok".as_bytes()),
                Some(false) => out.extend_from_slice(" | CHECKSUM MISMATCH".as_bytes()),
                None => {}
            }
        }
        EventKind::BookTop(t) => {
            write_pretty_levels(out, " | bids", &t.bids);
            write_pretty_levels(out, " | asks", &t.asks);
        }
        EventKind::ChecksumMismatch { expected, computed } => {
            let _ = write!(out, " expected {expected}, computed {computed}");
        }
        EventKind::BookReset { reason } => {
            let _ = write!(out, " ({})", reason.as_str());
        }
        EventKind::Status(s) => {
            let _ = write!(out, " {} (api {}, {})", s.system, s.api_version, s.version);
        }
        EventKind::Heartbeat => {}
        EventKind::Instrument(i) => {
            let _ = write!(out, " precision {}/{}", i.price_precision, i.qty_precision);
        }
        EventKind::SubscriptionAck(s) | EventKind::SubscriptionError(s) => {
            let _ = write!(out, " {:?} {}", s.method, s.channel);
            if let Some(d) = s.depth {
                let _ = write!(out, " depth {d}");
            }
            if let Some(e) = &s.error {
                let _ = write!(out, ": {e}");
            }
        }
        EventKind::Raw(frame) => {
            out.push(b' ');
            out.extend_from_slice(frame);
        }
        EventKind::Plugin(r) => {
            let _ = write!(out, " {} {}", r.plugin, r.data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;
    use crate::event::{EventKind, ResetReason};
    use crate::symbol::Symbol;
    use crate::time::Timestamp;

    fn lvl(p: &str, q: &str) -> Level {
        Level {
            price: Decimal::parse(p).unwrap(),
            qty: Decimal::parse(q).unwrap(),
        }
    }

    #[test]
    fn json_record_matches_the_documented_layout() {
        let mut e = Event::new(
            Some(Symbol::new("BTC/USD").unwrap()),
            Timestamp::parse("2026-08-02T10:00:00.130001Z").unwrap(),
            EventKind::BookUpdate(BookData {
                bids: vec![lvl("45283.5", "0.10000000")],
                asks: vec![lvl("45285.2", "0.00000000")],
                checksum: Some(3310070434),
                checksum_ok: Some(true),
                ..BookData::default()
            }),
        );
        e.seq = 1842;
        e.exchange_ts = Some(Timestamp::parse("2026-08-02T10:00:00.123456Z").unwrap());
        let mut out = Vec::new();
        assert!(RecordFormat::Json.write(&e, &mut out));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"v":1,"type":"book_update","symbol":"BTC/USD","seq":1842,"exchange_ts":"2026-08-02T10:00:00.123456Z","#,
                r#""received_ts":"2026-08-02T10:00:00.130001Z","checksum":3310070434,"checksum_ok":true,"#,
                r#""bids":[["45283.5","0.10000000"]],"asks":[["45285.2","0.00000000"]]}"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_batch_renders_every_timestamp_right_across_seconds() {
        // Exchange and receive times in different seconds, and seconds that come back: the
        // batch renderer's cache of second texts must never print a stale one.
        let seconds = [
            1_700_000_000i64,
            1_700_000_001,
            1_600_000_000,
            1_700_000_000,
        ];
        let events: Vec<Event> = (0..40)
            .map(|i| {
                let at = |k: usize| Timestamp(seconds[k % 4] * 1_000_000_000 + i as i64 * 1000);
                let mut e = Event::new(None, at(i), EventKind::Heartbeat);
                e.exchange_ts = Some(at(i * 7 + 1));
                e
            })
            .collect();
        let mut batch = Vec::new();
        let n = RecordFormat::Json.write_events(&events, EventFilter::ALL, &mut batch);
        assert_eq!(n, 40);
        let one_by_one: Vec<u8> = events
            .iter()
            .flat_map(|e| {
                let mut out = Vec::new();
                RecordFormat::Json.write(e, &mut out);
                out
            })
            .collect();
        assert_eq!(
            String::from_utf8(batch).unwrap(),
            String::from_utf8(one_by_one).unwrap()
        );
        let mut text = Vec::new();
        Timestamp(1_600_000_000_123_456_000).write_rfc3339(&mut text);
        assert_eq!(text, b"2020-09-13T12:26:40.123456Z");
    }

    #[test]
    fn every_event_kind_renders_valid_json() {
        let kinds = [
            EventKind::Heartbeat,
            EventKind::ChecksumMismatch {
                expected: 1,
                computed: 2,
            },
            EventKind::BookReset {
                reason: ResetReason::Resync,
            },
            EventKind::Raw(bytes::Bytes::from_static(
                b"{\"channel\":\"heartbeat\"}\t\"",
            )),
            EventKind::Plugin(crate::event::PluginRecord {
                plugin: "spread".into(),
                data: r#"{"mid":"1.5"}"#.into(),
            }),
            EventKind::Status(crate::event::StatusInfo {
                system: "online".into(),
                api_version: "v2".into(),
                connection_id: Some(u64::MAX),
                version: "2.0.10".into(),
            }),
        ];
        for kind in kinds {
            let e = Event::new(Some(Symbol::new("A\"B").unwrap()), Timestamp(0), kind);
            let mut out = Vec::new();
            RecordFormat::Json.write(&e, &mut out);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["v"], 1);
            assert_eq!(v["type"], e.event_type().as_str());
            assert_eq!(v["symbol"], "A\"B");
        }
    }

    #[test]
    fn raw_writes_only_frames_verbatim() {
        let frame = Event::new(
            None,
            Timestamp(0),
            EventKind::Raw(bytes::Bytes::from_static(b"{\"a\": 1.50}")),
        );
        let hb = Event::new(None, Timestamp(0), EventKind::Heartbeat);
        let mut out = Vec::new();
        assert!(RecordFormat::Raw.write(&frame, &mut out));
        assert!(!RecordFormat::Raw.write(&hb, &mut out));
        assert_eq!(out, b"{\"a\": 1.50}\n");
    }
}
