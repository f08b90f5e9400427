#!/usr/bin/env python3
"""Streaming time to first byte: N sequential SSE requests, each on a new connection.

usage: ttfb.py URL N  ->  prints "head_p50 first_event_p50 first_event_p90 done_p50" in ms
"""
import json, socket, sys, time
from urllib.parse import urlsplit

url, n = sys.argv[1], int(sys.argv[2])
u = urlsplit(url)
body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
req = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nAuthorization: Bearer junk\r\n"
       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
heads, firsts, dones = [], [], []
for _ in range(n):
    t0 = time.perf_counter()
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(req)
    buf, head, first = b"", None, None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        now = time.perf_counter()
        if head is None and b"\r\n\r\n" in buf:
            head = now
        if first is None and b"data:" in buf.split(b"\r\n\r\n", 1)[-1]:
            first = now
        if b"[DONE]" in buf:
            dones.append((now - t0) * 1000)
            break
    s.close()
    heads.append((head - t0) * 1000)
    firsts.append((first - t0) * 1000)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]

print(f"{pct(heads, .5):.2f} {pct(firsts, .5):.2f} {pct(firsts, .9):.2f} {pct(dones, .5):.2f}")
