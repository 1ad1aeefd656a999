//! REQ/REP over TCP on loopback: a server answering with four contexts at
//! once, and clients asking it questions.
//!
//! `cargo run -p nanosp --example reqrep`

use nanosp::{Message, Protocol, Socket};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Socket::new(Protocol::Rep0);
    let url = server.listen("tcp://127.0.0.1:0").await?.url().to_string();
    println!("server on {url}");
    // Four contexts serve four requests concurrently.
    for worker in 0..4 {
        let ctx = server.context()?;
        tokio::spawn(async move {
            while let Ok(q) = ctx.recv().await {
                let mut a = Message::from(format!("worker {worker}: ").as_str());
                a.extend(q.body());
                if ctx.send(a).await.is_err() {
                    break;
                }
            }
        });
    }
    let mut clients = Vec::new();
    for c in 0..3 {
        let req = Socket::new(Protocol::Req0);
        req.dial(&url).await?;
        clients.push(tokio::spawn(async move {
            for k in 0..2 {
                let q = format!("client {c} asks #{k}");
                req.send(Message::from(q.as_str())).await?;
                let a = req.recv().await?;
                println!("{q:<20} -> {}", String::from_utf8_lossy(a.body()));
            }
            Ok::<_, nanosp::Error>(())
        }));
    }
    for c in clients {
        c.await??;
    }
    Ok(())
}
