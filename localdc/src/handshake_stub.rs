//! Stand-in until `mtproto::auth` lands on main: refuses every unencrypted
//! packet with −404. Replaced by handshake.rs on merge.

use mtproto::crypto::RsaPrivateKey;

use crate::state::Shared;

pub(crate) type HandshakeConfig = std::sync::Arc<(RsaPrivateKey, i32)>;

pub(crate) fn config(rsa_key: RsaPrivateKey, dc_id: i32) -> HandshakeConfig {
    std::sync::Arc::new((rsa_key, dc_id))
}

pub(crate) enum PlainAnswer {
    #[allow(dead_code)]
    Reply(Vec<u8>),
    Error(i32),
}

pub(crate) struct Handshakes;

impl Handshakes {
    pub fn new() -> Self {
        Handshakes
    }

    pub fn handle(&mut self, _packet: &[u8], _shared: &Shared) -> PlainAnswer {
        PlainAnswer::Error(-404)
    }
}
