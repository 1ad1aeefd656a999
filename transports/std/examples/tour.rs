//! A short tour of the patterns over real transports on loopback, with no
//! configuration: REQ/REP over TCP, PUB/SUB over WebSocket, PUSH/PULL over
//! IPC, SURVEYOR/RESPONDENT over TCP, BUS over WebSocket and PAIR over IPC.
//!
//! `cargo run --release -p nanosp --example tour`

use std::time::Duration;

use nanosp::{Error, Message, Protocol, SockOpt, Socket};

type Res = Result<(), Box<dyn std::error::Error>>;

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

async fn until_pipes(s: &Socket, n: usize) {
    s.wait_for_pipes(n).await.expect("socket open");
}

fn ipc(name: &str) -> String {
    let p = std::env::temp_dir().join(format!("nanosp-tour-{name}-{}.ipc", std::process::id()));
    format!("ipc://{}", p.display())
}

async fn req_rep() -> Res {
    let rep = Socket::new(Protocol::Rep0);
    let url = rep.listen("tcp://127.0.0.1:0").await?.url().to_string();
    let req = Socket::new(Protocol::Req0);
    req.dial(&url).await?;
    req.send(Message::from("what is 6 x 7?")).await?;
    let q = rep.recv().await?;
    rep.send(Message::from("42")).await?;
    println!(
        "REQ/REP     {url:<34} {:?} -> {:?}",
        text(&q),
        text(&req.recv().await?)
    );
    Ok(())
}

async fn pub_sub() -> Res {
    let publ = Socket::new(Protocol::Pub0);
    let url = publ
        .listen("ws://127.0.0.1:0/news")
        .await?
        .url()
        .to_string();
    let sub = Socket::new(Protocol::Sub0);
    sub.subscribe(b"weather")?;
    sub.dial(&url).await?;
    until_pipes(&publ, 1).await;
    for m in ["sport: 2-1", "weather: sunny"] {
        publ.send(Message::from(m)).await?;
    }
    println!(
        "PUB/SUB     {url:<34} subscribed to \"weather\": {:?}",
        text(&sub.recv().await?)
    );
    Ok(())
}

async fn push_pull() -> Res {
    let push = Socket::new(Protocol::Push0);
    let mut pulls = Vec::new();
    for w in 0..2 {
        let pull = Socket::new(Protocol::Pull0);
        let url = ipc(&format!("pull{w}"));
        pull.listen(&url).await?;
        push.dial(&url).await?;
        pulls.push(pull);
    }
    for job in 0..6 {
        push.send(Message::from(format!("job {job}").as_str()))
            .await?;
    }
    let mut counts = Vec::new();
    for p in &pulls {
        let mut n = 0;
        while let Ok(m) = tokio::time::timeout(Duration::from_millis(200), p.recv()).await {
            m?;
            n += 1;
        }
        counts.push(n);
    }
    println!(
        "PUSH/PULL   {:<34} 6 jobs spread over two workers: {counts:?}",
        ipc("pull*")
    );
    Ok(())
}

async fn survey() -> Res {
    let surveyor = Socket::new(Protocol::Surveyor0);
    surveyor.set_opt(SockOpt::SurveyTime(Duration::from_millis(300)))?;
    let url = surveyor
        .listen("tcp://127.0.0.1:0")
        .await?
        .url()
        .to_string();
    for name in ["ann", "bob"] {
        let r = Socket::new(Protocol::Respondent0);
        r.dial(&url).await?;
        // Serve until the socket closes: like nng, closing a socket does not
        // wait for queued answers to leave, so a respondent that answered
        // and dropped its socket at once could lose its answer.
        tokio::spawn(async move {
            while let Ok(q) = r.recv().await {
                let a = format!("{name}: yes to {}", text(&q));
                let _ = r.send(Message::from(a.as_str())).await;
            }
        });
    }
    until_pipes(&surveyor, 2).await;
    surveyor.send(Message::from("lunch?")).await?;
    let mut answers = Vec::new();
    loop {
        match surveyor.recv().await {
            Ok(m) => answers.push(text(&m)),
            Err(Error::TimedOut) => break,
            Err(e) => return Err(e.into()),
        }
    }
    answers.sort();
    println!("SURVEY      {url:<34} answers before the deadline: {answers:?}");
    Ok(())
}

async fn bus() -> Res {
    let hub = Socket::new(Protocol::Bus0);
    let url = hub.listen("ws://127.0.0.1:0/bus").await?.url().to_string();
    let node = Socket::new(Protocol::Bus0);
    node.dial(&url).await?;
    until_pipes(&hub, 1).await;
    hub.send(Message::from("hello bus")).await?;
    println!(
        "BUS         {url:<34} node heard: {:?}",
        text(&node.recv().await?)
    );
    Ok(())
}

async fn pair() -> Res {
    let url = ipc("pair");
    let a = Socket::new(Protocol::Pair1);
    a.listen(&url).await?;
    let b = Socket::new(Protocol::Pair1);
    b.dial(&url).await?;
    b.send(Message::from("ping")).await?;
    let m = a.recv().await?;
    a.send(Message::from("pong")).await?;
    println!(
        "PAIR1       {url:<34} {:?} -> {:?}",
        text(&m),
        text(&b.recv().await?)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Res {
    println!("nanosp tour: every pattern over loopback transports\n");
    req_rep().await?;
    pub_sub().await?;
    push_pull().await?;
    survey().await?;
    bus().await?;
    pair().await?;
    Ok(())
}
