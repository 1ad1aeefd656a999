#!/usr/bin/env python3
"""A scripted pynng peer for the interop tests.

usage: pynng_peer.py PROTO dial|listen URL ACTION [ARG]

PROTO is a pynng class name (Pair0, Pair1, Push0, Pull0, Pub0, Sub0, Req0,
Rep0, Surveyor0, Respondent0, Bus0). Messages on stdin/stdout are framed as a
4-byte big-endian length, then the bytes. Actions:
  recv N        receive N messages, write them to stdout
  send [P]      read framed messages from stdin until EOF and send them (waits
                for P peers first, default 1)
  request       read framed messages from stdin; send each, write the reply
  echo N        receive N messages and send each back
  sub TOPIC N   (Sub0) subscribe to TOPIC, receive N messages, write them
  count SECS    receive until SECS pass with nothing; print the count as text
"""
import struct
import sys
import time

import pynng


def read_frames(f):
    out = []
    while True:
        h = f.read(4)
        if len(h) < 4:
            return out
        (n,) = struct.unpack(">I", h)
        out.append(f.read(n))


def write_frame(f, b):
    f.write(struct.pack(">I", len(b)))
    f.write(b)
    f.flush()


def main():
    proto, mode, url, action = sys.argv[1:5]
    args = sys.argv[5:]
    sock = getattr(pynng, proto)(recv_max_size=0)
    sock.recv_timeout = 20000
    sock.send_timeout = 20000
    if action == "sub":
        sock.subscribe(args[0].encode())
    if mode == "dial":
        sock.dial(url, block=False)
    else:
        sock.listen(url)
    out = sys.stdout.buffer
    if action == "recv":
        for _ in range(int(args[0])):
            write_frame(out, sock.recv())
    elif action == "sub":
        for _ in range(int(args[1])):
            write_frame(out, sock.recv())
    elif action == "send":
        msgs = read_frames(sys.stdin.buffer)
        deadline = time.monotonic() + 20
        want = int(args[0]) if args else 1
        while len(sock.pipes) < want and time.monotonic() < deadline:
            time.sleep(0.005)
        for m in msgs:
            sock.send(m)
        # nng does not linger: wait until the peer says it is done (it
        # closes the connection) or a safety limit passes.
        while sock.pipes and time.monotonic() < deadline:
            time.sleep(0.005)
    elif action == "request":
        # A survey (or a PAIR/BUS message) sent before the peer is connected
        # reaches nobody: wait for it first.
        deadline = time.monotonic() + 20
        while not sock.pipes and time.monotonic() < deadline:
            time.sleep(0.005)
        if proto == "Surveyor0":
            sock.survey_time = 20000
        for m in read_frames(sys.stdin.buffer):
            sock.send(m)
            write_frame(out, sock.recv())
    elif action == "echo":
        for _ in range(int(args[0])):
            sock.send(sock.recv())
        deadline = time.monotonic() + 20
        while sock.pipes and time.monotonic() < deadline:
            time.sleep(0.005)
    elif action == "count":
        sock.recv_timeout = int(float(args[0]) * 1000)
        n = 0
        try:
            while True:
                sock.recv()
                n += 1
        except pynng.Timeout:
            pass
        out.write(b"%d\n" % n)
        out.flush()
    sock.close()


if __name__ == "__main__":
    main()
