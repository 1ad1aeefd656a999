//! Drives whole sockets with arbitrary operations: a socket of any protocol
//! (cooked or raw) with an inproc peer and a byte-stream peer that sends
//! arbitrary frames, while the application sends, receives, opens contexts,
//! closes pipes and advances the clock. Checks: no panic, and for PUSH ->
//! PULL every accepted message is delivered or counted as lost.
#![no_main]

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use libfuzzer_sys::fuzz_target;
use nanosp_core::frame::{handshake, Framing};
use nanosp_core::stream::establish;
use nanosp_core::testing::duplex;
use nanosp_core::{testing::VirtualRuntime, Message, Protocol, Runtime, Socket};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let proto = Protocol::ALL[data[0] as usize % Protocol::ALL.len()];
    let raw = data[1] & 1 == 1;
    let accounting = proto == Protocol::Push0 && !raw && data[1] & 2 == 2;
    let rt = VirtualRuntime::new(u64::from(data[1]));
    let a = if raw {
        Socket::new_raw(proto, rt.clone())
    } else {
        Socket::new(proto, rt.clone())
    };
    let peer_proto = Protocol::ALL
        .iter()
        .copied()
        .find(|p| p.number() == proto.peer_number())
        .unwrap();
    let b = Socket::new(peer_proto, rt.clone());
    let name = format!("inproc://fuzz-{:p}", &a);
    a.listen(&name).unwrap();
    b.dial_nonblocking(&name).unwrap();

    let mut pool = LocalPool::new();
    let sp = pool.spawner();
    let (x, y) = duplex(1 << 16);
    let (xr, xw) = x.split();
    let (yr, mut yw) = y.split();
    let sref = a.transport_ref();
    // With accounting on, only the inproc peer is connected: every accepted
    // message must reach it or be counted as lost.
    if !accounting {
        sp.spawn_local(async move {
            if let Ok(p) = establish(&sref, xr, xw, Framing::Tcp, "mem://fuzz", false).await {
                p.run().await;
            }
        })
        .unwrap();
    }
    let _keep_reader = yr;
    // Usually a valid handshake; with bit 2 set, eight arbitrary bytes.
    let hs: Vec<u8> = if data[1] & 4 == 4 && data.len() >= 10 {
        data[2..10].to_vec()
    } else {
        handshake(proto.peer_number()).to_vec()
    };
    pool.run_until(async {
        use embedded_io_async::Write;
        yw.write_all(&hs).await.ok();
    });
    pool.run_until_stalled();

    let mut ctxs = Vec::new();
    let (mut accepted, mut received) = (0u64, 0u64);
    let mut ops = data[2..].chunks(3);
    for op in ops.by_ref() {
        let (k, v) = (op[0] % 10, op.get(1).copied().unwrap_or(0));
        let len = op.get(2).copied().unwrap_or(0) as usize;
        match k {
            0 => {
                // An arbitrary frame from the stream peer.
                let mut f = (len as u64).to_be_bytes().to_vec();
                f.extend((0..len).map(|i| v.wrapping_add(i as u8)));
                pool.run_until(async {
                    use embedded_io_async::Write;
                    yw.write_all(&f).await.ok();
                });
            }
            1 => {
                let mut m = Message::from(vec![v; len]);
                if raw {
                    let _ = m.set_header(&[0, 0, 0, v, 0x80, 0, 0, v][..(v as usize % 9)]);
                }
                if a.try_send(m).is_ok() {
                    accepted += 1;
                }
            }
            2 => {
                let _ = a.try_recv();
            }
            3 => {
                let _ = b.try_send(Message::from(vec![v; len]));
            }
            4 => {
                if b.try_recv().is_ok() {
                    received += 1;
                }
            }
            5 => rt.advance(Duration::from_millis(u64::from(v) * 50)),
            6 => {
                if let Some(p) = a.pipes().get(v as usize % 2) {
                    a.close_pipe(p.id);
                }
            }
            7 => {
                if ctxs.len() < 8 {
                    if let Ok(c) = a.context() {
                        ctxs.push(c);
                    }
                }
            }
            8 => {
                if let Some(c) = ctxs.get(v as usize % 8) {
                    let _ = c.try_send(Message::from(vec![v; len]));
                    let _ = c.try_recv();
                }
            }
            _ => {
                let _ = a.subscribe(&[v][..(len % 2)]);
                let _ = b.subscribe(b"");
            }
        }
        pool.run_until_stalled();
    }
    if accounting {
        while b.try_recv().is_ok() {
            received += 1;
        }
        let lost = a.stats().lost;
        assert_eq!(accepted, received + lost, "PUSH accepted = PULL got + lost");
    }
    let _ = rt.now();
    a.close();
    b.close();
    pool.run_until_stalled();
});
