//! PUB/SUB over tcp, ipc and ws at once: one publisher listening on three
//! URLs, one subscriber per transport, each with its own topic.
//!
//! `cargo run -p nanosp --example pubsub`

use nanosp::{Message, Protocol, Socket};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let publ = Socket::new(Protocol::Pub0);
    let ipc = std::env::temp_dir().join(format!("nanosp-pubsub-{}.ipc", std::process::id()));
    let urls = [
        publ.listen("tcp://127.0.0.1:0").await?.url().to_string(),
        publ.listen(&format!("ipc://{}", ipc.display()))
            .await?
            .url()
            .to_string(),
        publ.listen("ws://127.0.0.1:0/news")
            .await?
            .url()
            .to_string(),
    ];
    let mut subs = Vec::new();
    for (url, topic) in urls.iter().zip(["weather", "sport", ""]) {
        let sub = Socket::new(Protocol::Sub0);
        sub.subscribe(topic.as_bytes())?;
        sub.dial(url).await?;
        subs.push((sub, url, topic));
    }
    // PUB sends only to connected subscribers: wait until all three are in.
    publ.wait_for_pipes(subs.len()).await?;
    for m in ["weather: sunny", "sport: 2-1", "weather: rain"] {
        publ.send(Message::from(m)).await?;
    }
    for (sub, url, topic) in &subs {
        let want = if topic.is_empty() {
            3
        } else {
            ["weather: sunny", "sport: 2-1", "weather: rain"]
                .iter()
                .filter(|m| m.starts_with(topic))
                .count()
        };
        for _ in 0..want {
            let m = sub.recv().await?;
            println!(
                "{url:<40} topic {topic:?}: {}",
                String::from_utf8_lossy(m.body())
            );
        }
    }
    Ok(())
}
