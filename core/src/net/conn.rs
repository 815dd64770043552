//! One TCP connection with its transport codec and two small buffers.
//!
//! Memory matters because a client may keep many idle sessions: the read
//! buffer starts at [`READ_MIN`] bytes, doubles while reads fill it (bulk
//! transfer) up to [`READ_MAX`], and drops back once traffic is light
//! again. The write buffer is released after a large flush. A frame larger
//! than the read buffer is assembled by the codec, which allocates exactly
//! that frame's size.

use std::fmt;
use std::io;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::TransportKind;
use crate::transport::{ClientCodec, Incoming, ObfuscationParams, TransportError};

/// Initial (and idle) read buffer size.
const READ_MIN: usize = 2 * 1024;
/// Largest read buffer.
const READ_MAX: usize = 64 * 1024;
/// A write buffer larger than this is freed once flushed.
const WRITE_KEEP: usize = 8 * 1024;
/// Reads this much smaller than the buffer, in a row, shrink it back.
const SHRINK_AFTER_SMALL_READS: u32 = 16;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum ConnError {
    Io(io::Error),
    /// The server closed the connection.
    Eof,
    /// The byte stream broke a framing rule (the codec is poisoned).
    Transport(TransportError),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "I/O error: {e}"),
            ConnError::Eof => f.write_str("connection closed by the server"),
            ConnError::Transport(e) => write!(f, "transport: {e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

impl From<TransportError> for ConnError {
    fn from(e: TransportError) -> Self {
        ConnError::Transport(e)
    }
}

/// What [`Conn::io`] observed.
pub(crate) enum Io {
    Read(usize),
    Wrote(usize),
}

pub(crate) struct Conn {
    stream: TcpStream,
    codec: ClientCodec<StdRng>,
    rbuf: Vec<u8>,
    /// Unconsumed received bytes are `rbuf[rpos..rlen]`.
    rpos: usize,
    rlen: usize,
    small_reads: u32,
    /// The last read filled the buffer: grow it before the next.
    grow: bool,
    wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written.
    wpos: usize,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.stream.peer_addr().ok())
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Wraps a connected stream in the configured transport.
    pub fn new(stream: TcpStream, transport: TransportKind) -> Result<Conn, TransportError> {
        let _ = stream.set_nodelay(true);
        let obfuscation = transport.obfuscated.then(ObfuscationParams::direct);
        let codec = ClientCodec::new(transport.framing, obfuscation, StdRng::from_entropy())?;
        Ok(Conn {
            stream,
            codec,
            rbuf: vec![0; READ_MIN],
            rpos: 0,
            rlen: 0,
            small_reads: 0,
            grow: false,
            wbuf: Vec::new(),
            wpos: 0,
        })
    }

    /// Frames one packet into the write buffer, asking the server for a
    /// quick ack of it when `quick_ack` (T-4).
    pub fn queue(&mut self, packet: &[u8], quick_ack: bool) -> Result<(), TransportError> {
        self.codec.encode(packet, quick_ack, &mut self.wbuf)
    }

    /// Whether this connection's framing has quick acks (all but full).
    pub fn supports_quick_ack(&self) -> bool {
        self.codec.framing().supports_quick_ack()
    }

    /// Bytes framed and not yet written.
    pub fn write_pending(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// The next complete item from bytes already received. `None` means
    /// every received byte was consumed.
    pub fn next_item(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            if let Some(item) = self.codec.poll()? {
                return Ok(Some(item));
            }
            if self.rpos == self.rlen {
                return Ok(None);
            }
            let taken = self.codec.feed(&self.rbuf[self.rpos..self.rlen])?;
            self.rpos += taken;
        }
    }

    /// Waits until bytes were read into the buffer or written from it.
    /// Cancel-safe: nothing is lost when the future is dropped. Call only
    /// after [`next_item`](Self::next_item) returned `None`.
    pub async fn io(&mut self) -> io::Result<Io> {
        debug_assert_eq!(self.rpos, self.rlen, "unconsumed input");
        self.adapt_read_buffer();
        let Conn {
            stream,
            rbuf,
            wbuf,
            wpos,
            ..
        } = self;
        let (mut rd, mut wr) = stream.split();
        let writing = *wpos < wbuf.len();
        tokio::select! {
            r = rd.read(&mut rbuf[..]) => r.map(Io::Read),
            r = wr.write(&wbuf[*wpos..]), if writing => r.map(Io::Wrote),
        }
    }

    /// Resizes the (fully consumed) read buffer to the traffic seen.
    fn adapt_read_buffer(&mut self) {
        let len = self.rbuf.len();
        if self.grow && len < READ_MAX {
            self.rbuf = vec![0; (len * 2).min(READ_MAX)];
        } else if self.small_reads >= SHRINK_AFTER_SMALL_READS && len > READ_MIN {
            self.rbuf = vec![0; READ_MIN];
            self.small_reads = 0;
        }
        self.grow = false;
    }

    /// Records `n > 0` bytes read by [`io`](Self::io).
    pub fn after_read(&mut self, n: usize) {
        self.rpos = 0;
        self.rlen = n;
        let len = self.rbuf.len();
        if n == len {
            self.grow = true;
            self.small_reads = 0;
        } else if n < len / 4 {
            self.small_reads += 1;
        } else {
            self.small_reads = 0;
        }
    }

    /// Records `n` bytes written by [`io`](Self::io).
    pub fn after_write(&mut self, n: usize) {
        self.wpos += n;
        if self.wpos >= self.wbuf.len() {
            self.wpos = 0;
            if self.wbuf.capacity() > WRITE_KEEP {
                self.wbuf = Vec::new();
            } else {
                self.wbuf.clear();
            }
        }
    }

    /// Writes everything queued (used by the key exchange, which talks in
    /// strict turns).
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        while self.write_pending() > 0 {
            let n = self.stream.write(&self.wbuf[self.wpos..]).await?;
            if n == 0 {
                return Err(ConnError::Eof);
            }
            self.after_write(n);
        }
        Ok(())
    }

    /// Reads until one complete item arrived (key exchange).
    pub async fn read_item(&mut self) -> Result<Incoming, ConnError> {
        loop {
            if let Some(item) = self.next_item()? {
                return Ok(item);
            }
            self.adapt_read_buffer();
            let n = self.stream.read(&mut self.rbuf[..]).await?;
            if n == 0 {
                return Err(ConnError::Eof);
            }
            self.after_read(n);
        }
    }
}

/// Opens a TCP connection within `timeout`.
pub(crate) async fn connect(
    address: crate::client::Address,
    timeout: Duration,
    transport: TransportKind,
) -> Result<Box<Conn>, String> {
    use crate::client::Address;
    let attempt = async {
        match &address {
            Address::Socket(a) => TcpStream::connect(*a).await,
            Address::Host(h, p) => TcpStream::connect((h.as_str(), *p)).await,
        }
    };
    let stream = match tokio::time::timeout(timeout, attempt).await {
        Err(_) => return Err(format!("connecting to {address} timed out")),
        Ok(Err(e)) => return Err(format!("connecting to {address}: {e}")),
        Ok(Ok(s)) => s,
    };
    Conn::new(stream, transport)
        .map(Box::new)
        .map_err(|e| e.to_string())
}
