#!/usr/bin/env python3
"""Memory per idle pipe: a REP listener (spcat, or nngcat beside it) takes N
TCP connections that finish the SP handshake and then say nothing; the
listener's resident memory (VmRSS) before and after, divided by N, is the
cost of one idle pipe.

    bench/idle.py [--count N] [--max-per-pipe BYTES] [--max-threads N] [--nng] SPCAT

--max-per-pipe makes it a check: exit 1 when nanosp's figure is over;
--max-threads likewise for the listener's threads with the pipes open.
Clients bind source addresses spread over 127.0.0.0/8, so that ephemeral
ports do not run out past about 28,000 connections; the file descriptor
limit (this process holds N, the listener N) is raised to the hard limit,
which must allow it (100,000 needs `ulimit -Hn` above 100,000).
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import time

REQ0 = b"\0SP\0\0\x30\0\0"


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def rss_kib(pid):
    return status(pid, "VmRSS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cmd, count):
    port = free_port()
    argv = [a.replace("PORT", str(port)) for a in cmd]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socks = []
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it listens (a safety bound, not a sleep to sync)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    raise RuntimeError(f"{argv[0]} did not start listening")
                time.sleep(0.05)
        # Settle: the probe connection above may still be being torn down.
        probe = socket.create_connection(("127.0.0.1", port), timeout=5)
        probe.sendall(REQ0)
        assert len(probe.recv(8)) == 8
        before = rss_kib(p.pid)
        for i in range(count):
            s = socket.socket()
            s.bind((f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{(i & 255) or 1}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(REQ0)
            socks.append(s)
        for s in socks:  # every handshake answered: the pipes exist
            s.settimeout(30)
            h = b""
            while len(h) < 8:
                c = s.recv(8 - len(h))
                if not c:
                    raise RuntimeError("listener closed a connection")
                h += c
        # A listener answers the handshake before it attaches the pipe:
        # read until the figure stops moving (at most a few seconds).
        after = rss_kib(p.pid)
        for _ in range(50):
            time.sleep(0.1)
            now = rss_kib(p.pid)
            if now == after:
                break
            after = now
        return before, after, status(p.pid, "Threads")
    finally:
        for s in socks:
            s.close()
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spcat")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--max-per-pipe", type=int, default=0)
    ap.add_argument("--max-threads", type=int, default=0)
    ap.add_argument("--nng", action="store_true", help="measure nngcat too")
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < a.count + 100:
        sys.exit(f"idle.py: the hard fd limit {hard} is below {a.count + 100}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = [("nanosp (spcat)", [a.spcat, "--rep0", "--listen", "tcp://127.0.0.1:PORT", "--data", "x"])]
    if a.nng:
        rows.append(("nng (nngcat)", ["nngcat", "--rep0", "--listen", "tcp://127.0.0.1:PORT", "--data", "x"]))
    ours = None
    for name, cmd in rows:
        before, after, threads = measure(cmd, a.count)
        per = (after - before) * 1024 / a.count
        if ours is None:
            ours = (per, threads)
        print(f"{name}: {a.count} idle TCP pipes, RSS {before} -> {after} KiB: {per:.0f} B per pipe; {threads} threads")
    if a.max_per_pipe and ours[0] > a.max_per_pipe:
        sys.exit(f"idle.py: {ours[0]:.0f} B per idle pipe is over the budget of {a.max_per_pipe} B")
    if a.max_threads and ours[1] > a.max_threads:
        sys.exit(f"idle.py: {ours[1]} threads with the pipes open, over the budget of {a.max_threads}")


if __name__ == "__main__":
    main()
