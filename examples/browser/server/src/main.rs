//! The server of the browser demo (examples/browser), on nanosp: three
//! WebSocket listeners sharing one port.
//!
//! * `/feed` — PUB: a live line every 500 ms (tick, uptime, connected
//!   subscribers, requests served);
//! * `/rpc` — REP: answers `echo: <request> (#n)`;
//! * `/echo` — REP: answers every request with its exact bytes (for tests:
//!   binary payloads, large messages; `recv-size-max` 4 MiB).
//!
//! `nanosp-demo-server [PORT] [--tls CERT_KEY_PEM]` (default 8081; 0 = any
//! free port) listens on 127.0.0.1 and prints one line, `feed URL rpc URL
//! echo URL`, once all three listen. With `--tls` (a PEM file holding the
//! certificate chain and its key) the three listen on `wss://`, as a page
//! served over https needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanosp::{Error, Message, PipeEvent, Protocol, SockOpt, Socket, TlsConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = match args.iter().position(|a| a == "--tls") {
        Some(i) => {
            let file = args.get(i + 1).expect("--tls CERT_KEY_PEM").clone();
            args.drain(i..i + 2);
            Some(TlsConfig::new().with_cert_key_file(&file)?)
        }
        None => None,
    };
    let port: u16 = args
        .first()
        .map(|p| p.parse().expect("PORT is a number"))
        .unwrap_or(8081);
    let scheme = if tls.is_some() { "wss" } else { "ws" };

    let feed = Socket::new(Protocol::Pub0);
    feed.set_tls_config(tls.clone());
    let subscribers = Arc::new(AtomicU64::new(0));
    let n = subscribers.clone();
    feed.set_pipe_hook(move |ev, _| {
        match ev {
            PipeEvent::AddPost => n.fetch_add(1, Ordering::Relaxed),
            PipeEvent::RemPost => n.fetch_sub(1, Ordering::Relaxed),
            PipeEvent::AddPre => 0,
        };
        true
    });
    let l = feed.listen(&format!("{scheme}://127.0.0.1:{port}/feed")).await?;
    let port = l.port().expect("a TCP port");
    let rpc = Socket::new(Protocol::Rep0);
    rpc.set_tls_config(tls.clone());
    let rpc_l = rpc.listen(&format!("{scheme}://127.0.0.1:{port}/rpc")).await?;
    let echo = Socket::new(Protocol::Rep0);
    echo.set_tls_config(tls);
    echo.set_opt(SockOpt::RecvMaxSize(4 << 20))?;
    let echo_l = echo.listen(&format!("{scheme}://127.0.0.1:{port}/echo")).await?;
    println!("feed {} rpc {} echo {}", l.url(), rpc_l.url(), echo_l.url());

    let served = Arc::new(AtomicU64::new(0));
    tokio::try_join!(
        serve_rpc(rpc, served.clone()),
        serve_echo(echo),
        publish(feed, subscribers, served)
    )?;
    Ok(())
}

async fn serve_rpc(rpc: Socket, served: Arc<AtomicU64>) -> Result<(), Error> {
    loop {
        let req = rpc.recv().await?;
        let n = served.fetch_add(1, Ordering::Relaxed) + 1;
        let reply = format!("echo: {} (#{n})", String::from_utf8_lossy(req.body()));
        rpc.send(Message::from(reply.as_bytes())).await?;
    }
}

async fn serve_echo(echo: Socket) -> Result<(), Error> {
    loop {
        let req = echo.recv().await?;
        echo.send(req).await?;
    }
}

async fn publish(
    feed: Socket,
    subscribers: Arc<AtomicU64>,
    served: Arc<AtomicU64>,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for i in 1u64.. {
        tick.tick().await;
        let line = format!(
            "tick {i} · uptime {}s · subscribers {} · requests {}",
            started.elapsed().as_secs(),
            subscribers.load(Ordering::Relaxed),
            served.load(Ordering::Relaxed)
        );
        feed.send(Message::from(line.as_bytes())).await?;
    }
    Ok(())
}
