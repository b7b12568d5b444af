//! Kraken spot WebSocket v2: wire types, the frame decoder, the live source, the reconnect
//! policy, and a protocol-faithful simulator for tests and demos.
pub mod decode;
