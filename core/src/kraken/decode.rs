//! Decoding Kraken v2 frames into [`Event`]s.
//!
//! Number tokens are never read as floats: each price and quantity is taken as its raw JSON
//! text (`&RawValue`) and parsed into an exact [`Decimal`]. Kraken prints bare numbers; some
//! tools re-emit them as strings, which are accepted too.

use std::borrow::Cow;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decimal::Decimal;
use crate::event::{
    BookData, Event, EventKind, InstrumentInfo, Level, StatusInfo, SubscriptionInfo,
    SubscriptionMethod,
};
use crate::symbol::Symbol;
use crate::time::Timestamp;

/// A frame that could not be decoded. The frame is skipped and counted by the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape (serde's message has the column).
    #[error("invalid frame: {0}")]
    Json(String),
    /// A field had a value the engine cannot represent.
    #[error("invalid {field} {value:?}: {reason}")]
    Value {
        /// Which field.
        field: &'static str,
        /// Its text (truncated).
        value: String,
        /// Why it was refused.
        reason: String,
    },
}

impl DecodeError {
    fn json(e: serde_json::Error) -> Self {
        Self::Json(e.to_string())
    }

    fn value(field: &'static str, value: &str, reason: impl ToString) -> Self {
        Self::Value {
            field,
            value: value.chars().take(64).collect(),
            reason: reason.to_string(),
        }
    }
}

/// The top level of a frame. `data` is decoded in the same pass when `channel` came before it
/// (as Kraken sends it); otherwise it is kept raw and decoded once the channel is known.
#[derive(Default)]
struct Envelope<'a> {
    channel: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    data: Data<'a>,
    method: Option<Cow<'a, str>>,
    result: Option<&'a RawValue>,
    success: Option<bool>,
    error: Option<Cow<'a, str>>,
    req_id: Option<u64>,
    symbol: Option<Cow<'a, str>>,
    time_out: Option<Cow<'a, str>>,
}

#[derive(Default)]
enum Data<'a> {
    #[default]
    Missing,
    Book(Vec<WireBook<'a>>),
    Status(Vec<WireStatus<'a>>),
    Instruments(WireInstruments<'a>),
    Raw(&'a RawValue),
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = Envelope<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Kraken v2 frame (a JSON object)")
            }

            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut env = Envelope::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "channel" => env.channel = Some(map.next_value()?),
                        "type" => env.kind = Some(map.next_value()?),
                        "data" => {
                            env.data = match env.channel.as_deref() {
                                Some("book") => Data::Book(map.next_value()?),
                                Some("status") => Data::Status(map.next_value()?),
                                Some("instrument") => Data::Instruments(map.next_value()?),
                                _ => Data::Raw(map.next_value()?),
                            }
                        }
                        "method" => env.method = Some(map.next_value()?),
                        "result" => env.result = Some(map.next_value()?),
                        "success" => env.success = Some(map.next_value()?),
                        "error" => env.error = Some(map.next_value()?),
                        "req_id" => env.req_id = Some(map.next_value()?),
                        "symbol" => env.symbol = Some(map.next_value()?),
                        "time_out" => env.time_out = Some(map.next_value()?),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(Visit)
    }
}

impl<'a> Data<'a> {
    /// The typed data, decoding it now if it arrived before the channel name.
    fn into_typed<T: Deserialize<'a>>(
        self,
        what: &str,
        typed: impl FnOnce(Data<'a>) -> Option<T>,
    ) -> Result<T, DecodeError> {
        match self {
            Data::Missing => Err(DecodeError::Json(format!("{what} frame without `data`"))),
            Data::Raw(raw) => serde_json::from_str(raw.get()).map_err(DecodeError::json),
            other => typed(other)
                .ok_or_else(|| DecodeError::Json(format!("{what} frame with foreign `data`"))),
        }
    }
}

#[derive(Deserialize)]
struct WireBook<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(default)]
    bids: Vec<WireLevel>,
    #[serde(default)]
    asks: Vec<WireLevel>,
    #[serde(default)]
    checksum: Option<u32>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
}

/// A level parsed straight from its number tokens.
struct WireLevel(Level);

impl<'de> Deserialize<'de> for WireLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            price: &'a RawValue,
            #[serde(borrow)]
            qty: &'a RawValue,
        }
        let raw = Raw::deserialize(d)?;
        let price = number(raw.price).map_err(de::Error::custom)?;
        let qty = number(raw.qty).map_err(de::Error::custom)?;
        Ok(WireLevel(Level { price, qty }))
    }
}

fn number(raw: &RawValue) -> Result<Decimal, crate::decimal::DecimalError> {
    let text = raw.get();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    Decimal::parse(text)
}

fn levels(wire: Vec<WireLevel>) -> Vec<Level> {
    // Same layout, so this collects in place without reallocating.
    wire.into_iter().map(|l| l.0).collect()
}

#[derive(Deserialize)]
struct WireStatus<'a> {
    #[serde(borrow, default)]
    system: Cow<'a, str>,
    #[serde(borrow, default)]
    api_version: Cow<'a, str>,
    #[serde(default)]
    connection_id: Option<u64>,
    #[serde(borrow, default)]
    version: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireInstruments<'a> {
    #[serde(borrow, default)]
    pairs: Vec<WirePair<'a>>,
}

#[derive(Deserialize)]
struct WirePair<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    price_precision: u8,
    qty_precision: u8,
}

#[derive(Deserialize)]
struct WireResult<'a> {
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(default)]
    depth: Option<u16>,
    #[serde(borrow, default)]
    symbol: Option<Cow<'a, str>>,
}

fn symbol(text: &str) -> Result<Symbol, DecodeError> {
    Symbol::new(text).map_err(|e| DecodeError::value("symbol", text, e))
}

fn timestamp(text: Option<&str>) -> Result<Option<Timestamp>, DecodeError> {
    text.map(|t| Timestamp::parse(t).map_err(|e| DecodeError::value("timestamp", t, e)))
        .transpose()
}

/// Decodes one frame, appending its events to `out`; returns how many it appended.
///
/// Frames of channels kobe does not model (ticker, trade, ...) and pongs decode to no events.
/// On error nothing is appended.
pub fn decode_frame(
    text: &str,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<usize, DecodeError> {
    let start = out.len();
    if super::fast::decode_book(text, received, out).is_some() {
        return Ok(out.len() - start);
    }
    decode_general(text, received, out)
}

/// The serde path alone: every frame kobe understands, and the errors for those it does not.
/// [`decode_frame`] tries a fast path for book frames first; this is public so that tests and
/// the fuzzer can hold that fast path to it.
pub fn decode_general(
    text: &str,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<usize, DecodeError> {
    let mut env: Envelope<'_> = serde_json::from_str(text).map_err(DecodeError::json)?;
    let start = out.len();
    let result = match (env.channel.as_deref(), env.method.as_deref()) {
        (Some("book"), _) => decode_book(&mut env, received, out),
        (Some("heartbeat"), _) => {
            out.push(Event::new(None, received, EventKind::Heartbeat));
            Ok(())
        }
        (Some("status"), _) => decode_status(&mut env, received, out),
        (Some("instrument"), _) => decode_instrument(&mut env, received, out),
        (None, Some(method @ ("subscribe" | "unsubscribe"))) => {
            decode_ack(&env, method, received, out)
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => Ok(out.len() - start),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn decode_book(
    env: &mut Envelope<'_>,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let snapshot = match env.kind.as_deref() {
        Some("snapshot") => true,
        Some("update") => false,
        other => {
            return Err(DecodeError::value(
                "type",
                other.unwrap_or(""),
                "a book frame is `snapshot` or `update`",
            ))
        }
    };
    let entries = std::mem::take(&mut env.data).into_typed("book", |d| match d {
        Data::Book(b) => Some(b),
        _ => None,
    })?;
    for entry in entries {
        let book = BookData {
            bids: levels(entry.bids),
            asks: levels(entry.asks),
            checksum: entry.checksum,
            ..BookData::default()
        };
        let mut event = Event::new(
            Some(symbol(&entry.symbol)?),
            received,
            if snapshot {
                EventKind::BookSnapshot(book)
            } else {
                EventKind::BookUpdate(book)
            },
        );
        event.exchange_ts = timestamp(entry.timestamp.as_deref())?;
        out.push(event);
    }
    Ok(())
}

fn decode_status(
    env: &mut Envelope<'_>,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let entries = std::mem::take(&mut env.data).into_typed("status", |d| match d {
        Data::Status(s) => Some(s),
        _ => None,
    })?;
    for s in entries {
        out.push(Event::new(
            None,
            received,
            EventKind::Status(StatusInfo {
                system: s.system.into_owned(),
                api_version: s.api_version.into_owned(),
                connection_id: s.connection_id,
                version: s.version.into_owned(),
            }),
        ));
    }
    Ok(())
}

fn decode_instrument(
    env: &mut Envelope<'_>,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let data = std::mem::take(&mut env.data).into_typed("instrument", |d| match d {
        Data::Instruments(i) => Some(i),
        _ => None,
    })?;
    for pair in data.pairs {
        for (field, p) in [
            ("price_precision", pair.price_precision),
            ("qty_precision", pair.qty_precision),
        ] {
            if p > Decimal::MAX_SCALE {
                return Err(DecodeError::value(
                    field,
                    &p.to_string(),
                    "precision above 18",
                ));
            }
        }
        out.push(Event::new(
            Some(symbol(&pair.symbol)?),
            received,
            EventKind::Instrument(InstrumentInfo {
                price_precision: pair.price_precision,
                qty_precision: pair.qty_precision,
            }),
        ));
    }
    Ok(())
}

fn decode_ack(
    env: &Envelope<'_>,
    method: &str,
    received: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let result: Option<WireResult<'_>> = env
        .result
        .map(|r| serde_json::from_str(r.get()).map_err(DecodeError::json))
        .transpose()?;
    let sym = result
        .as_ref()
        .and_then(|r| r.symbol.as_deref())
        .or(env.symbol.as_deref())
        .map(symbol)
        .transpose()?;
    let info = SubscriptionInfo {
        method: if method == "subscribe" {
            SubscriptionMethod::Subscribe
        } else {
            SubscriptionMethod::Unsubscribe
        },
        channel: result
            .as_ref()
            .and_then(|r| r.channel.as_deref())
            .unwrap_or_default()
            .to_string(),
        depth: result.as_ref().and_then(|r| r.depth),
        req_id: env.req_id,
        error: env.error.as_deref().map(str::to_string),
    };
    let kind = if env.success == Some(true) {
        EventKind::SubscriptionAck(info)
    } else {
        EventKind::SubscriptionError(info)
    };
    let mut event = Event::new(sym, received, kind);
    event.exchange_ts = timestamp(env.time_out.as_deref())?;
    out.push(event);
    Ok(())
}

#[cfg(test)]
mod tests;
