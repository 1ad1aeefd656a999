#!/usr/bin/env python3
"""Side-by-side benchmark: nanosp (spperf), nng (bench/c/nngperf.c on the
system libnng) and a raw-socket baseline (bench/c/rawperf.c), alternating in
one run, over inproc, ipc, tcp, ws and tls (tls+tcp://, with
--transports ...,tls), at several message sizes, unpinned and
with every process pinned to one CPU.

Prints a table of medians, min-max and ratios; writes it (Markdown and JSON)
and a chart (SVG) to bench/results/. `bench/compare.sh` builds the peers and
calls this; see bench/README.md.

Latency is nng perf's "average latency" (one way, half a round trip, PAIR v1
ping-pong); throughput is the receiving side's msg/s (PAIR v1, one sender).
Raw latency is a blocking read/write ping-pong on a plain socket; raw
throughput is one write per length-prefixed message ("raw") or messages
packed into 64 KiB writes ("raw-batch"). WebSocket and TLS rows compare with
raw TCP (no TLS).

The blocking-API rows (--blocking) measure latency with spperf -B, whose
application calls the blocking `send` and `recv` from its own thread as
nng's perf calls nng_send and nng_recv, beside the async spperf, nng and raw.
"""

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"64": 64, "1k": 1024, "64k": 65536, "1m": 1 << 20}
# (latency round trips, throughput messages) per size, for a full run.
COUNTS = {
    64: (10000, 300000),
    1024: (10000, 200000),
    65536: (2000, 10000),
    1 << 20: (200, 600),
}


# Contexts of the fan-in server's REP socket (each serves one request at a
# time).
FANIN_CONTEXTS = 256
# (server, clients) of the fan-in rows: each implementation against itself,
# and each server with the other's clients, so that the servers are also
# compared with the same clients (nng's clients are the slower side).
FANIN_PAIRS = [("nanosp", "nanosp"), ("nng", "nng"), ("nng", "nanosp"), ("nanosp", "nng")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    def __init__(self, bins, scale_div, timeout):
        self.bins = bins
        self.div = scale_div
        self.timeout = timeout
        self.n = 0

    def url(self, transport):
        self.n += 1
        if transport == "tcp":
            return f"tcp://127.0.0.1:{free_port()}"
        if transport == "ws":
            return f"ws://127.0.0.1:{free_port()}/bench"
        if transport == "tls":
            # The certificate's DNS name: nng 1.5's mbedTLS matches DNS names only.
            return f"tls+tcp://localhost:{free_port()}"
        if transport == "ipc":
            return f"ipc:///tmp/nanosp-bench-{os.getpid()}-{self.n}.ipc"
        raise ValueError(transport)

    def cmd(self, impl, pinned):
        exe = {"nanosp": self.bins["spperf"], "nanosp-blocking": self.bins["spperf"],
               "nng": self.bins["nngperf"]}.get(impl, self.bins["rawperf"])
        flags = ["-B"] if impl == "nanosp-blocking" else []
        return (["taskset", "-c", "1"] if pinned else []) + [exe] + flags

    def one(self, impl, transport, kind, size, count, pinned):
        """One measurement: microseconds (lat) or msg/s (thr), or None."""
        base = self.cmd(impl, pinned)
        pat = r"average latency: ([0-9.]+)" if kind == "lat" else r"throughput: ([0-9.]+) \[msg/s\]"
        if transport == "inproc":
            out = self.run([base + [f"inproc_{kind}", str(size), str(count)]])
        else:
            t = "tcp" if impl.startswith("raw") and transport in ("ws", "tls") else transport
            url = self.url(t)
            client = f"remote_{kind}"
            if impl == "raw-batch":
                client = "remote_thr_batch"
            out = self.run(
                [
                    base + [f"local_{kind}", url, str(size), str(count)],
                    base + [client, url, str(size), str(count)],
                ]
            )
            if url.startswith("ipc://"):  # nng leaves its socket file behind
                try:
                    os.unlink(url[len("ipc://"):])
                except FileNotFoundError:
                    pass
        if out is None:
            return None, None, None
        m = re.search(pat, out)
        a = re.search(r"allocations per message: ([0-9.]+)", out)
        t = re.search(r"round trip p50 p99 p99\.9 max: ([0-9.]+) ([0-9.]+) ([0-9.]+) ([0-9.]+)", out)
        tails = [float(x) for x in t.groups()] if t else None
        return (float(m.group(1)) if m else None), (float(a.group(1)) if a else None), tails

    def scale(self, impl, transport, pairs, size, count, pinned):
        url = self.url(transport) if transport != "inproc" else f"inproc://scale{self.n}"
        self.n += 1
        out = self.run([self.cmd(impl, pinned) + ["scale", url, str(pairs), str(size), str(count)]])
        m = re.search(r"throughput: ([0-9.]+) \[rt/s\]", out or "")
        return float(m.group(1)) if m else None

    def fanin(self, server, client, transport, clients, count):
        """Fan-in: `client`'s REQ sockets (one connection each) against one
        `server` REP with contexts. Returns (rt/s, p50 µs, p99 µs) or None."""
        url = self.url(transport)
        out = self.run(
            [
                self.cmd(server, False) + ["local_fanin", url, str(FANIN_CONTEXTS), str(clients * count)],
                self.cmd(client, False) + ["remote_fanin", url, str(clients), "64", str(count)],
            ]
        )
        m = re.search(r"throughput: ([0-9.]+) \[rt/s\]", out or "")
        t = re.search(r"round trip p50 p99 p99\.9 max: ([0-9.]+) ([0-9.]+)", out or "")
        if not (m and t):
            return None
        return float(m.group(1)), float(t.group(1)), float(t.group(2))

    def run(self, cmds):
        """Starts every command (server first), waits for all; returns their
        output, or None if one failed or overran the safety timeout."""
        procs = []
        for c in cmds:
            procs.append(subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        out, ok = "", True
        deadline = time.monotonic() + self.timeout
        for p in reversed(procs):
            try:
                o, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
                out += o
                ok &= p.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not ok:
            sys.stderr.write(f"  failed: {' '.join(cmds[-1])}\n{out}\n")
            return None
        return out


def impls_for(transport, kind):
    if transport == "inproc":
        return ["nanosp", "nng"]
    if kind == "lat":
        return ["nanosp", "nng", "raw"]
    return ["nanosp", "nng", "raw", "raw-batch"]


def fmt_val(kind, v):
    if v is None:
        return "-"
    if kind == "lat":
        return f"{v:.1f}"
    if v < 1e4:
        return f"{v / 1e3:.2f}k"
    return f"{v / 1e3:.0f}k" if v < 1e6 else f"{v / 1e6:.2f}M"


def summarize(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(kind, a, b):
    """The plain quotient a/b of two medians: latency ratios below 1 and
    throughput ratios above 1 are nanosp's wins."""
    if not a or not b:
        return None
    return a["median"] / b["median"]


def tls_files():
    """A self-signed certificate for localhost made now (no key in the
    repository), given to spperf and nngperf through SP_TLS_CERT_KEY (the
    listener's) and SP_TLS_CA (what the dialer trusts)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="nanosp-bench-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    both = os.path.join(d, "both.pem")
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    os.environ["SP_TLS_CERT_KEY"] = both
    os.environ["SP_TLS_CA"] = cert


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="runs of each measurement (median reported)")
    ap.add_argument("--transports", default="inproc,ipc,tcp,ws")
    ap.add_argument("--sizes", default="64,1k,64k,1m")
    ap.add_argument("--kinds", default="lat,thr")
    ap.add_argument("--pin", default="no,yes", help="no, yes or both (no,yes)")
    ap.add_argument("--scale", default="inproc,tcp", help="transports for the REQ/REP pairs scaling test ('' skips)")
    ap.add_argument("--fanin", default="tcp", help="transports for the fan-in test ('' skips)")
    ap.add_argument("--blocking", default="tcp,ipc", help="transports for the blocking-API latency rows ('' skips)")
    ap.add_argument("--fanin-clients", type=int, default=10000, help="REQ clients of the fan-in test (divided by --div)")
    ap.add_argument("--div", type=int, default=1, help="divide message counts by this (smoke runs)")
    ap.add_argument("--timeout", type=float, default=90, help="safety limit of one run, seconds")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "bench"))
    ap.add_argument("--spperf", default=os.path.join(ROOT, "target", "release", "spperf"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"), help="'' writes nothing")
    ap.add_argument("--render", metavar="JSON", help="only write the table and chart again from a results file")
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            d = json.load(f)
        write_out(a.out, d["machine"], d["args"]["reps"], d["rows"], d["scale"], d["args"], d.get("fanin", []),
                  d.get("blocking", []))
        return

    # The fan-in test holds a connection per client on each side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    if "tls" in a.transports.split(",") + a.scale.split(","):
        tls_files()
    bins = {"spperf": a.spperf, "nngperf": os.path.join(a.bin, "nngperf"), "rawperf": os.path.join(a.bin, "rawperf")}
    r = Runner(bins, a.div, a.timeout)
    rows = []
    pins = [p == "yes" for p in a.pin.split(",") if p]
    for pinned in pins:
        for transport in [t for t in a.transports.split(",") if t]:
            for sz in a.sizes.split(","):
                size = SIZES[sz]
                for kind in a.kinds.split(","):
                    count = max(10, COUNTS[size][0 if kind == "lat" else 1] // a.div)
                    impls = impls_for(transport, kind)
                    got = {i: [] for i in impls}
                    tails = {i: [] for i in impls}
                    allocs = []
                    for _ in range(a.reps):
                        for i in impls:  # alternating: one of each per round
                            if got[i] and all(v is None for v in got[i]):
                                continue  # failed before: do not wait on it again
                            v, al, tl = r.one(i, transport, kind, size, count, pinned)
                            got[i].append(v)
                            if tl:
                                tails[i].append(tl)
                            if i == "nanosp" and al is not None:
                                allocs.append(al)
                    row = {
                        "pinned": pinned,
                        "transport": transport,
                        "size": size,
                        "kind": kind,
                        "count": count,
                        "results": {i: summarize(v) for i, v in got.items()},
                        "nanosp_allocs_per_msg": max(allocs) if allocs else None,
                        # Round-trip p50, p99, p99.9 and max (µs), each the
                        # median over the runs.
                        "tails": {i: [statistics.median(x[k] for x in v) for k in range(4)]
                                  for i, v in tails.items() if v},
                    }
                    rows.append(row)
                    print_row(row, header=len(rows) == 1)
    blocking_rows = []
    for pinned in pins:
        for transport in [t for t in a.blocking.split(",") if t]:
            for size in (64, 1024):
                count = max(10, COUNTS[size][0] // a.div)
                impls = ["nanosp", "nanosp-blocking", "nng", "raw"]
                got = {i: [] for i in impls}
                for _ in range(a.reps):
                    for i in impls:
                        got[i].append(r.one(i, transport, "lat", size, count, pinned)[0])
                row = {"pinned": pinned, "transport": transport, "size": size, "count": count,
                       "results": {i: summarize(v) for i, v in got.items()}}
                blocking_rows.append(row)
                print_blocking(row, header=len(blocking_rows) == 1)
    scale_rows = []
    for pinned in pins:
        for transport in [t for t in a.scale.split(",") if t]:
            total = max(40, 16000 // a.div)
            for pairs in (1, 2, 4, 8):
                got = {"nanosp": [], "nng": []}
                for _ in range(a.reps):
                    for i in got:
                        got[i].append(r.scale(i, transport, pairs, 64, max(5, total // pairs), pinned))
                row = {
                    "pinned": pinned,
                    "transport": transport,
                    "pairs": pairs,
                    "results": {i: summarize(v) for i, v in got.items()},
                }
                scale_rows.append(row)
                print_scale(row, header=len(scale_rows) == 1)

    fanin_rows = []
    clients = max(50, a.fanin_clients // a.div)
    count = 10 if a.div == 1 else 4
    for transport in [t for t in a.fanin.split(",") if t]:
        for server, client in FANIN_PAIRS:
            got = [r.fanin(server, client, transport, clients, count) for _ in range(a.reps)]
            ok = [g for g in got if g]
            row = {
                "transport": transport,
                "server": server,
                "client": client,
                "clients": clients,
                "count": count,
                # Medians over the runs: round trips/s, p50 and p99 (µs).
                "rts": statistics.median(g[0] for g in ok) if ok else None,
                "p50": statistics.median(g[1] for g in ok) if ok else None,
                "p99": statistics.median(g[2] for g in ok) if ok else None,
            }
            fanin_rows.append(row)
            print_fanin(row, header=len(fanin_rows) == 1)

    print("\n" + table_md(rows, scale_rows, fanin_rows, blocking_rows))  # medians with min-max
    if a.out:
        write_out(a.out, machine(), a.reps, rows, scale_rows, vars(a), fanin_rows, blocking_rows)


def write_out(out, meta, reps, rows, scale_rows, args, fanin_rows, blocking_rows):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"machine": meta, "args": args, "rows": rows, "scale": scale_rows, "fanin": fanin_rows,
                   "blocking": blocking_rows}, f, indent=1)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(f"Machine: {meta['cpu']}, {meta['cpus']} CPUs, {meta['kernel']}; {meta['date']}; "
                f"{reps} runs each (median, min-max).\n\n")
        f.write(table_md(rows, scale_rows, fanin_rows, blocking_rows))
    with open(os.path.join(out, "latest.svg"), "w") as f:
        f.write(chart_svg(rows))
    print(f"\nwrote {out}/latest.md, latest.json, latest.svg")


def print_row(row, header):
    if header:
        print(f"{'pin':3} {'transport':6} {'size':>7} {'kind':4} | {'nanosp':>8} {'nng':>8} {'raw':>8} {'raw-b':>8} | {'sp/nng':>7} {'sp/raw':>7} {'sp/raw-b':>8}")
    res, k = row["results"], row["kind"]
    sp = res.get("nanosp")
    cells = [fmt_val(k, (res.get(i) or {}).get("median")) for i in ("nanosp", "nng", "raw", "raw-batch")]
    rs = [ratio(k, sp, res.get(i)) for i in ("nng", "raw", "raw-batch")]
    rtxt = [f"{x:.2f}" if x else "-" for x in rs]
    print(f"{'yes' if row['pinned'] else 'no':3} {row['transport']:6} {row['size']:>7} {k:4} | "
          + " ".join(f"{c:>8}" for c in cells) + " | " + f"{rtxt[0]:>7} {rtxt[1]:>7} {rtxt[2]:>8}", flush=True)


BLOCKING_IMPLS = ("nanosp", "nanosp-blocking", "nng", "raw")


def print_blocking(row, header):
    if header:
        print(f"\n{'pin':3} {'transport':6} {'size':>7} | {'sp async':>8} {'sp block':>8} {'nng':>8} {'raw':>8} | "
              f"{'block/nng':>9} {'block/raw':>9}")
    res = row["results"]
    cells = [fmt_val("lat", (res.get(i) or {}).get("median")) for i in BLOCKING_IMPLS]
    b = res.get("nanosp-blocking")
    rs = [ratio("lat", b, res.get(i)) for i in ("nng", "raw")]
    rtxt = [f"{x:.2f}" if x else "-" for x in rs]
    print(f"{'yes' if row['pinned'] else 'no':3} {row['transport']:6} {row['size']:>7} | "
          + " ".join(f"{c:>8}" for c in cells) + f" | {rtxt[0]:>9} {rtxt[1]:>9}", flush=True)


def print_scale(row, header):
    if header:
        print(f"\n{'pin':3} {'transport':6} {'pairs':>5} | {'nanosp rt/s':>12} {'nng rt/s':>12} | {'sp/nng':>7}")
    res = row["results"]
    sp, nn = res["nanosp"], res["nng"]
    r = ratio("thr", sp, nn)
    print(f"{'yes' if row['pinned'] else 'no':3} {row['transport']:6} {row['pairs']:>5} | "
          f"{fmt_val('thr', sp and sp['median']):>12} {fmt_val('thr', nn and nn['median']):>12} | "
          f"{(f'{r:.2f}' if r else '-'):>7}", flush=True)


def print_fanin(row, header):
    if header:
        print(f"\n{'transport':9} {'server':7} {'clients':14} | {'rt/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    f = lambda v, d: "-" if v is None else f"{v / d:.0f}" if d == 1 else f"{v / d:.1f}"
    print(f"{row['transport']:9} {row['server']:7} {str(row['clients']) + ' ' + row['client']:14} | "
          f"{f(row['rts'], 1):>9} {f(row['p50'], 1e3):>8} {f(row['p99'], 1e3):>8}", flush=True)


def cell(kind, s):
    if not s:
        return "-"
    return f"{fmt_val(kind, s['median'])} ({fmt_val(kind, s['min'])}–{fmt_val(kind, s['max'])})"


def table_md(rows, scale_rows, fanin_rows=(), blocking_rows=()):
    out = []
    for kind, title, unit in (("lat", "Latency", "µs one way, lower is better"),
                              ("thr", "Throughput", "msg/s, higher is better")):
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        out.append(f"### {title} ({unit})\n")
        out.append(f"| pinned | transport | size | nanosp | nng | raw{' | raw-batch' if kind == 'thr' else ''} | sp/nng | sp/raw{' | sp/raw-batch' if kind == 'thr' else ''} | sp allocs/msg |")
        out.append("|---|---|---:|---:|---:|---:|" + ("---:|" if kind == "thr" else "") + "---:|---:|" + ("---:|" if kind == "thr" else "") + "---:|")
        for r in sel:
            res = r["results"]
            sp = res.get("nanosp")
            cols = [cell(kind, res.get(i)) for i in (["nanosp", "nng", "raw"] + (["raw-batch"] if kind == "thr" else []))]
            rs = [ratio(kind, sp, res.get(i)) for i in (["nng", "raw"] + (["raw-batch"] if kind == "thr" else []))]
            rtxt = [f"{x:.2f}×" if x else "-" for x in rs]
            size = {64: "64 B", 1024: "1 KiB", 65536: "64 KiB", 1 << 20: "1 MiB"}[r["size"]]
            t = r["transport"] + (" (raw: tcp)" if r["transport"] == "ws" else "")
            al = r.get("nanosp_allocs_per_msg")
            rtxt.append("-" if al is None else f"{al:.3f}")
            out.append(f"| {'yes' if r['pinned'] else 'no'} | {t} | {size} | " + " | ".join(cols + rtxt) + " |")
        out.append("")
    tail = [r for r in rows if r["kind"] == "lat" and r.get("tails")]
    if tail:
        out.append("### Tail latency (µs per round trip: p50 / p99 / p99.9, median of the runs)\n")
        out.append("| pinned | transport | size | nanosp | nng | p99 sp/nng |")
        out.append("|---|---|---:|---:|---:|---:|")
        for r in tail:
            t = r["tails"]
            size = {64: "64 B", 1024: "1 KiB", 65536: "64 KiB", 1 << 20: "1 MiB"}[r["size"]]
            f = lambda v: "-" if not v else " / ".join(f"{x:.1f}" if x >= 10 else f"{x:.2f}" for x in v[:3])
            sp, nn = t.get("nanosp"), t.get("nng")
            q = f"{sp[1] / nn[1]:.3g}×" if sp and nn and nn[1] else "-"
            out.append(f"| {'yes' if r['pinned'] else 'no'} | {r['transport']} | {size} | {f(sp)} | {f(nn)} | {q} |")
        out.append("")
    if blocking_rows:
        out.append("### Latency on the blocking API (µs one way, lower is better; nanosp's application on its own thread, as nng's perf)\n")
        out.append("| pinned | transport | size | nanosp async | nanosp blocking | nng | raw | blocking/nng | blocking/raw |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in blocking_rows:
            res = r["results"]
            b = res.get("nanosp-blocking")
            cols = [cell("lat", res.get(i)) for i in BLOCKING_IMPLS]
            rs = [ratio("lat", b, res.get(i)) for i in ("nng", "raw")]
            size = {64: "64 B", 1024: "1 KiB"}[r["size"]]
            out.append(f"| {'yes' if r['pinned'] else 'no'} | {r['transport']} | {size} | " + " | ".join(cols)
                       + " | " + " | ".join(f"{x:.2f}×" if x else "-" for x in rs) + " |")
        out.append("")
    if scale_rows:
        out.append("### Scaling: independent REQ/REP pairs in one process (64 B, aggregate round trips/s)\n")
        out.append("| pinned | transport | pairs | nanosp | nng | sp/nng |")
        out.append("|---|---|---:|---:|---:|---:|")
        for r in scale_rows:
            sp, nn = r["results"]["nanosp"], r["results"]["nng"]
            x = ratio("thr", sp, nn)
            out.append(f"| {'yes' if r['pinned'] else 'no'} | {r['transport']} | {r['pairs']} | {cell('thr', sp)} | {cell('thr', nn)} | {f'{x:.2f}×' if x else '-'} |")
        out.append("")
    if fanin_rows:
        r0 = fanin_rows[0]
        out.append(f"### Fan-in: {r0['clients']} REQ clients (one connection each, {r0['count']} round trips each, all at once) "
                   f"against one REP with {FANIN_CONTEXTS} contexts (64 B; medians)\n")
        out.append("| transport | server | clients | round trips/s | p50 ms | p99 ms |")
        out.append("|---|---|---|---:|---:|---:|")
        f = lambda v, d: "-" if v is None else f"{v / d:.0f}" if d == 1 else f"{v / d:.1f}"
        for r in fanin_rows:
            out.append(f"| {r['transport']} | {r['server']} | {r['client']} | {f(r['rts'], 1)} | "
                       f"{f(r['p50'], 1e3)} | {f(r['p99'], 1e3)} |")
        out.append("")
    return "\n".join(out) + "\n"


def chart_svg(rows):
    """Bars of nanosp/nng speed-up per row (log scale): latency as nng/nanosp,
    throughput as nanosp/nng, so taller is better for both."""
    items = []
    for r in rows:
        sp, nn = r["results"].get("nanosp"), r["results"].get("nng")
        if not sp or not nn:
            continue
        x = nn["median"] / sp["median"] if r["kind"] == "lat" else sp["median"] / nn["median"]
        size = {64: "64B", 1024: "1K", 65536: "64K", 1 << 20: "1M"}[r["size"]]
        items.append((f"{r['kind']} {r['transport']} {size}{' pin' if r['pinned'] else ''}", x, r["kind"]))
    import math
    w, h, left, bottom, top = max(400, 22 * len(items) + 80), 420, 60, 130, 30
    lo, hi = 0.1, max([10.0] + [x for _, x, _ in items]) * 1.2
    def y(v):
        v = min(max(v, lo), hi)
        return top + (h - top - bottom) * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
         f'<text x="{left}" y="18" font-size="14">nanosp speed-up over nng (log scale; latency: nng/nanosp, throughput: nanosp/nng)</text>']
    for g in (0.1, 0.5, 1, 2, 5, 10, 20, 50, 100):
        if g <= hi:
            s.append(f'<line x1="{left}" x2="{w - 10}" y1="{y(g):.1f}" y2="{y(g):.1f}" stroke="{"#000" if g == 1 else "#ddd"}"/>')
            s.append(f'<text x="{left - 6}" y="{y(g) + 4:.1f}" text-anchor="end">{g}×</text>')
    for k, (label, x, kind) in enumerate(items):
        bx = left + 10 + 22 * k
        y0, y1 = y(1), y(x)
        color = "#2b7bb9" if kind == "lat" else "#e08a1e"
        s.append(f'<rect x="{bx}" y="{min(y0, y1):.1f}" width="16" height="{abs(y0 - y1):.1f}" fill="{color}"><title>{label}: {x:.2f}×</title></rect>')
        s.append(f'<text transform="translate({bx + 11},{h - bottom + 8}) rotate(60)">{label}</text>')
    s.append("</svg>\n")
    return "\n".join(s)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": os.uname().release,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


if __name__ == "__main__":
    main()
