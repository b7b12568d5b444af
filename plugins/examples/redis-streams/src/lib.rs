//! `redis_streams`: a sink that writes every record to Redis Streams, the way live market data
//! is commonly fanned out: `XADD` per record, one stream per symbol (`prefix` + symbol), records
//! without a symbol to `global_stream`, each stream trimmed with `MAXLEN ~ maxlen`. Each entry
//! has two fields: `type` (the record's event type) and `record` (the rendered record).
//!
//! A batch goes to Redis as one pipelined write; every reply is read before `write` returns,
//! and any error reply fails the write (kobe then stops the pipeline: no silent loss).

pub mod resp;

use std::time::Duration;

use kobe_plugin_sdk::{ConfigError, Record, Sink};

use crate::resp::{Connection, Reply};

fn default_prefix() -> String {
    "kobe:".into()
}

fn default_global() -> String {
    "kobe:events".into()
}

fn default_maxlen() -> u64 {
    100_000
}

fn default_timeout() -> u64 {
    5_000
}

/// Options of `redis_streams`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisStreamsConfig {
    /// Redis address, `HOST:PORT` (`127.0.0.1:6379`).
    pub addr: String,
    /// Stream key prefix; a symbol's records go to `PREFIX` + symbol (`kobe:BTC/USD`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Stream of records without a symbol (status, heartbeats).
    #[serde(default = "default_global")]
    pub global_stream: String,
    /// Approximate length each stream is trimmed to (`MAXLEN ~`); 0 keeps everything.
    #[serde(default = "default_maxlen")]
    pub maxlen: u64,
    /// Connect, read and write timeout in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// The sink.
pub struct RedisStreams {
    conn: Connection,
    prefix: String,
    global: String,
    maxlen: String,
    out: Vec<u8>,
    key: Vec<u8>,
}

impl Sink for RedisStreams {
    type Config = RedisStreamsConfig;
    const TYPE_NAME: &'static str = "redis_streams";
    const DESCRIPTION: &'static str =
        "every record to Redis Streams: XADD per record, a stream per symbol, MAXLEN ~ trimming";

    fn validate(config: &RedisStreamsConfig) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match config.addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => errors.push(ConfigError::new(
                "addr",
                format!(
                    "`{}` is not HOST:PORT (such as 127.0.0.1:6379)",
                    config.addr
                ),
            )),
        }
        if config.global_stream.is_empty() {
            errors.push(ConfigError::new("global_stream", "must not be empty"));
        }
        if config.timeout_ms == 0 {
            errors.push(ConfigError::new("timeout_ms", "must be at least 1"));
        }
        errors
    }

    fn open(config: RedisStreamsConfig) -> Result<Self, String> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut conn = Connection::connect(&config.addr, timeout)
            .map_err(|e| format!("cannot connect to redis at {}: {e}", config.addr))?;
        match conn.call(&[b"PING"]) {
            Ok(Reply::Simple(_)) => {}
            Ok(other) => {
                return Err(format!(
                    "redis at {} answered PING with {other:?}",
                    config.addr
                ))
            }
            Err(e) => return Err(format!("redis at {}: {e}", config.addr)),
        }
        Ok(RedisStreams {
            conn,
            prefix: config.prefix,
            global: config.global_stream,
            maxlen: config.maxlen.to_string(),
            out: Vec::new(),
            key: Vec::new(),
        })
    }

    fn write(&mut self, records: &[Record<'_>]) -> Result<(), String> {
        self.out.clear();
        for r in records {
            self.key.clear();
            match r.symbol {
                Some(s) => {
                    self.key.extend_from_slice(self.prefix.as_bytes());
                    self.key.extend_from_slice(s.as_bytes());
                }
                None => self.key.extend_from_slice(self.global.as_bytes()),
            }
            if self.maxlen == "0" {
                resp::encode(
                    &mut self.out,
                    &[
                        b"XADD",
                        &self.key,
                        b"*",
                        b"type",
                        r.kind.as_bytes(),
                        b"record",
                        r.bytes,
                    ],
                );
            } else {
                resp::encode(
                    &mut self.out,
                    &[
                        b"XADD",
                        &self.key,
                        b"MAXLEN",
                        b"~",
                        self.maxlen.as_bytes(),
                        b"*",
                        b"type",
                        r.kind.as_bytes(),
                        b"record",
                        r.bytes,
                    ],
                );
            }
        }
        self.conn
            .send(&self.out)
            .map_err(|e| format!("redis write: {e}"))?;
        let mut first_error = None;
        for _ in records {
            match self.conn.read().map_err(|e| format!("redis reply: {e}"))? {
                Reply::Error(e) => {
                    first_error.get_or_insert(e);
                }
                Reply::Bulk(Some(_)) => {}
                other => {
                    first_error.get_or_insert(format!("unexpected reply to XADD: {other:?}"));
                }
            }
        }
        match first_error {
            Some(e) => Err(format!("redis refused a record: {e}")),
            None => Ok(()),
        }
    }
}

kobe_plugin_sdk::export_plugin!(sink: RedisStreams);

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_plugin_sdk::testing::SinkHarness;
    use serde_json::json;

    #[test]
    fn config_problems_carry_their_paths() {
        let errors =
            SinkHarness::<RedisStreams>::validate(json!({"addr": "nowhere", "timeout_ms": 0}));
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["addr", "timeout_ms"]);
        let errors = SinkHarness::<RedisStreams>::validate(json!({}));
        assert!(errors[0].message.contains("addr"), "{errors:?}");
    }

    #[test]
    fn commands_are_resp_arrays() {
        let mut out = Vec::new();
        resp::encode(&mut out, &[b"XADD", b"k", b"*"]);
        assert_eq!(out, b"*3\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n");
    }
}
