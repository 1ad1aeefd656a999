//! Why a pipe closed reaches the pipe hook (`PipeInfo::closed` in
//! `RemPost`): peer closed, bad input with its error, message too large,
//! closed by the application, socket closed; over TCP and WebSocket. And the
//! WebSocket rules of the core (`nanosp_core::ws`) as a peer sees them: close
//! codes that say why, one error for a wrong subprotocol echo, and a failed
//! or timed-out handshake counted in `handshake_failures`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use nanosp::{Error, Message, PipeEvent, Protocol, ProtocolError, SockOpt, Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest,
    handshake::server::{ErrorResponse, Request, Response},
    http::HeaderValue,
    protocol::frame::coding::CloseCode,
    Message as WsMsg,
};

type Log = Arc<Mutex<Vec<Option<Error>>>>;

/// Records the close reason of every pipe that leaves `s`.
fn record(s: &Socket) -> Log {
    let log: Log = Arc::default();
    let l = log.clone();
    s.set_pipe_hook(move |ev, info| {
        if ev == PipeEvent::RemPost {
            l.lock().unwrap().push(info.closed);
        }
        true
    });
    log
}

async fn next_reason(log: &Log, n: usize) -> Option<Error> {
    until("a pipe to close", || log.lock().unwrap().len() >= n).await;
    log.lock().unwrap()[n - 1]
}

const PUSH_HEADER: [u8; 8] = [0, b'S', b'P', 0, 0, 0x50, 0, 0];

#[tokio::test]
async fn tcp_close_reasons_reach_the_hook() {
    let pull = Socket::new(Protocol::Pull0);
    pull.set_opt(SockOpt::RecvMaxSize(100)).unwrap();
    let log = record(&pull);
    let l = pull.listen("tcp://127.0.0.1:0").await.unwrap();
    let addr = l.url().trim_start_matches("tcp://").to_string();

    // The peer closes after the handshake (having read ours: unread data
    // would make its close a reset).
    let mut c = TcpStream::connect(&addr).await.unwrap();
    c.write_all(&PUSH_HEADER).await.unwrap();
    c.read_exact(&mut [0u8; 8]).await.unwrap();
    pipes(&pull, 1).await;
    drop(c);
    assert_eq!(next_reason(&log, 1).await, Some(Error::ConnectionShutdown));

    // Bad input: a length with reserved bits.
    let mut c = TcpStream::connect(&addr).await.unwrap();
    c.write_all(&PUSH_HEADER).await.unwrap();
    c.write_all(&[0xf0, 0, 0, 0, 0, 0, 0, 1, 0]).await.unwrap();
    assert_eq!(
        next_reason(&log, 2).await,
        Some(Error::Protocol(ProtocolError::ReservedLengthBits))
    );
    drop(c);

    // A message over recv-size-max, from a nanosp PUSH whose own hook
    // hears that the listener went.
    let push = Socket::new(Protocol::Push0);
    let push_log = record(&push);
    let d = push.dial(l.url()).await.unwrap();
    push.send(Message::from(vec![1u8; 500])).await.unwrap();
    assert_eq!(
        next_reason(&log, 3).await,
        Some(Error::MessageTooLong {
            len: 500,
            limit: 100 + nanosp::HEADER_CAPACITY as u64
        })
    );
    let theirs = next_reason(&push_log, 1).await;
    assert!(
        matches!(
            theirs,
            Some(Error::ConnectionShutdown | Error::ConnectionReset)
        ),
        "{theirs:?}"
    );
    assert_eq!(pull.stats().oversized, 1);
    d.close();

    // The application closes a pipe, then the socket closes the rest.
    let push2 = Socket::new(Protocol::Push0);
    push2.dial(l.url()).await.unwrap();
    let push3 = Socket::new(Protocol::Push0);
    push3.dial(l.url()).await.unwrap();
    pipes(&pull, 2).await;
    let p = pull.pipes()[0].id;
    pull.close_pipe(p);
    assert_eq!(next_reason(&log, 4).await, Some(Error::Closed));
    pull.close();
    assert_eq!(next_reason(&log, 5).await, Some(Error::Closed));
}

/// A raw WebSocket client of `token` at `url`.
async fn ws_client(url: &str, token: &str) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(token).unwrap(),
    );
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(req, tcp).await.unwrap().0
}

/// The close frame's code the client receives (None if the connection
/// ended without one).
async fn close_code<S>(ws: &mut S) -> Option<u16>
where
    S: futures_util::Stream<Item = Result<WsMsg, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let t = tokio::time::timeout(LIMIT, async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(WsMsg::Close(f)) => return f.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    });
    t.await.expect("no close")
}

#[tokio::test]
async fn ws_close_reasons_and_close_codes() {
    let pair = Socket::new(Protocol::Pair1);
    pair.set_opt(SockOpt::RecvMaxSize(100)).unwrap();
    let log = record(&pair);
    let l = pair.listen("ws://127.0.0.1:0/sp").await.unwrap();
    let tok = "pair1.sp.nanomsg.org";

    // A text message: bad input, closed with 1003.
    let mut c = ws_client(l.url(), tok).await;
    c.send(WsMsg::text("hello")).await.unwrap();
    assert_eq!(
        next_reason(&log, 1).await,
        Some(Error::Protocol(ProtocolError::UnexpectedMessage))
    );
    assert_eq!(close_code(&mut c).await, Some(1003));

    // Too large: closed with 1009.
    let mut c = ws_client(l.url(), tok).await;
    c.send(WsMsg::binary(vec![0u8; 500])).await.unwrap();
    let why = next_reason(&log, 2).await;
    assert!(matches!(why, Some(Error::MessageTooLong { .. })), "{why:?}");
    assert_eq!(close_code(&mut c).await, Some(1009));

    // The peer closes normally.
    let mut c = ws_client(l.url(), tok).await;
    pipes(&pair, 1).await;
    c.close(None).await.unwrap();
    assert_eq!(next_reason(&log, 3).await, Some(Error::ConnectionShutdown));

    // The peer closes with an error code.
    let mut c = ws_client(l.url(), tok).await;
    pipes(&pair, 1).await;
    let f = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CloseCode::Policy,
        reason: "no".into(),
    };
    c.close(Some(f)).await.unwrap();
    assert_eq!(next_reason(&log, 4).await, Some(Error::ConnectionReset));

    // The application closes the pipe: a normal close (1000) says so.
    let mut c = ws_client(l.url(), tok).await;
    pipes(&pair, 1).await;
    pair.close_pipe(pair.pipes()[0].id);
    assert_eq!(next_reason(&log, 5).await, Some(Error::Closed));
    assert_eq!(close_code(&mut c).await, Some(1000));
}

/// A WebSocket server on a fresh port that answers every upgrade with
/// `echo` as its subprotocol (none if `None`), or never answers (`hang`).
async fn fake_server(echo: Option<&'static str>, hang: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/sp", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                if hang {
                    tokio::time::sleep(LIMIT).await;
                    drop(s);
                    return;
                }
                #[allow(clippy::result_large_err)]
                let cb = |_: &Request, mut r: Response| -> Result<Response, ErrorResponse> {
                    if let Some(e) = echo {
                        r.headers_mut()
                            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(e));
                    }
                    Ok(r)
                };
                if let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, cb).await {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn ws_dialer_one_error_for_a_wrong_echo_and_counted_failures() {
    for echo in [
        Some("req.sp.nanomsg.org"),
        Some("pair.sp.nanomsg.org"),
        None,
    ] {
        let url = fake_server(echo, false).await;
        let req = Socket::new(Protocol::Req0);
        let e = req.dial(&url).await.unwrap_err();
        assert_eq!(
            e,
            Error::Protocol(ProtocolError::BadSubprotocol),
            "{echo:?}"
        );
        assert_eq!(req.stats().handshake_failures, 1, "{echo:?}");
    }
    // The right echo works.
    let url = fake_server(Some("rep.sp.nanomsg.org"), false).await;
    let req = Socket::new(Protocol::Req0);
    req.dial(&url).await.unwrap();
    assert_eq!(req.stats().handshake_failures, 0);

    // A server that never answers: the handshake times out, and counts.
    let url = fake_server(None, true).await;
    let req = Socket::new(Protocol::Req0);
    req.set_opt(SockOpt::HandshakeTimeout(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(req.dial(&url).await.unwrap_err(), Error::TimedOut);
    assert_eq!(req.stats().handshake_failures, 1);

    // Nobody listening is not a handshake failure.
    let req = Socket::new(Protocol::Req0);
    let url = format!("ws://127.0.0.1:{}/sp", free_port());
    assert_eq!(req.dial(&url).await.unwrap_err(), Error::ConnectionRefused);
    assert_eq!(req.stats().handshake_failures, 0);
}

/// A redialing dialer counts one reconnect per redial, as on every target.
#[tokio::test]
async fn redials_are_counted() {
    let pull = Socket::new(Protocol::Pull0);
    let l = pull.listen("tcp://127.0.0.1:0").await.unwrap();
    let push = Socket::new(Protocol::Push0);
    push.set_opt(SockOpt::ReconnectTimeMin(Duration::from_millis(10)))
        .unwrap();
    push.dial(l.url()).await.unwrap();
    pipes(&pull, 1).await;
    for n in 1..=3u64 {
        let p = pull.pipes()[0].id;
        pull.close_pipe(p);
        until("a redial", || push.stats().reconnects >= n).await;
        pipes(&pull, 1).await;
    }
    assert_eq!(push.stats().reconnects, 3);
}
