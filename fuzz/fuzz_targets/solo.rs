//! Drives a `Solo` socket (the firmware's one-connection path) of any
//! protocol against a peer that sends arbitrary bytes (after a valid
//! handshake, or instead of one), while the application sends and
//! receives with timeouts in virtual time. Checks: no panic, no hang (every
//! operation ends within its timeout), and once the connection has failed
//! every later operation returns that same error.
#![no_main]

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use libfuzzer_sys::fuzz_target;
use nanosp_core::frame::{handshake, Framing};
use nanosp_core::solo::Solo;
use nanosp_core::stream::StreamConfig;
use nanosp_core::testing::{duplex, VirtualRuntime};
use nanosp_core::{Message, Protocol, SockOpt};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let proto = Protocol::ALL[data[0] as usize % Protocol::ALL.len()];
    let flags = data[1];
    let nops = usize::from(data[2] % 16);
    let ops: Vec<u8> = data[3..].iter().take(nops).copied().collect();
    let bytes: Vec<u8> = data[3 + ops.len()..].to_vec();
    let rt = VirtualRuntime::new(u64::from(flags));
    let mut solo = Solo::new(proto, rt.clone());
    let ms = Duration::from_millis;
    solo.set_opt(SockOpt::RecvMaxSize(256)).unwrap();
    solo.set_opt(SockOpt::RecvTimeout(Some(ms(100)))).unwrap();
    solo.set_opt(SockOpt::SendTimeout(Some(ms(100)))).unwrap();
    let _ = solo.set_opt(SockOpt::ReqResendTime(Some(ms(30))));
    let _ = solo.set_opt(SockOpt::Subscribe(Vec::new()));

    let (x, y) = duplex(1 << 12);
    let (xr, xw) = x.split();
    let (yr, mut yw) = y.split();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let mut pool = LocalPool::new();
    pool.spawner()
        .spawn_local(async move {
            use embedded_io_async::Write;
            // The peer: its handshake (or garbage), then the fuzz bytes.
            let _keep = yr;
            let mut out = if flags & 1 == 0 {
                handshake(proto.peer_number()).to_vec()
            } else {
                Vec::new()
            };
            out.extend_from_slice(&bytes);
            let _ = yw.write_all(&out).await;
            if flags & 2 == 0 {
                drop(yw); // EOF after the bytes
            } else {
                std::future::pending::<()>().await;
            }
        })
        .unwrap();
    pool.spawner()
        .spawn_local(async move {
            let cfg = StreamConfig::small(Framing::Tcp);
            if let Ok(mut c) = solo.attach(xr, xw, cfg).await {
                let mut failed = None;
                for op in ops {
                    let r = if op & 1 == 0 {
                        c.send(Message::from(&[op; 3][..])).await.err().map(|e| e.error)
                    } else {
                        c.recv().await.err()
                    };
                    if let Some(f) = failed {
                        assert_eq!(r, Some(f), "a failed connection stays failed");
                    }
                    failed = failed.or(c.error());
                }
            }
            d.set(true);
        })
        .unwrap();
    // Each operation ends within 100 ms of virtual time (its timeout), the
    // handshake within 10 s: 20 s of virtual time is ample.
    for _ in 0..400 {
        pool.run_until_stalled();
        if done.get() {
            return;
        }
        rt.advance(ms(50));
    }
    panic!("an operation did not end within its timeout");
});
