//! A minimal raw MTProto client for these tests only: the core's sans-IO
//! client pieces (transport codec, session) driven over a real
//! `tokio::net::TcpStream`. The real client runtime lives in the core;
//! this one exists so the server is tested against an independent driver.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mtproto::auth::{AuthOutcome, ClientConfig, ClientHandshake, ClientStep, PlainChannel};
use mtproto::crypto::{msg_key_large, AuthKey, Direction, RsaPublicKey};
use mtproto::mtp::envelope;
use mtproto::mtp::{CallId, Event, RequestError, Role, Session, SessionTuning};
use mtproto::transport::{
    quick_ack_token, ClientCodec, Framing, Incoming, ObfuscationParams, TransportErrorCode,
};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// No single wait in these tests should come near this.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Local Unix time, as the client's sans-IO pieces take it.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
}

/// Every transport a client can pick: the four framings plain, and the
/// three that can be obfuscated (the full transport cannot, T-14).
pub fn all_transports() -> Vec<(Framing, bool)> {
    let mut v: Vec<_> = Framing::ALL.iter().map(|&f| (f, false)).collect();
    v.extend(
        Framing::ALL
            .iter()
            .filter(|f| f.obfuscation_tag().is_some())
            .map(|&f| (f, true)),
    );
    v
}

/// One TCP connection with a client transport codec.
pub struct Conn {
    stream: TcpStream,
    codec: ClientCodec<StdRng>,
    /// Received bytes not yet taken by the codec.
    unfed: Vec<u8>,
    eof: bool,
}

impl Conn {
    pub async fn connect(addr: SocketAddr, framing: Framing, obfuscated: bool) -> Conn {
        let params = obfuscated.then(ObfuscationParams::direct);
        Self::connect_with(addr, framing, params).await
    }

    pub async fn connect_with(
        addr: SocketAddr,
        framing: Framing,
        obfuscation: Option<ObfuscationParams>,
    ) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect to localdc");
        stream.set_nodelay(true).expect("nodelay");
        let codec = ClientCodec::new(framing, obfuscation, StdRng::from_entropy())
            .expect("valid transport");
        Conn {
            stream,
            codec,
            unfed: Vec::new(),
            eof: false,
        }
    }

    /// Frames and sends one payload.
    pub async fn send(&mut self, payload: &[u8], quick_ack: bool) {
        let mut out = Vec::new();
        self.codec
            .encode(payload, quick_ack, &mut out)
            .expect("frame the payload");
        self.send_raw(&out).await;
    }

    /// Sends bytes as they are (for malformed input).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // A write to a connection the server closed may fail; the test
        // then sees the close on the read side.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next item from the server; `None` once the server closed the
    /// connection. Cancel-safe: only the socket read awaits.
    pub async fn recv(&mut self) -> Option<Incoming> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(item) = self.codec.poll().expect("server stream decodes") {
                return Some(item);
            }
            if !self.unfed.is_empty() {
                let n = self.codec.feed(&self.unfed).expect("server stream decodes");
                self.unfed.drain(..n);
                if n > 0 {
                    continue;
                }
            }
            if self.eof {
                return None;
            }
            match self.stream.read(&mut buf).await {
                Ok(0) => self.eof = true,
                Err(e) => {
                    eprintln!("DEBUG read error {e}");
                    self.eof = true
                }
                Ok(n) => self.unfed.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// [`recv`](Self::recv) that fails the test after [`PATIENCE`].
    pub async fn recv_patiently(&mut self) -> Option<Incoming> {
        tokio::time::timeout(PATIENCE, self.recv())
            .await
            .expect("the server answers in time")
    }

    /// Waits for the transport error the server must send next.
    pub async fn expect_error(&mut self) -> TransportErrorCode {
        match self.recv_patiently().await {
            Some(Incoming::Error(code)) => code,
            other => panic!("expected a transport error, got {other:?}"),
        }
    }

    /// Reads until the server closes the connection.
    pub async fn expect_closed(&mut self) {
        tokio::time::timeout(PATIENCE, async { while self.recv().await.is_some() {} })
            .await
            .expect("the server closes the connection in time");
    }
}

/// How a key exchange ended when it did not produce a key.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeEnd {
    /// The server sent this transport error (T-11).
    Transport(TransportErrorCode),
    /// The server closed the connection.
    Closed,
}

/// Runs the key exchange (A-2..A-19) on `conn` as a client that trusts
/// `server_key` and names DC `dc_id` (encoded, A-7); `temp` asks for a
/// temporary key valid that many seconds.
pub async fn handshake(
    conn: &mut Conn,
    server_key: &RsaPublicKey,
    dc_id: i32,
    temp: Option<i32>,
) -> Result<AuthOutcome, HandshakeEnd> {
    let mut rng = StdRng::from_entropy();
    let config = ClientConfig {
        temp_expires_in: temp,
        ..ClientConfig::new(vec![server_key.clone()], dc_id)
    };
    let (mut hs, first) = ClientHandshake::start(config, &mut rng);
    let mut plain = PlainChannel::new(Role::Client);
    conn.send(&plain.pack(&first, now()), false).await;
    loop {
        let packet = match conn.recv_patiently().await {
            Some(Incoming::Packet(p)) => p,
            Some(Incoming::Error(code)) => return Err(HandshakeEnd::Transport(code)),
            Some(Incoming::QuickAck(_)) => continue,
            None => return Err(HandshakeEnd::Closed),
        };
        let (_, body) = plain.unpack(&packet).expect("a well-formed server message");
        match hs
            .handle(body, now(), &mut rng)
            .expect("the server's answer passes every client check")
        {
            ClientStep::Send(next) => conn.send(&plain.pack(&next, now()), false).await,
            ClientStep::Done(outcome) => return Ok(outcome),
        }
    }
}

/// A connection on which a key was just created, with a session on it.
pub async fn exchanged_client(
    dc: &mtproto_localdc::LocalDc,
    framing: Framing,
    obfuscated: bool,
) -> Client {
    let mut conn = Conn::connect(dc.addr(), framing, obfuscated).await;
    let outcome = handshake(&mut conn, &dc.public_key(), dc.dc_id(), None)
        .await
        .expect("key exchange succeeds");
    Client::new(
        conn,
        outcome.auth_key,
        outcome.server_salt,
        outcome.time_offset,
    )
}

/// A random auth key, for tests that register keys instead of running the
/// key exchange.
pub fn random_key() -> AuthKey {
    let mut bytes = [0u8; 256];
    rand::thread_rng().fill_bytes(&mut bytes);
    AuthKey::from_bytes(&bytes)
}

/// A session over a [`Conn`]: the client side of the message layer.
pub struct Client {
    pub conn: Conn,
    pub session: Session,
    results: HashMap<CallId, Result<Vec<u8>, RequestError>>,
    pub updates: Vec<Vec<u8>>,
    pub quick_acks: Vec<u32>,
    pub events: Vec<Event>,
    /// Tokens of the packets sent with a quick-ack request.
    pub expected_acks: Vec<u32>,
    /// Ask the server for a quick ack of every packet sent.
    pub request_quick_acks: bool,
}

impl Client {
    pub fn new(conn: Conn, key: AuthKey, salt: i64, time_offset: i64) -> Client {
        Self::with_config(conn, key, salt, time_offset, SessionTuning::default())
    }

    pub fn with_config(
        conn: Conn,
        key: AuthKey,
        salt: i64,
        time_offset: i64,
        config: SessionTuning,
    ) -> Client {
        let mut session = Session::new(config, key, salt, time_offset, &mut rand::thread_rng());
        session.on_connected(now());
        Client {
            conn,
            session,
            results: HashMap::new(),
            updates: Vec::new(),
            quick_acks: Vec::new(),
            events: Vec::new(),
            expected_acks: Vec::new(),
            request_quick_acks: false,
        }
    }

    /// Moves the session to a new connection (M-10 on the client side).
    pub fn reconnect(&mut self, conn: Conn) {
        self.session.on_disconnected();
        self.conn = conn;
        self.session.on_connected(now());
    }

    /// Sends whatever the session wants to send.
    pub async fn flush(&mut self) {
        while let Some(packet) = self.session.poll_transmit(now()) {
            if self.request_quick_acks {
                let mut copy = packet.clone();
                let key = self.session.auth_key().clone();
                envelope::decrypt(&key, Direction::ClientToServer, &mut copy)
                    .expect("own packet decrypts");
                let large = msg_key_large(
                    &key,
                    &copy[envelope::OUTER_HEADER_LEN..],
                    Direction::ClientToServer,
                );
                self.expected_acks.push(quick_ack_token(&large));
            }
            self.conn.send(&packet, self.request_quick_acks).await;
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            match e {
                Event::Result { id, result } => {
                    self.results.insert(id, result);
                }
                Event::Update(u) => self.updates.push(u),
                other => self.events.push(other),
            }
        }
    }

    /// Exchanges packets and runs timers for up to `limit`, until `done`
    /// holds. Panics on a transport error or a closed connection.
    pub async fn pump_until(&mut self, limit: Duration, mut done: impl FnMut(&Client) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.session.handle_timeout(now());
            self.flush().await;
            self.collect_events();
            if done(self) {
                return;
            }
            let now_i = tokio::time::Instant::now();
            assert!(now_i < deadline, "condition not met within {limit:?}");
            let wait = (deadline - now_i).min(Duration::from_millis(50));
            match tokio::time::timeout(wait, self.conn.recv()).await {
                Err(_) => {}
                Ok(None) => panic!("the server closed the connection"),
                Ok(Some(Incoming::Packet(mut p))) => self
                    .session
                    .handle_packet(&mut p, now())
                    .expect("the client accepts the server's packet"),
                Ok(Some(Incoming::QuickAck(t))) => self.quick_acks.push(t),
                Ok(Some(Incoming::Error(code))) => panic!("server sent transport error {code}"),
            }
        }
    }

    /// Exchanges packets for a while, whatever happens.
    pub async fn pump_for(&mut self, time: Duration) {
        let end = tokio::time::Instant::now() + time;
        self.pump_until(time + Duration::from_secs(1), |_| {
            tokio::time::Instant::now() >= end
        })
        .await;
    }

    /// The result of a request, once it ended.
    pub fn take_result(&mut self, id: CallId) -> Option<Result<Vec<u8>, RequestError>> {
        self.results.remove(&id)
    }

    pub fn has_result(&self, id: CallId) -> bool {
        self.results.contains_key(&id)
    }

    /// Sends a request and waits for its result.
    pub async fn invoke(&mut self, body: Vec<u8>) -> Result<Vec<u8>, RequestError> {
        let id = self.session.invoke(body);
        self.pump_until(PATIENCE, |c| c.has_result(id)).await;
        self.take_result(id).expect("result present")
    }

    pub fn new_session_events(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::NewSessionCreated { .. }))
            .count()
    }
}

/// A connection plus a key the DC knows (registered, not exchanged).
pub async fn registered_client(
    dc: &mtproto_localdc::LocalDc,
    framing: Framing,
    obfuscated: bool,
) -> Client {
    let key = random_key();
    let salt = rand::thread_rng().next_u64() as i64;
    assert!(dc.add_auth_key(key.clone(), salt));
    let conn = Conn::connect(dc.addr(), framing, obfuscated).await;
    Client::new(conn, key, salt, 0)
}
