//! Byte streams as pipes: any `embedded-io-async` `Read` + `Write` pair (TCP,
//! IPC, embassy-net TCP) becomes an SP pipe through one adapter.
//!
//! [`establish`] writes our 8-byte header first, then reads the peer's
//! (docs/wire.md §7, item 20), all within the socket's handshake timeout, then
//! attaches the pipe. [`StreamReader`] parses every message one read brought
//! in; [`StreamWriter`] gathers every queued message into as few writes as
//! possible.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use core::future::Future;
use core::pin::pin;

use embedded_io_async::{Read, Write};

use crate::frame::{
    encode_prefix, handshake as header_of, parse_handshake, Decoder, Framing, MAX_PREFIX,
};
use crate::pipe::TlsFacts;
use crate::transport::{attach_as, PipeDriver, PipeRead, PipeWrite};
use crate::util::with_deadline;
use crate::{Error, Message, ProtocolError, Runtime, SocketRef};

/// How a stream pipe frames and buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// TCP or IPC framing.
    pub framing: Framing,
    /// Bytes read from the stream at a time (large bodies are read straight
    /// into their message instead).
    pub read_buf: usize,
    /// Queued messages are gathered into writes of up to this many bytes;
    /// bodies over a quarter of it (at most 8 KiB) are written straight from
    /// the message, without a copy, after their first quarter (8 KiB) went
    /// out with the prefix.
    pub write_buf: usize,
    /// Most bytes reserved for a message before they arrive (the body grows
    /// as they do).
    pub max_reserve: usize,
    /// Flush the stream after each batch. Needed for streams that buffer
    /// until flushed; off for embassy-net, whose `flush` waits for the
    /// peer's acknowledgement (one batch per delayed ACK).
    pub flush: bool,
}

impl StreamConfig {
    /// Server-sized buffers: 16 KiB reads, 64 KiB gathered writes.
    pub const fn new(framing: Framing) -> Self {
        StreamConfig {
            framing,
            read_buf: 16 << 10,
            write_buf: 64 << 10,
            max_reserve: crate::frame::MAX_INITIAL_RESERVE,
            flush: true,
        }
    }

    /// Microcontroller-sized buffers: 512-byte reads, 1 KiB gathered writes,
    /// at most 1 KiB reserved ahead of a message's bytes.
    pub const fn small(framing: Framing) -> Self {
        StreamConfig {
            framing,
            read_buf: 512,
            write_buf: 1024,
            max_reserve: 1024,
            flush: true,
        }
    }
}

fn io_err<E: embedded_io_async::Error>(e: E) -> Error {
    Error::from_io_kind(e.kind())
}

/// Exchanges SP headers: ours first, then theirs. Returns the peer's protocol
/// number. A peer that closes early is [`ProtocolError::HandshakeIncomplete`].
pub async fn handshake<Rd: Read, Wr: Write>(
    rd: &mut Rd,
    wr: &mut Wr,
    ours: u16,
) -> Result<u16, Error> {
    handshake_as(rd, wr, ours, true).await
}

/// [`handshake`], flushing our header only if `flush` (embassy-net's flush
/// waits for the peer's ACK; the header leaves without it).
pub(crate) async fn handshake_as<Rd: Read, Wr: Write>(
    rd: &mut Rd,
    wr: &mut Wr,
    ours: u16,
    flush: bool,
) -> Result<u16, Error> {
    wr.write_all(&header_of(ours)).await.map_err(io_err)?;
    if flush {
        wr.flush().await.map_err(io_err)?;
    }
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < h.len() {
        match rd.read(&mut h[got..]).await.map_err(io_err)? {
            0 => return Err(ProtocolError::HandshakeIncomplete.into()),
            n => got += n,
        }
    }
    Ok(parse_handshake(&h)?)
}

/// Handshakes within the socket's handshake timeout and attaches the pipe,
/// with [`StreamConfig::new`] buffers. Failures are counted in
/// [`crate::Stats::handshake_failures`]; the caller drops (closes) the stream.
pub async fn establish<R: Runtime, Rd: Read, Wr: Write>(
    sock: &SocketRef<R>,
    rd: Rd,
    wr: Wr,
    framing: Framing,
    url: &str,
    dialed: bool,
) -> Result<PipeDriver<R, StreamReader<Rd>, StreamWriter<Wr>>, Error> {
    establish_with(sock, rd, wr, StreamConfig::new(framing), url, dialed).await
}

/// [`establish`] with chosen buffer sizes.
// Not an async fn: its future is `establish_as`'s, with no layer around it
// (a firmware links one state machine, not two).
pub fn establish_with<'a, R: Runtime, Rd: Read + 'a, Wr: Write + 'a>(
    sock: &'a SocketRef<R>,
    rd: Rd,
    wr: Wr,
    cfg: StreamConfig,
    url: &'a str,
    dialed: bool,
) -> impl Future<Output = Result<PipeDriver<R, StreamReader<Rd>, StreamWriter<Wr>>, Error>> + 'a {
    establish_as(sock, rd, wr, cfg, url, dialed, Default::default())
}

/// [`establish_with`] over a TLS session: `peer` is what the session knows
/// of the peer, in the pipe's [`PipeInfo::tls`](crate::PipeInfo::tls) from
/// the hook's first event on. (Feature `tls`.)
#[cfg(feature = "tls")]
pub async fn establish_tls<R: Runtime, Rd: Read, Wr: Write>(
    sock: &SocketRef<R>,
    rd: Rd,
    wr: Wr,
    cfg: StreamConfig,
    url: &str,
    dialed: bool,
    peer: crate::TlsPeer,
) -> Result<PipeDriver<R, StreamReader<Rd>, StreamWriter<Wr>>, Error> {
    establish_as(
        sock,
        rd,
        wr,
        cfg,
        url,
        dialed,
        Some(alloc::boxed::Box::new(peer)),
    )
    .await
}

async fn establish_as<R: Runtime, Rd: Read, Wr: Write>(
    sock: &SocketRef<R>,
    mut rd: Rd,
    mut wr: Wr,
    cfg: StreamConfig,
    url: &str,
    dialed: bool,
    tls: TlsFacts,
) -> Result<PipeDriver<R, StreamReader<Rd>, StreamWriter<Wr>>, Error> {
    let framing = cfg.framing;
    let ours = sock.protocol().number();
    let peer = in_time(sock, pin!(handshake(&mut rd, &mut wr, ours))).await?;
    let limit = sock.options().frame_limit() as u64;
    counted(
        sock,
        attach_as(
            sock,
            peer,
            url,
            dialed,
            {
                let mut r = StreamReader::with_buffer(rd, framing, limit, cfg.read_buf);
                r.dec.set_max_reserve(cfg.max_reserve);
                r
            },
            {
                let mut w = StreamWriter::with_buffer(wr, framing, cfg.write_buf);
                w.flush = cfg.flush;
                w
            },
            tls,
        ),
    )
}

/// Runs a handshake within the socket's handshake timeout; a failure (or
/// the timeout) is counted in [`crate::Stats::handshake_failures`].
pub(crate) async fn in_time<R: Runtime, F: core::future::Future<Output = Result<u16, Error>>>(
    sock: &SocketRef<R>,
    handshake: core::pin::Pin<&mut F>,
) -> Result<u16, Error> {
    let rt = sock.runtime();
    let deadline = rt.now().plus(sock.options().handshake_timeout);
    let r = with_deadline(rt, Some(deadline), handshake)
        .await
        .unwrap_or(Err(Error::TimedOut));
    if r.is_err() {
        sock.count(|s| s.handshake_failures += 1);
    }
    r
}

/// Counts an attach refused for the peer's protocol as a failed handshake.
pub(crate) fn counted<R: Runtime, T>(sock: &SocketRef<R>, r: Result<T, Error>) -> Result<T, Error> {
    if let Err(Error::Protocol(ProtocolError::PeerMismatch { .. })) = &r {
        sock.count(|s| s.handshake_failures += 1);
    }
    r
}

/// The receiving half of a stream pipe: decodes framed messages.
pub struct StreamReader<Rd> {
    rd: Rd,
    pub(crate) dec: Decoder,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<Rd: Read> StreamReader<Rd> {
    /// Wraps `rd`; messages over `limit` bytes (0 = unlimited) close the pipe.
    pub fn new(rd: Rd, framing: Framing, limit: u64) -> Self {
        Self::with_buffer(rd, framing, limit, StreamConfig::new(framing).read_buf)
    }

    /// As [`StreamReader::new`] with a read buffer of `read_buf` bytes.
    pub fn with_buffer(rd: Rd, framing: Framing, limit: u64, read_buf: usize) -> Self {
        StreamReader {
            rd,
            dec: Decoder::new(framing, limit),
            buf: vec![0; read_buf.max(16)],
            start: 0,
            end: 0,
        }
    }
}

impl<Rd: Read> PipeRead for StreamReader<Rd> {
    fn try_recv(&mut self) -> Option<Result<Message, Error>> {
        while self.start < self.end {
            let mut input = &self.buf[self.start..self.end];
            let r = self.dec.decode(&mut input);
            self.start = self.end - input.len();
            match r {
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    async fn recv(&mut self) -> Result<Message, Error> {
        loop {
            while self.start < self.end {
                let mut input = &self.buf[self.start..self.end];
                let r = self.dec.decode(&mut input);
                self.start = self.end - input.len();
                if let Some(m) = r? {
                    return Ok(m);
                }
            }
            if let Some(dst) = self.dec.body_buf() {
                let n = self.rd.read(dst).await.map_err(io_err)?;
                if n == 0 {
                    return Err(Error::ConnectionShutdown);
                }
                if let Some(m) = self.dec.advance_body(n) {
                    return Ok(m);
                }
                continue;
            }
            let n = self.rd.read(&mut self.buf).await.map_err(io_err)?;
            if n == 0 {
                return Err(Error::ConnectionShutdown);
            }
            self.start = 0;
            self.end = n;
        }
    }
}

/// The sending half of a stream pipe: frames and coalesces messages.
pub struct StreamWriter<Wr> {
    wr: Wr,
    framing: Framing,
    out: Vec<u8>,
    max: usize,
    copy_max: usize,
    pub(crate) flush: bool,
}

impl<Wr: Write> StreamWriter<Wr> {
    /// Wraps `wr`.
    pub fn new(wr: Wr, framing: Framing) -> Self {
        Self::with_buffer(wr, framing, StreamConfig::new(framing).write_buf)
    }

    /// As [`StreamWriter::new`], gathering writes of up to `write_buf` bytes.
    pub fn with_buffer(wr: Wr, framing: Framing, write_buf: usize) -> Self {
        let max = write_buf.max(64);
        StreamWriter {
            wr,
            framing,
            out: Vec::with_capacity(max.min(16 << 10)),
            max,
            copy_max: (max / 4).min(8 << 10),
            flush: true,
        }
    }
}

impl<Wr: Write> PipeWrite for StreamWriter<Wr> {
    async fn send(&mut self, batch: &mut VecDeque<Message>) -> Result<(), Error> {
        while let Some(m) = batch.pop_front() {
            let mut p = [0u8; MAX_PREFIX];
            let n = encode_prefix(self.framing, m.len() as u64, &mut p);
            self.out.extend_from_slice(&p[..n]);
            self.out.extend_from_slice(m.header());
            if m.body().len() <= self.copy_max {
                self.out.extend_from_slice(m.body());
            } else {
                // The head of the body goes with the prefix: a prefix in a
                // write of its own becomes a tiny TCP segment that costs the
                // receiver a wake-up and, on loopback, halved 1 MiB latency.
                let (head, rest) = m.body().split_at(self.copy_max);
                self.out.extend_from_slice(head);
                self.wr.write_all(&self.out).await.map_err(io_err)?;
                self.out.clear();
                self.wr.write_all(rest).await.map_err(io_err)?;
            }
            if self.out.len() >= self.max {
                self.wr.write_all(&self.out).await.map_err(io_err)?;
                self.out.clear();
            }
        }
        if !self.out.is_empty() {
            self.wr.write_all(&self.out).await.map_err(io_err)?;
            self.out.clear();
        }
        if self.flush {
            self.wr.flush().await.map_err(io_err)?;
        }
        Ok(())
    }
}
