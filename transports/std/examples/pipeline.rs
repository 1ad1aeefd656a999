//! Fan-out / fan-in with the blocking API: a PUSH hands jobs to three worker
//! threads (PULL), which push results back to one collector (PULL).
//!
//! `cargo run -p nanosp --example pipeline`

use nanosp::blocking::Socket;
use nanosp::{Message, Protocol};

fn main() -> Result<(), nanosp::Error> {
    let jobs = Socket::new(Protocol::Push0);
    let jobs_url = jobs.listen("tcp://127.0.0.1:0")?.url().to_string();
    let results = Socket::new(Protocol::Pull0);
    let results_url = results.listen("tcp://127.0.0.1:0")?.url().to_string();

    // Workers run until the program ends.
    for w in 0..3 {
        {
            let (jobs_url, results_url) = (jobs_url.clone(), results_url.clone());
            std::thread::spawn(move || -> Result<(), nanosp::Error> {
                let input = Socket::new(Protocol::Pull0);
                input.dial(&jobs_url)?;
                let output = Socket::new(Protocol::Push0);
                output.dial(&results_url)?;
                loop {
                    let job = input.recv()?;
                    let n: u64 = String::from_utf8_lossy(job.body()).parse().unwrap_or(0);
                    let r = format!("worker {w}: {n}^2 = {}", n * n);
                    output
                        .send(Message::from(r.as_str()))
                        .map_err(|e| e.error)?;
                }
            });
        }
    }
    jobs.wait_for_pipes(3, std::time::Duration::from_secs(10))?;
    for n in 1..=9 {
        jobs.send(Message::from(n.to_string().as_str()))
            .map_err(|e| e.error)?;
    }
    for _ in 0..9 {
        println!("{}", String::from_utf8_lossy(results.recv()?.body()));
    }
    Ok(())
}
