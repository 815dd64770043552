//! What a caller says about a session, and the checks that turn it into
//! what the network task runs on.
//!
//! Validation happens on the caller's thread inside
//! [`Runtime::open_session`](crate::runtime::Runtime::open_session), so a
//! bad address, a malformed PEM or an impossible transport is reported as
//! [`Error::InvalidInput`] right away instead of surfacing later as a
//! connection that never works.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::Error;
use crate::auth::encode_dc_id;
use crate::crypto::{parse_pem_bundle, RsaPublicKey};
use crate::mtp::session::init_connection_prefix;
use crate::storage::{MemoryStore, SessionStore};
use crate::tl::service::functions;
use crate::transport::Framing;

/// The layer announced in `invokeWithLayer` when none is configured: the
/// layer of the bundled schema ([`Schema::telegram`](crate::tl::schema::Schema::telegram)).
pub const DEFAULT_LAYER: i32 = crate::tl::schema::API_LAYER;

/// Largest request body accepted from a caller. Real API calls are far
/// smaller (file parts are at most 512 KiB); the bound keeps one call from
/// queueing an unbounded amount of memory on the runtime thread.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// How bytes travel over TCP: the envelope, and whether the connection is
/// obfuscated (T-12..T-17). The default, obfuscated padded intermediate,
/// is what current official clients use and the hardest to fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportKind {
    pub framing: Framing,
    pub obfuscated: bool,
}

impl Default for TransportKind {
    fn default() -> Self {
        TransportKind {
            framing: Framing::PaddedIntermediate,
            obfuscated: true,
        }
    }
}

/// When to try again after a connection is lost or could not be made.
///
/// The n-th consecutive failure waits `initial_delay * 2^n`, capped at
/// `max_delay`, then shortened by a random fraction of up to `jitter` so
/// that many clients dropped at once do not come back in lockstep. The
/// counter resets once a connection delivers a valid packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconnectPolicy {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// 0.0 (no randomness) ..= 1.0 (anywhere between 0 and the delay).
    pub jitter: f64,
    /// The least a reconnect waits after the server answered −429
    /// (transport flood, T-11); still capped by `max_delay`.
    pub flood_delay: Duration,
}

impl ReconnectPolicy {
    /// Quick retries for a machine on a stable network: 0.5 s doubling up
    /// to 16 s.
    pub const fn desktop() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
            jitter: 0.2,
            flood_delay: Duration::from_secs(8),
        }
    }

    /// Patient retries that spare the radio and battery: 1 s doubling up
    /// to 5 minutes.
    pub const fn mobile() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            jitter: 0.3,
            flood_delay: Duration::from_secs(30),
        }
    }

    /// The delay before reconnect attempt `attempt` (0 = first retry),
    /// with `unit` in `[0, 1)` drawing the jitter. Pure, for tests.
    pub fn delay_with(&self, attempt: u32, flood: bool, unit: f64) -> Duration {
        let cap = self.max_delay.as_secs_f64();
        let base = self.initial_delay.as_secs_f64() * 2f64.powi(attempt.min(62) as i32);
        let mut delay = base.min(cap);
        if flood {
            delay = delay.max(self.flood_delay.as_secs_f64()).min(cap);
        }
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::try_from_secs_f64((delay * (1.0 - jitter)).max(0.0)).unwrap_or(self.max_delay)
    }

    /// [`delay_with`](Self::delay_with) with jitter from the thread RNG.
    pub fn delay(&self, attempt: u32, flood: bool) -> Duration {
        self.delay_with(attempt, flood, rand::thread_rng().gen::<f64>())
    }

    fn validate(&self) -> Result<(), Error> {
        if self.initial_delay.is_zero() {
            return invalid("reconnect.initial_delay must be positive");
        }
        if self.max_delay < self.initial_delay {
            return invalid("reconnect.max_delay must be at least initial_delay");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return invalid("reconnect.jitter must be within 0.0..=1.0");
        }
        check_duration("reconnect.max_delay", self.max_delay)?;
        check_duration("reconnect.flood_delay", self.flood_delay)
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self::desktop()
    }
}

/// What `initConnection` tells the server about the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub device_model: String,
    pub system_version: String,
    pub app_version: String,
    pub system_lang_code: String,
    pub lang_pack: String,
    pub lang_code: String,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo {
            device_model: "mtproto-rs".into(),
            system_version: std::env::consts::OS.into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            system_lang_code: "en".into(),
            lang_pack: String::new(),
            lang_code: "en".into(),
        }
    }
}

/// Everything needed to open one session: one DC, one auth key, one
/// connection at a time.
#[derive(Clone)]
pub struct SessionConfig {
    /// `"1.2.3.4:443"`, `"[::1]:443"` or `"host.example:443"`. A host name
    /// is resolved again on every connect.
    pub address: String,
    /// The DC number (1..=9999); test DCs are selected with `test_dc`.
    pub dc_id: i32,
    pub test_dc: bool,
    /// A media-only DC: the key exchange names it with a negative id.
    /// It shares the auth key of the plain DC of the same number.
    pub media: bool,
    /// The server keys trusted for the key exchange, one or more PEM
    /// blocks. May be empty when the store already holds a key.
    pub rsa_public_keys_pem: String,
    pub transport: TransportKind,
    pub connect_timeout: Duration,
    /// The timeout of [`ClientSession::invoke`](super::ClientSession::invoke).
    pub request_timeout: Duration,
    pub reconnect: ReconnectPolicy,
    /// Where the auth key, salts and time offset live.
    pub store: Arc<dyn SessionStore>,
    /// When set, the first request after each connect is wrapped in
    /// `invokeWithLayer(layer, initConnection(api_id, client_info, …))`.
    pub api_id: Option<i32>,
    pub client_info: ClientInfo,
    pub layer: i32,
    /// Interval of `ping_delay_disconnect` keepalives (S-21); `None` turns
    /// them off (and with them the detection of a silently dead link).
    pub ping_interval: Option<Duration>,
    /// After −404 on encrypted traffic the key is gone. By default that
    /// ends the session (a permanent key is an account login, which a new
    /// key does not carry over); `true` creates a new key and goes on.
    pub recreate_lost_key: bool,
    /// Updates kept for a caller that neither set a handler nor pulls;
    /// beyond this the oldest are dropped (and a warning logged).
    pub max_buffered_updates: usize,
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("address", &self.address)
            .field("dc_id", &self.dc_id)
            .field("test_dc", &self.test_dc)
            .field("media", &self.media)
            .field("transport", &self.transport)
            .field("api_id", &self.api_id)
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A configuration with defaults for everything else: obfuscated padded
    /// intermediate, 10 s connect timeout, 30 s request timeout, desktop
    /// reconnect policy, an in-memory store, no initConnection.
    pub fn new(
        address: impl Into<String>,
        dc_id: i32,
        rsa_public_keys_pem: impl Into<String>,
    ) -> Self {
        SessionConfig {
            address: address.into(),
            dc_id,
            test_dc: false,
            media: false,
            rsa_public_keys_pem: rsa_public_keys_pem.into(),
            transport: TransportKind::default(),
            connect_timeout: defaults::CONNECT_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            reconnect: ReconnectPolicy::default(),
            store: Arc::new(MemoryStore::new()),
            api_id: None,
            client_info: ClientInfo::default(),
            layer: DEFAULT_LAYER,
            ping_interval: Some(defaults::PING_INTERVAL),
            recreate_lost_key: false,
            max_buffered_updates: defaults::MAX_BUFFERED_UPDATES,
        }
    }
}

/// The defaults of [`SessionConfig`], in one place. Every binding restates
/// them where its language needs a literal (a Python signature, a UniFFI
/// record default) and checks in its own suite that the literal equals the
/// value exported from here.
pub mod defaults {
    use std::time::Duration;

    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const PING_INTERVAL: Duration = Duration::from_secs(60);
    pub const MAX_BUFFERED_UPDATES: usize = 10_000;
}

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    Socket(SocketAddr),
    Host(String, u16),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Socket(a) => write!(f, "{a}"),
            Address::Host(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// A checked configuration, in the form the network task uses.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub address: Address,
    /// The key of this DC in the store: the DC number, +10000 for a test DC
    /// (media DCs share the plain DC's key).
    pub store_dc: i32,
    /// The DC id of the key exchange's inner data.
    pub inner_dc: i32,
    pub rsa_keys: Vec<RsaPublicKey>,
    pub transport: TransportKind,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub reconnect: ReconnectPolicy,
    pub store: Arc<dyn SessionStore>,
    /// invokeWithLayer(initConnection(…)) without the query.
    pub init_prefix: Option<Vec<u8>>,
    pub ping_interval: Option<Duration>,
    pub recreate_lost_key: bool,
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::InvalidInput(msg.into()))
}

/// The longest duration any setting accepts. Larger values are mistakes
/// (and would overflow deadline arithmetic).
pub const MAX_SETTING: Duration = Duration::from_secs(7 * 86_400);

fn check_duration(name: &str, d: Duration) -> Result<(), Error> {
    if d > MAX_SETTING {
        return invalid(format!(
            "{name} exceeds {} days",
            MAX_SETTING.as_secs() / 86_400
        ));
    }
    Ok(())
}

/// Parses `host:port`, `ip:port` or `[ipv6]:port`.
pub(crate) fn parse_address(text: &str) -> Result<Address, Error> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return invalid(format!("address {text:?} has port 0"));
        }
        return Ok(Address::Socket(addr));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return invalid(format!("address {text:?} is not host:port"));
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return invalid(format!("address {text:?} has no valid port")),
    };
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if !valid_host {
        return invalid(format!("address {text:?} has no valid host name"));
    }
    Ok(Address::Host(host.to_owned(), port))
}

impl SessionConfig {
    /// Checks everything that can be checked without the network.
    pub(crate) fn prepare(&self) -> Result<Prepared, Error> {
        let address = parse_address(&self.address)?;
        if !(1..10_000).contains(&self.dc_id) {
            return invalid(format!("dc_id {} is not within 1..=9999", self.dc_id));
        }
        let rsa_keys = if self.rsa_public_keys_pem.trim().is_empty() {
            Vec::new()
        } else {
            let keys = parse_pem_bundle(&self.rsa_public_keys_pem)
                .map_err(|e| Error::InvalidInput(format!("rsa_public_keys_pem: {e}")))?;
            if keys.is_empty() {
                return invalid("rsa_public_keys_pem holds no RSA public key");
            }
            keys
        };
        if self.transport.obfuscated && self.transport.framing == Framing::Full {
            return invalid("the full transport cannot be obfuscated (T-14)");
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout must be positive");
        }
        if self.request_timeout.is_zero() {
            return invalid("request_timeout must be positive");
        }
        if let Some(p) = self.ping_interval {
            if p < Duration::from_secs(1) {
                return invalid("ping_interval must be at least one second");
            }
            check_duration("ping_interval", p)?;
        }
        check_duration("connect_timeout", self.connect_timeout)?;
        check_duration("request_timeout", self.request_timeout)?;
        self.reconnect.validate()?;
        if self.layer <= 0 {
            return invalid(format!("layer {} must be positive", self.layer));
        }
        let init_prefix = self.api_id.map(|api_id| {
            let info = &self.client_info;
            init_connection_prefix(
                self.layer,
                &functions::InitConnection {
                    api_id,
                    device_model: info.device_model.clone(),
                    system_version: info.system_version.clone(),
                    app_version: info.app_version.clone(),
                    system_lang_code: info.system_lang_code.clone(),
                    lang_pack: info.lang_pack.clone(),
                    lang_code: info.lang_code.clone(),
                    proxy: None,
                    params: None,
                    query: Vec::new(),
                },
            )
        });
        let store_dc = encode_dc_id(self.dc_id, self.test_dc, false);
        let inner_dc = encode_dc_id(self.dc_id, self.test_dc, self.media);
        Ok(Prepared {
            address,
            store_dc,
            inner_dc,
            rsa_keys,
            transport: self.transport,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            reconnect: self.reconnect,
            store: self.store.clone(),
            init_prefix,
            ping_interval: self.ping_interval,
            recreate_lost_key: self.recreate_lost_key,
        })
    }
}

/// Checks a request body from a caller: a TL-serialized call is at least a
/// constructor id and always a multiple of 4 bytes long.
pub(crate) fn check_request(body: &[u8]) -> Result<(), Error> {
    if body.len() < 4 {
        return invalid(format!(
            "a request is at least 4 bytes (a constructor id), got {}",
            body.len()
        ));
    }
    if body.len() % 4 != 0 {
        return invalid(format!(
            "a TL request is a multiple of 4 bytes long, got {}",
            body.len()
        ));
    }
    if body.len() > MAX_REQUEST_BYTES {
        return invalid(format!(
            "a request of {} bytes exceeds the limit of {MAX_REQUEST_BYTES}",
            body.len()
        ));
    }
    Ok(())
}
