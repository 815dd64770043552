//! Telegram's API schema, built into the library.
//!
//! Every serious client ships the schema it speaks, so a caller can build
//! `help.getConfig` without first finding an `api.tl`. The bundled text is
//! `core/tl/api.tl` (Telegram's published layer, updated with
//! `scripts/update-schema.sh`), stored deflated by the build script and
//! parsed once, on first use, together with the MTProto service schema
//! `core/tl/mtproto.tl`.

use std::io::Read as _;
use std::sync::{Arc, OnceLock};

use super::Schema;

include!(concat!(env!("OUT_DIR"), "/api_tl.rs"));

/// `tl/api.tl`, deflated at build time.
static API_TL_DEFLATED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/api.tl.deflate"));

/// The service schema the session layer's types are generated from.
const SERVICE_TL: &str = include_str!("../../../tl/mtproto.tl");

/// The bundled `api.tl` as text (inflated on each call; the parsed
/// [`Schema::telegram`] is what is cached).
pub fn api_tl_text() -> String {
    let mut text = String::with_capacity(API_TL_LEN);
    flate2::read::DeflateDecoder::new(API_TL_DEFLATED)
        .read_to_string(&mut text)
        .expect("the build script deflated valid UTF-8");
    text
}

impl Schema {
    /// Telegram's API schema of layer [`API_LAYER`] plus the MTProto service
    /// schema (`ping`, `pong`, `rpc_error`, `future_salts`, …), parsed on the
    /// first call and shared afterwards: later calls are a reference-count
    /// increment. [`Schema::layer`] returns [`API_LAYER`].
    ///
    /// Where the two schemas use one name for different things, the API
    /// wins: `message` is the chat message, not the service envelope inside
    /// `msg_container` (which the session unpacks; an application never
    /// sees one).
    ///
    /// To add declarations (a test API, a newer method), clone the schema
    /// and [`extend`](Schema::extend) the clone.
    ///
    /// ```
    /// use mtproto::tl::schema::{Schema, API_LAYER};
    /// let schema = Schema::telegram();
    /// assert_eq!(schema.layer(), Some(API_LAYER));
    /// let bytes = schema.encode(&serde_json::json!({"_": "help.getConfig"})).unwrap();
    /// assert_eq!(bytes, 0xc4f9186bu32.to_le_bytes());
    /// ```
    pub fn telegram() -> Arc<Schema> {
        static TELEGRAM: OnceLock<Arc<Schema>> = OnceLock::new();
        TELEGRAM
            .get_or_init(|| Arc::new(Schema::load_telegram()))
            .clone()
    }

    /// Inflates and parses the bundled schemas afresh: what the first call
    /// of [`Schema::telegram`] does (a few milliseconds), without the cache.
    pub fn load_telegram() -> Schema {
        let mut schema = Schema::parse(SERVICE_TL).expect("the service schema parses");
        schema
            .extend(&api_tl_text())
            .expect("the bundled api.tl parses");
        schema.set_layer(Some(API_LAYER));
        schema
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tl::schema::Category;
    use serde_json::json;

    /// L-9: the layer constant, the schema's layer and the text agree.
    #[test]
    fn l9_layer_comes_from_the_bundled_text() {
        const { assert!(API_LAYER >= 228, "the bundled layer never goes back") };
        assert_eq!(Schema::telegram().layer(), Some(API_LAYER));
        let text = api_tl_text();
        assert!(text.trim_end().ends_with(&format!("// LAYER {API_LAYER}")));
        assert_eq!(Schema::parse(&text).unwrap().layer(), Some(API_LAYER));
        assert_eq!(text.len(), API_TL_LEN);
        assert_eq!(crate::client::DEFAULT_LAYER, API_LAYER);
    }

    /// Parsed once: every call hands out the same schema.
    #[test]
    fn parsed_once_and_shared() {
        assert!(Arc::ptr_eq(&Schema::telegram(), &Schema::telegram()));
    }

    /// B-7, B-12: a real request and a real result through the bundled schema.
    #[test]
    fn b12_help_get_config_and_config_round_trip() {
        let s = Schema::telegram();
        assert_eq!(
            s.encode(&json!({"_": "help.getConfig"})).unwrap(),
            0xc4f9186bu32.to_le_bytes()
        );
        let config = sample_config();
        let bytes = s.encode(&config).unwrap();
        assert_eq!(&bytes[..4], &s.get("config").unwrap().id.to_le_bytes());
        assert_eq!(
            s.decode_function_result("help.getConfig", &bytes).unwrap(),
            config
        );
    }

    /// The service schema is there too, and where names collide the API wins.
    #[test]
    fn service_declarations_are_included() {
        let s = Schema::telegram();
        assert_eq!(s.get("ping").unwrap().id, 0x7abe77ec);
        assert_eq!(s.get("rpc_error").unwrap().id, 0x2144ca19);
        let pong = json!({"_": "pong", "msg_id": 5, "ping_id": 7});
        assert_eq!(s.decode(&s.encode(&pong).unwrap()).unwrap(), pong);
        let message = s.get("message").unwrap();
        assert!(message.explicit_id);
        assert_eq!(message.category, Category::Type);
        assert!(s.len() > 2000);
    }

    /// A `config` as `help.getConfig` returns it (every required field).
    pub(crate) fn sample_config() -> serde_json::Value {
        json!({
            "_": "config",
            "default_p2p_contacts": true,
            "preload_featured_stickers": false,
            "revoke_pm_inbox": true,
            "blocked_mode": false,
            "force_try_ipv6": false,
            "date": 1_700_000_000,
            "expires": 1_700_003_600,
            "test_mode": false,
            "this_dc": 2,
            "dc_options": [
                {"_": "dcOption", "ipv6": false, "media_only": false, "tcpo_only": false,
                 "cdn": false, "static": false, "this_port_only": false,
                 "id": 2, "ip_address": "149.154.167.50", "port": 443},
                {"_": "dcOption", "ipv6": true, "media_only": false, "tcpo_only": false,
                 "cdn": false, "static": false, "this_port_only": false,
                 "id": 2, "ip_address": "2001:67c:4e8:f002::a", "port": 443,
                 "secret": "AAECAwQFBgcICQoLDA0ODw=="},
            ],
            "dc_txt_domain_name": "apv3.stel.com",
            "chat_size_max": 200,
            "megagroup_size_max": 200_000,
            "forwarded_count_max": 100,
            "online_update_period_ms": 210_000,
            "offline_blur_timeout_ms": 5000,
            "offline_idle_timeout_ms": 30_000,
            "online_cloud_timeout_ms": 300_000,
            "notify_cloud_delay_ms": 30_000,
            "notify_default_delay_ms": 1500,
            "push_chat_period_ms": 60_000,
            "push_chat_limit": 2,
            "edit_time_limit": 172_800,
            "revoke_time_limit": 2_147_483_647,
            "revoke_pm_time_limit": 2_147_483_647,
            "rating_e_decay": 2_419_200,
            "stickers_recent_limit": 200,
            "channels_read_media_period": 604_800,
            "call_receive_timeout_ms": 20_000,
            "call_ring_timeout_ms": 90_000,
            "call_connect_timeout_ms": 30_000,
            "call_packet_timeout_ms": 10_000,
            "me_url_prefix": "https://t.me/",
            "caption_length_max": 1024,
            "message_length_max": 4096,
            "webfile_dc_id": 4,
            "reactions_default": {"_": "reactionEmoji", "emoticon": "👍"},
        })
    }
}
