//! A small in-process MTProto server for the client's unit tests: the
//! sans-IO [`ServerSession`] and [`ServerCodec`] behind a loopback TCP
//! listener, with a pre-shared auth key (no key exchange) and a toy API
//! selected by the request's first word. The full test DC is `localdc`;
//! this exists so the runtime/net/client layers can be tested in core.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::crypto::{AuthKey, Direction};
use crate::mtp::envelope;
use crate::mtp::server::{SaltSchedule, ServerEvent, ServerSession};
use crate::net::wall_now;
use crate::storage::{DcState, MemoryStore, SessionStore};
use crate::transport::{ServerCodec, ServerConfig, TransportErrorCode};

/// Answer with the request itself.
pub const OP_ECHO: u32 = 0x0E0E_0E0E;
/// Never answer.
pub const OP_HOLD: u32 = 0x0D0D_0D0D;
/// `OP_PUSH count:u32`: push `count` updates `[OP_UPDATE, n]`, then echo.
pub const OP_PUSH: u32 = 0x0B0B_0B0B;
pub const OP_UPDATE: u32 = 0x0B0B_0B0C;
/// Answer rpc_error 401 AUTH_KEY_UNREGISTERED.
pub const OP_UNREGISTERED: u32 = 0x0A0A_0A0A;
/// Echo, then ignore everything for 300 ms and close the connection: what
/// the client sent meanwhile is lost and must be resent.
pub const OP_DROP: u32 = 0x0C0C_0C0C;
/// Echo, then forget every session (a server restart): the next message
/// gets new_session_created.
pub const OP_FORGET: u32 = 0x0F0F_0F0F;
/// Forget the auth key: this and every later packet gets transport error
/// −404 and the connection closes (what a server that lost the key does).
pub const OP_404: u32 = 0x0404_0404;
/// Answer (the answer stays queued), then send one −404 and close, as a
/// server hiccup would: the key is still known on the next connection.
pub const OP_404_ONCE: u32 = 0x0404_0405;
/// Never answer; start a 1 MiB frame and send it 1 KiB every 50 ms, so
/// bytes keep coming but no packet completes for 50 s (a trickling peer).
pub const OP_TRICKLE: u32 = 0x0707_0707;

pub const DC: i32 = 2;

pub fn request(op: u32, arg: u32) -> Vec<u8> {
    let mut v = op.to_le_bytes().to_vec();
    v.extend_from_slice(&arg.to_le_bytes());
    v
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub queries: AtomicUsize,
    /// rpc_drop_answer for a running query (S-20).
    pub cancelled: AtomicUsize,
    /// Server clock minus real clock, seconds.
    pub skew: AtomicI64,
}

struct State {
    key: AuthKey,
    salts: SaltSchedule,
    sessions: HashMap<i64, ServerSession>,
    rng: StdRng,
    /// OP_404 ran: the key is unknown from now on.
    key_lost: bool,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub key: AuthKey,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

pub fn test_key() -> AuthKey {
    let mut k = [0u8; 256];
    for (i, b) in k.iter_mut().enumerate() {
        *b = (i * 31 + 7) as u8;
    }
    AuthKey::from_bytes(&k)
}

impl FakeServer {
    pub fn start() -> FakeServer {
        let key = test_key();
        let stats = Arc::new(Stats::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let state = Arc::new(Mutex::new(State {
            key: key.clone(),
            // Starts two hours back so that skewed server clocks find a salt.
            salts: SaltSchedule::new(0x5A17, wall_now().as_secs() as i64 - 7200, 1800),
            sessions: HashMap::new(),
            rng: StdRng::seed_from_u64(7),
            key_lost: false,
        }));
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("fake-dc".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    addr_tx.send(listener.local_addr().unwrap()).unwrap();
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            st.connections.fetch_add(1, Ordering::SeqCst);
                            tokio::spawn(serve(stream, state.clone(), st.clone()));
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .unwrap();
        FakeServer {
            addr: addr_rx.recv().unwrap(),
            key,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// A store that already holds the server's key (salt 0: the first
    /// message gets bad_server_salt, which the session must absorb).
    pub fn store(&self) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        store
            .save(&DcState {
                dc_id: DC,
                auth_key: self.key.clone(),
                salt: 0,
                future_salts: Vec::new(),
                time_offset: 0,
            })
            .unwrap();
        store
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn server_now(stats: &Stats) -> Duration {
    let skew = stats.skew.load(Ordering::SeqCst);
    let now = wall_now();
    if skew >= 0 {
        now + Duration::from_secs(skew as u64)
    } else {
        now - Duration::from_secs(skew.unsigned_abs())
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, stats: Arc<Stats>) {
    let mut codec = ServerCodec::new(ServerConfig::default(), StdRng::from_entropy());
    let mut buf = vec![0u8; 16 * 1024];
    let mut session_id: Option<i64> = None;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut data = &buf[..n];
        let mut out = Vec::new();
        let mut close = false;
        let mut drop_after = false;
        let mut trickle = false;
        while !data.is_empty() && !drop_after {
            let Ok(taken) = codec.feed(data) else { return };
            data = &data[taken..];
            while let Ok(Some(received)) = codec.poll() {
                let mut payload = received.payload;
                let now = server_now(&stats);
                let mut st = state.lock().unwrap();
                let st = &mut *st;
                if st.key_lost {
                    let _ = codec.encode_error(TransportErrorCode::AuthKeyNotFound, &mut out);
                    close = true;
                    break;
                }
                let Ok(d) = envelope::decrypt(&st.key, Direction::ClientToServer, &mut payload)
                else {
                    let _ = codec.encode_error(TransportErrorCode::AuthKeyNotFound, &mut out);
                    close = true;
                    break;
                };
                let sid = d.header.session_id;
                let mut lose_key = false;
                let mut forget = false;
                let session = st.sessions.entry(sid).or_insert_with(|| {
                    ServerSession::new(sid, &mut StdRng::seed_from_u64(sid as u64))
                });
                if session_id != Some(sid) {
                    session_id = Some(sid);
                    session.on_new_connection();
                }
                let body = payload[d.body.clone()].to_vec();
                session.handle_message(&d.header, &body, &mut st.salts, now);
                while let Some(ev) = session.poll_event() {
                    match ev {
                        ServerEvent::Query(q) => {
                            stats.queries.fetch_add(1, Ordering::SeqCst);
                            let op = q
                                .body
                                .get(..4)
                                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                                .unwrap_or(0);
                            let arg = q
                                .body
                                .get(4..8)
                                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                                .unwrap_or(0);
                            match op {
                                OP_HOLD => {}
                                OP_TRICKLE => trickle = true,
                                OP_FORGET => {
                                    session.reply(q.req_msg_id, Ok(q.body));
                                    forget = true;
                                }
                                OP_PUSH => {
                                    for i in 0..arg {
                                        session.push(request(OP_UPDATE, i));
                                    }
                                    session.reply(q.req_msg_id, Ok(q.body));
                                }
                                OP_UNREGISTERED => session.reply(
                                    q.req_msg_id,
                                    Err((401, "AUTH_KEY_UNREGISTERED".into())),
                                ),
                                OP_DROP => {
                                    session.reply(q.req_msg_id, Ok(q.body));
                                    drop_after = true;
                                }
                                OP_404_ONCE => {
                                    session.reply(q.req_msg_id, Ok(q.body));
                                    let _ = codec.encode_error(
                                        TransportErrorCode::AuthKeyNotFound,
                                        &mut out,
                                    );
                                    close = true;
                                }
                                OP_404 => {
                                    lose_key = true;
                                    let _ = codec.encode_error(
                                        TransportErrorCode::AuthKeyNotFound,
                                        &mut out,
                                    );
                                    close = true;
                                }
                                _ => session.reply(q.req_msg_id, Ok(q.body)),
                            }
                        }
                        ServerEvent::Cancelled { .. } => {
                            stats.cancelled.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
                if lose_key {
                    st.key_lost = true;
                }
                if close {
                    break;
                }
                let salt = st.salts.current(now.as_secs() as i64, &mut st.rng);
                while let Some(pkt) = session.poll_transmit(&st.key, salt, now, 1024) {
                    let _ = codec.encode(&pkt, &mut out);
                }
                if forget {
                    st.sessions.clear();
                    session_id = None;
                }
                if drop_after {
                    break;
                }
            }
            if close {
                break;
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if close {
            return;
        }
        if trickle {
            let mut frame = Vec::new();
            let _ = codec.encode(&vec![0x55u8; 1 << 20], &mut frame);
            for chunk in frame.chunks(1024) {
                if stream.write_all(chunk).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return;
        }
        if drop_after {
            // Stay silent for a while: whatever the client sends now is
            // read and thrown away, as if lost with the connection.
            let _ = tokio::time::timeout(Duration::from_millis(300), async {
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
            // A graceful close: FIN after the answers, and the client's
            // unread bytes drained (closing with them unread would reset
            // the connection and could destroy the answers in flight).
            let _ = stream.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            })
            .await;
            return;
        }
    }
}
