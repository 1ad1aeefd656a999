#!/usr/bin/env python3
"""The nng side of the differential test (transports/std/tests/differential.rs).

Reads sequences from stdin, one per line, tab-separated:

    NAME <TAB> TRANSPORT <TAB> SOCKETS <TAB> STEPS

TRANSPORT is tcp, ipc or none; SOCKETS is e.g. ``a=req,b=rep`` (the first
socket listens, the others dial it, and the sequence starts once every
socket has its pipes; with ``none`` nothing is connected); STEPS is
``;``-separated, each one of:

    X.send BODY      X.recv           X.recv& ID (recv in the background)
    X.trysend BODY   X.tryrecv        (sockets only: NNG_FLAG_NONBLOCK)
    join ID          wait MS          X.set OPTION MS (-1 = forever)
    X.sub [TOPIC]    X.unsub [TOPIC]  S.ctx C (open context C on socket S)
    X.close          X.pipes N (wait until X has N pipes, 5 s at most)
    X.listen tcp|ipc X.dial ipc-absent (an ipc path nobody listens on)

where X is a socket or a context name. Prints one line per step,
``NAME <TAB> INDEX <TAB> RESULT``, in any order; index 0 is the set-up. A
RESULT is ``ok``, ``msg:BODY`` (bytes outside 0x21..0x7e and the backslash
as ``\\xNN``) or nng's error name (ETIMEDOUT, ESTATE, ...).

usage: nng_diff.py [THREADS] < sequences
"""
import concurrent.futures
import os
import shutil
import sys
import tempfile
import threading
import time

import pynng
from pynng._nng import ffi, lib

ERRNAMES = {
    getattr(lib, n): n[4:] for n in dir(lib) if n.startswith("NNG_E") and n[5:].isupper()
}

CLASSES = {
    "req": pynng.Req0,
    "rep": pynng.Rep0,
    "pub": pynng.Pub0,
    "sub": pynng.Sub0,
    "push": pynng.Push0,
    "pull": pynng.Pull0,
    "pair0": pynng.Pair0,
    "pair1": pynng.Pair1,
    "surveyor": pynng.Surveyor0,
    "respondent": pynng.Respondent0,
    "bus": pynng.Bus0,
}

# Both sides start every socket with these (nng's defaults are "forever").
DEFAULT_TIMEOUT_MS = 2000
PIPE_WAIT_S = 5.0
JOIN_WAIT_S = 10.0

TMP = tempfile.mkdtemp(prefix="nng-diff-")
_n = [0]
_n_lock = threading.Lock()


def fresh_ipc(what="s"):
    with _n_lock:
        _n[0] += 1
        return "ipc://%s/%s%d.ipc" % (TMP, what, _n[0])


def errname(rv):
    return ERRNAMES.get(rv, "E%d" % rv)


class Err(Exception):
    def __init__(self, rv):
        super().__init__(errname(rv))
        self.name = errname(rv)


def check(rv):
    if rv != 0:
        raise Err(rv)


def escape(b):
    return "".join(
        chr(c) if 0x21 <= c <= 0x7E and c != 0x5C else "\\x%02x" % c for c in b
    )


def set_ms(target, name, ms):
    if isinstance(target, Ctx):
        check(lib.nng_ctx_set_ms(target.ctx[0], name.encode(), ms))
    else:
        # pynng's option setters ignore nng's return value: call nng.
        check(lib.nng_socket_set_ms(target.socket, name.encode(), ms))


class Ctx:
    """An nng context, driven through nng's aio calls directly."""

    def __init__(self, sock):
        self.ctx = ffi.new("nng_ctx *")
        check(lib.nng_ctx_open(self.ctx, sock.socket))

    def send(self, data):
        msgp = ffi.new("nng_msg **")
        check(lib.nng_msg_alloc(msgp, 0))
        msg = msgp[0]
        lib.nng_msg_append(msg, data, len(data))
        aiop = ffi.new("nng_aio **")
        check(lib.nng_aio_alloc(aiop, ffi.NULL, ffi.NULL))
        aio = aiop[0]
        try:
            lib.nng_aio_set_msg(aio, msg)
            lib.nng_ctx_send(self.ctx[0], aio)
            lib.nng_aio_wait(aio)
            rv = lib.nng_aio_result(aio)
            if rv != 0:
                lib.nng_msg_free(msg)
            check(rv)
        finally:
            lib.nng_aio_free(aio)

    def recv(self):
        aiop = ffi.new("nng_aio **")
        check(lib.nng_aio_alloc(aiop, ffi.NULL, ffi.NULL))
        aio = aiop[0]
        try:
            lib.nng_ctx_recv(self.ctx[0], aio)
            lib.nng_aio_wait(aio)
            check(lib.nng_aio_result(aio))
            msg = lib.nng_aio_get_msg(aio)
            body = ffi.unpack(ffi.cast("char *", lib.nng_msg_body(msg)), lib.nng_msg_len(msg))
            lib.nng_msg_free(msg)
            return body
        finally:
            lib.nng_aio_free(aio)

    def close(self):
        lib.nng_ctx_close(self.ctx[0])


def sock_send(s, data, flags=0):
    check(lib.nng_send(s.socket, data, len(data), flags))


def sock_recv(s, flags=0):
    data = ffi.new("char **")
    size = ffi.new("size_t *")
    check(lib.nng_recv(s.socket, data, size, lib.NNG_FLAG_ALLOC | flags))
    body = ffi.unpack(data[0], size[0])
    lib.nng_free(data[0], size[0])
    return body


def do_recv(t):
    return "msg:" + escape(t.recv() if isinstance(t, Ctx) else sock_recv(t))


def wait_pipes(s, n):
    t0 = time.monotonic()
    while len(s.pipes) != n:
        if time.monotonic() - t0 > PIPE_WAIT_S:
            return "pipes=%d" % len(s.pipes)
        time.sleep(0.002)
    return "ok"


def guarded(f):
    try:
        r = f()
        return "ok" if r is None else r
    except Err as e:
        return e.name
    except pynng.NNGException as e:
        return errname(e.errno)


class Run:
    def __init__(self, name, transport, socks):
        self.name = name
        self.transport = transport
        self.order = []
        self.objs = {}
        self.bg = {}
        for spec in socks.split(","):
            who, proto = spec.split("=")
            s = CLASSES[proto]()
            set_ms(s, "recv-timeout", DEFAULT_TIMEOUT_MS)
            set_ms(s, "send-timeout", DEFAULT_TIMEOUT_MS)
            if proto == "req":
                # nng checks for due resends once per `req:resend-tick`
                # (1 s by default); nanosp resends on time. A fine tick makes
                # nng resend on time too; it changes nothing else.
                set_ms(s, "req:resend-tick", 10)
            self.objs[who] = s
            self.order.append(who)

    def setup(self):
        if self.transport == "none" or len(self.order) < 2:
            return "ok"
        first = self.objs[self.order[0]]
        if self.transport == "tcp":
            l = first.listen("tcp://127.0.0.1:0")
            url = "tcp://127.0.0.1:%s" % str(l.local_address).rsplit(":", 1)[1]
        else:
            url = fresh_ipc()
            first.listen(url)
        # One dialer at a time, each attached at the listener before the
        # next dials, so the listener's pipes are in dial order (as in
        # differential.rs).
        for i, who in enumerate(self.order[1:]):
            self.objs[who].dial(url, block=True)
            r = wait_pipes(first, i + 1)
            if r != "ok":
                return r
        r = wait_pipes(first, len(self.order) - 1)
        for who in self.order[1:]:
            if r == "ok":
                r = wait_pipes(self.objs[who], 1)
        return r

    def step(self, text):
        words = text.split()
        if words[0] == "wait":
            time.sleep(int(words[1]) / 1000.0)
            return "ok"
        if words[0] == "join":
            th, box = self.bg.pop(words[1])
            th.join(JOIN_WAIT_S)
            return box[0] if box else "HANG"
        who, op = words[0].split(".", 1)
        args = words[1:]
        t = self.objs.get(who)
        if op == "send":
            body = args[0].encode()
            if isinstance(t, Ctx):
                return guarded(lambda: t.send(body))
            return guarded(lambda: sock_send(t, body))
        if op == "recv":
            return guarded(lambda: do_recv(t))
        if op == "trysend":
            return guarded(lambda: sock_send(t, args[0].encode(), lib.NNG_FLAG_NONBLOCK))
        if op == "tryrecv":
            return guarded(lambda: "msg:" + escape(sock_recv(t, lib.NNG_FLAG_NONBLOCK)))
        if op == "recv&":
            box = []
            th = threading.Thread(target=lambda: box.append(guarded(lambda: do_recv(t))))
            th.daemon = True
            th.start()
            self.bg[args[0]] = (th, box)
            return "ok"
        if op == "set":
            return guarded(lambda: set_ms(t, args[0], int(args[1])))
        if op in ("sub", "unsub"):
            topic = args[0].encode() if args else b""
            name = b"sub:subscribe" if op == "sub" else b"sub:unsubscribe"
            buf = ffi.new("char[]", topic)
            if isinstance(t, Ctx):
                return guarded(lambda: check(lib.nng_ctx_set(t.ctx[0], name, buf, len(topic))))
            return guarded(lambda: check(lib.nng_socket_set(t.socket, name, buf, len(topic))))
        if op == "ctx":

            def open_ctx():
                self.objs[args[0]] = Ctx(t)

            return guarded(open_ctx)
        if op == "close":
            if isinstance(t, Ctx):
                return guarded(t.close)
            return guarded(lambda: check(lib.nng_close(t.socket)))
        if op == "pipes":
            return wait_pipes(t, int(args[0]))
        if op == "listen":
            url = "tcp://127.0.0.1:0" if args[0] == "tcp" else fresh_ipc()
            return guarded(lambda: check(lib.nng_listen(t.socket, url.encode(), ffi.NULL, 0)))
        if op == "dial":
            assert args[0] == "ipc-absent", args
            url = fresh_ipc("absent")
            return guarded(lambda: check(lib.nng_dial(t.socket, url.encode(), ffi.NULL, 0)))
        raise ValueError("unknown step %r" % text)

    def close_all(self):
        for th, _ in self.bg.values():
            th.join(JOIN_WAIT_S)
        for who in self.order:
            lib.nng_close(self.objs[who].socket)


out_lock = threading.Lock()


def emit(name, i, r):
    with out_lock:
        sys.stdout.write("%s\t%d\t%s\n" % (name, i, r))
        sys.stdout.flush()


def run(line):
    name, transport, socks, steps = line.split("\t")
    run = Run(name, transport, socks)
    try:
        emit(name, 0, guarded(run.setup))
        for i, st in enumerate([s.strip() for s in steps.split(";") if s.strip()], 1):
            emit(name, i, run.step(st))
    finally:
        run.close_all()


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    lines = [l.rstrip("\n") for l in sys.stdin if l.strip()]
    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for f in [ex.submit(run, l) for l in lines]:
                f.result()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.stdout.flush()
    # Background receives that outlived their join wait must not keep the
    # process alive.
    os._exit(0)


if __name__ == "__main__":
    main()
