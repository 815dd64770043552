//! Hex helpers shared by the crypto tests.

/// Decodes a hex string (any case); panics on malformed test data.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector is valid hex")
}

/// Decodes a hex string into a fixed-size array.
pub(crate) fn arr<const N: usize>(s: &str) -> [u8; N] {
    unhex(s)
        .try_into()
        .expect("test vector has the expected length")
}

/// The auth_key of the published handshake sample (TV §1.9).
pub(crate) const SAMPLE_AUTH_KEY: &str = "83CBD31C0303361FF1C29437A77CBA749C84F28A118646038C7EDD29EF718A1F6A493047D476A6E678D97A4A5CC7990CEA552D68E109869E5BFC86570049CD8F2EB4BA10B6C4123FB8A977774B4C5185B5C96AF7BD7A71DB78E6E6148CED2048869A21B8ED7FBA7F6F2E7722BFA28447AB84A245CB0E6D01261191B753191E744DCFDA522D50167832EE4D5EE90AAA6F31821248F0F06BF5692EF604CFC4316CEDE078F71E17BCEBBE388589E6707AF5BA26E8DD063BB116C4B4E7BEF3B462C3350D0376D42F95D353E46BE4C378D2A60141A2339641F8B712EB3ECFB42B7F26F69E9BB15373E0AC4BE266E1681859DDAAB8CD7D877BB847D2A8BD068A784943";

/// [`SAMPLE_AUTH_KEY`] as an [`AuthKey`](super::AuthKey).
pub(crate) fn sample_auth_key() -> super::AuthKey {
    super::AuthKey::from_bytes(&arr(SAMPLE_AUTH_KEY))
}
