//! Devices: forwarders between raw sockets (nng's `nng_device`).
//!
//! A device joins two raw sockets of peer protocols — e.g. a raw REP facing
//! clients and a raw REQ facing servers — and moves every message each one
//! receives to the other, headers included, so backtraces grow on the way in
//! and are unwound on the way back. With one socket (BUS, PAIR, STAR) it
//! sends what it receives back out of the same socket; raw BUS's header
//! keeps a message from being echoed to its source.
//!
//! A message that has crossed more than `ttl-max` devices is dropped by the
//! next REP, SURVEYOR or RESPONDENT that counts its backtrace.

use crate::util::{select, Either};
use crate::{Error, Runtime, Socket};

/// Forwards between `a` and `b` (or `a` and itself) until either socket
/// closes or fails; returns that error. Both must be raw, and peers of each
/// other ([`Error::InvalidArgument`] otherwise).
///
/// ```
/// use nanosp_core::{device, Message, Protocol, Socket, testing::VirtualRuntime};
/// # futures::executor::block_on(async {
/// let rt = VirtualRuntime::new(1);
/// let front = Socket::new_raw(Protocol::Rep0, rt.clone());
/// let back = Socket::new_raw(Protocol::Req0, rt.clone());
/// front.listen("inproc://device-doc-front").unwrap();
/// back.listen("inproc://device-doc-back").unwrap();
/// let server = Socket::new(Protocol::Rep0, rt.clone());
/// server.dial("inproc://device-doc-back").unwrap();
/// let client = Socket::new(Protocol::Req0, rt);
/// client.dial("inproc://device-doc-front").unwrap();
/// let dev = device(&front, Some(&back));
/// let talk = async {
///     client.send(Message::from("ping")).await.unwrap();
///     let req = server.recv().await.unwrap();
///     server.send(req).await.unwrap();
///     let reply = client.recv().await.unwrap();
///     front.close();
///     reply
/// };
/// let (reply, _) = futures::join!(talk, dev);
/// assert_eq!(reply.body(), b"ping");
/// # });
/// ```
pub async fn device<R: Runtime>(a: &Socket<R>, b: Option<&Socket<R>>) -> Error {
    let b = b.unwrap_or(a);
    if !a.is_raw() || !b.is_raw() || a.protocol().peer_number() != b.protocol().number() {
        return Error::InvalidArgument;
    }
    let one_way = |from: &Socket<R>, to: &Socket<R>| {
        let (from, to) = (from.clone(), to.clone());
        async move {
            loop {
                let m = match from.recv().await {
                    Ok(m) => m,
                    Err(e) => return e,
                };
                if let Err(e) = to.send(m).await {
                    return e.error;
                }
            }
        }
    };
    if core::ptr::eq(a, b) {
        return one_way(a, a).await;
    }
    match select(one_way(a, b), one_way(b, a)).await {
        Either::Left(e) | Either::Right(e) => e,
    }
}
