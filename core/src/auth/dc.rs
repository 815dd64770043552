//! The `dc` field of the handshake's inner data.
//!
//! The client tells the server which data center it believes it is talking
//! to, so a misrouted connection fails early (transport error −444) instead
//! of creating a key on the wrong DC. The number is encoded: test DCs add
//! 10000, media-only DCs are negated.

/// What a test DC adds to its number.
pub const TEST_DC_OFFSET: i32 = 10_000;

/// Encodes a DC number for `p_q_inner_data_dc.dc` /
/// `p_q_inner_data_temp_dc.dc`: `+10000` for a test DC, negative for
/// a media DC. Out-of-range numbers saturate instead of overflowing.
pub fn encode_dc_id(dc: i32, test: bool, media: bool) -> i32 {
    let id = if test {
        dc.saturating_add(TEST_DC_OFFSET)
    } else {
        dc
    };
    if media {
        id.saturating_neg()
    } else {
        id
    }
}

/// An encoded DC id taken apart again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcId {
    /// The plain DC number (1..=5 in production).
    pub number: i32,
    pub test: bool,
    pub media: bool,
}

/// Inverse of [`encode_dc_id`]. Any absolute value of 10000 or more is
/// read as a test DC.
pub fn decode_dc_id(encoded: i32) -> DcId {
    let media = encoded < 0;
    let abs = encoded.saturating_abs();
    let test = abs >= TEST_DC_OFFSET;
    DcId {
        number: if test { abs - TEST_DC_OFFSET } else { abs },
        test,
        media,
    }
}

/// The server's rule for the inner `dc`.
///
/// `server_dc` is the id of the DC the server *is*, in the same encoding
/// the clients use but without the media sign: `encode_dc_id(n, test,
/// false)`, e.g. `2` for production DC 2 and `10002` for test DC 2. The
/// client may address it as the plain or the media DC (`server_dc` or
/// `-server_dc`). Anything else — another number, or the right number in
/// the other environment (test/prod mismatch) — is rejected, and the
/// driver answers transport error −444.
pub fn server_accepts_dc(server_dc: i32, inner_dc: i32) -> bool {
    inner_dc == server_dc || inner_dc == server_dc.saturating_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A-7, T-14: test +10000, media negative, both combined.
    #[test]
    fn a7_encode_dc_id() {
        assert_eq!(encode_dc_id(2, false, false), 2);
        assert_eq!(encode_dc_id(2, true, false), 10002);
        assert_eq!(encode_dc_id(4, false, true), -4);
        assert_eq!(encode_dc_id(4, true, true), -10004);
        // No overflow on hostile input.
        assert_eq!(encode_dc_id(i32::MAX, true, true), -i32::MAX);
        assert_eq!(encode_dc_id(i32::MIN, false, true), i32::MAX);
        for (n, t, m) in [
            (1, false, false),
            (5, true, false),
            (3, false, true),
            (2, true, true),
        ] {
            assert_eq!(
                decode_dc_id(encode_dc_id(n, t, m)),
                DcId {
                    number: n,
                    test: t,
                    media: m
                }
            );
        }
    }

    /// the server accepts its own id and its media form only.
    #[test]
    fn a7_server_dc_rule() {
        assert!(server_accepts_dc(2, 2));
        assert!(server_accepts_dc(2, -2));
        assert!(!server_accepts_dc(2, 10002)); // test client on a prod server
        assert!(!server_accepts_dc(10002, 2)); // prod client on a test server
        assert!(server_accepts_dc(10002, -10002));
        assert!(!server_accepts_dc(2, 3));
        assert!(!server_accepts_dc(2, i32::MIN));
    }
}
