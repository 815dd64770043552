//! Tests of the key exchange. Each test names the PROTOCOL.md items it
//! proves.
//!
//! - `client_vector`: the published sample exchange, byte for byte.
//! - `client_checks`: one negative test per client-side check.
//! - `exchange`: client against server in memory, every variant.
//! - `server_checks`: one negative test per server-side check.

mod client_checks;
mod client_vector;
mod exchange;
mod server_checks;
