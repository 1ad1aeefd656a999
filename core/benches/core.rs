//! Micro-benchmarks of the core: framing, the body pool, and every protocol
//! machine through inproc sockets (one thread, so they measure the software
//! path, not thread wake-ups). `cargo bench -p nanosp`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use futures::executor::block_on;
use nanosp_core::frame::{encode_message, Decoder, Framing};
use nanosp_core::{testing::VirtualRuntime, Message, Protocol, Socket};

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    for size in [64usize, 1024, 65536] {
        let m = Message::from(vec![7u8; size]);
        let mut wire = Vec::new();
        for _ in 0..16 {
            encode_message(Framing::Tcp, &m, &mut wire);
        }
        g.throughput(Throughput::Elements(16));
        g.bench_function(format!("encode 16 x {size} B"), |b| {
            let mut out = Vec::with_capacity(wire.len());
            b.iter(|| {
                out.clear();
                for _ in 0..16 {
                    encode_message(Framing::Tcp, &m, &mut out);
                }
            })
        });
        g.bench_function(format!("decode 16 x {size} B"), |b| {
            let mut d = Decoder::new(Framing::Tcp, 0);
            b.iter(|| {
                let mut input = &wire[..];
                let mut n = 0;
                while !input.is_empty() {
                    if d.decode(&mut input).unwrap().is_some() {
                        n += 1;
                    }
                }
                assert_eq!(n, 16);
            })
        });
    }
    g.finish();
}

fn pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool");
    for size in [64usize, 4096, 65536] {
        g.bench_function(format!("message of {size} B, get + drop"), |b| {
            b.iter(|| {
                let mut m = Message::with_capacity(size);
                m.extend(&[1, 2, 3]);
                m
            })
        });
    }
    g.bench_function("clone (shared body)", |b| {
        let m = Message::from(vec![0u8; 1024]);
        b.iter_batched(|| (), |()| m.clone(), BatchSize::SmallInput)
    });
    g.finish();
}

fn linked(
    a: Protocol,
    b: Protocol,
    name: &str,
) -> (Socket<VirtualRuntime>, Socket<VirtualRuntime>) {
    let rt = VirtualRuntime::new(1);
    let x = Socket::new(a, rt.clone());
    let y = Socket::new(b, rt);
    let u = format!("inproc://bench-{name}");
    x.listen(&u).unwrap();
    y.dial(&u).unwrap();
    (x, y)
}

fn protocols(c: &mut Criterion) {
    let mut g = c.benchmark_group("inproc 64 B");
    g.throughput(Throughput::Elements(1));
    let (pull, push) = linked(Protocol::Pull0, Protocol::Push0, "pp");
    g.bench_function("push -> pull", |b| {
        let mut m = Some(Message::from(vec![0u8; 64]));
        b.iter(|| {
            push.try_send(m.take().unwrap()).unwrap();
            m = Some(pull.try_recv().unwrap());
        })
    });
    let (sub, publ) = linked(Protocol::Sub0, Protocol::Pub0, "ps");
    sub.subscribe(b"").unwrap();
    g.bench_function("pub -> sub", |b| {
        let mut m = Some(Message::from(vec![0u8; 64]));
        b.iter(|| {
            publ.try_send(m.take().unwrap()).unwrap();
            m = Some(sub.try_recv().unwrap());
        })
    });
    for p in [Protocol::Pair0, Protocol::Pair1, Protocol::Bus0] {
        let (a, bb) = linked(p, p, p.name());
        g.bench_function(format!("{} round trip", p.name()), |b| {
            let mut m = Some(Message::from(vec![0u8; 64]));
            b.iter(|| {
                bb.try_send(m.take().unwrap()).unwrap();
                let x = a.try_recv().unwrap();
                a.try_send(x).unwrap();
                m = Some(bb.try_recv().unwrap());
            })
        });
    }
    let (rep, req) = linked(Protocol::Rep0, Protocol::Req0, "rr");
    g.bench_function("req/rep round trip (async API)", |b| {
        let mut m = Some(Message::from(vec![0u8; 64]));
        b.iter(|| {
            block_on(async {
                req.send(m.take().unwrap()).await.unwrap();
                let q = rep.recv().await.unwrap();
                rep.send(q).await.unwrap();
                m = Some(req.recv().await.unwrap());
            })
        })
    });
    let (resp, surv) = linked(Protocol::Respondent0, Protocol::Surveyor0, "sr");
    g.bench_function("survey round trip", |b| {
        let mut m = Some(Message::from(vec![0u8; 64]));
        b.iter(|| {
            surv.try_send(m.take().unwrap()).unwrap();
            let q = resp.try_recv().unwrap();
            resp.try_send(q).unwrap();
            m = Some(surv.try_recv().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, framing, pool, protocols);
criterion_main!(benches);
