//! SURVEYOR/RESPONDENT over IPC: one survey, every respondent answers before
//! the deadline.
//!
//! `cargo run -p nanosp --example survey`

use std::time::Duration;

use nanosp::{Error, Message, Protocol, SockOpt, Socket};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("nanosp-survey-{}.ipc", std::process::id()));
    let url = format!("ipc://{}", path.display());
    let surveyor = Socket::new(Protocol::Surveyor0);
    surveyor.set_opt(SockOpt::SurveyTime(Duration::from_millis(500)))?;
    surveyor.listen(&url).await?;
    for name in ["alpha", "beta", "gamma"] {
        let r = Socket::new(Protocol::Respondent0);
        r.dial(&url).await?;
        tokio::spawn(async move {
            while let Ok(q) = r.recv().await {
                let a = format!("{name} says yes to {:?}", String::from_utf8_lossy(q.body()));
                let _ = r.send(Message::from(a.as_str())).await;
            }
        });
    }
    surveyor.wait_for_pipes(3).await?;
    surveyor.send(Message::from("lunch?")).await?;
    loop {
        match surveyor.recv().await {
            Ok(m) => println!("{}", String::from_utf8_lossy(m.body())),
            Err(Error::TimedOut) => {
                println!("survey over");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
