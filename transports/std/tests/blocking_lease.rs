//! The shared runtime's background thread runs work that a blocking call
//! left queued at once, not when its lease runs out (`nanosp::rt::LEASE`):
//! with the lease set to ten minutes (in this test binary only), a
//! blocking send's messages still leave while the sending thread waits on
//! something else.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{sp_frame, LIMIT};
use nanosp::blocking::Socket;
use nanosp::{Message, Protocol};

#[test]
fn a_blocking_send_leaves_at_once_not_when_the_lease_runs_out() {
    nanosp::rt::set_lease(Duration::from_secs(600));
    let raw = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", raw.local_addr().unwrap());
    let (got_tx, got_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = raw.accept().unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.write_all(b"\0SP\0\0\x51\0\0").unwrap();
        let mut h = [0u8; 8];
        c.read_exact(&mut h).unwrap();
        for round in 0..3 {
            let want = sp_frame(format!("round {round}").as_bytes());
            let mut bytes = vec![0u8; want.len()];
            c.read_exact(&mut bytes).unwrap();
            got_tx.send(bytes == want).unwrap();
        }
        c // open until joined
    });
    let push = Socket::new(Protocol::Push0);
    push.dial(&url).unwrap();
    // Each round: a send, then a wait on something else only.
    for round in 0..3 {
        push.send(Message::from(format!("round {round}").as_str()))
            .unwrap();
        let whole = got_rx
            .recv_timeout(LIMIT)
            .expect("the message left while the sender waited elsewhere");
        assert!(whole, "the raw peer read other bytes");
    }
    drop(reader.join().unwrap());
}
