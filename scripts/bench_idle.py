#!/usr/bin/python3
"""Idle-connection benchmark for xmppd (a measurement, never a test).

Starts xmppd (the optimized build), logs in N connections (PLAIN over
plaintext with --allow-plaintext, or over STARTTLS with --tls), binds each,
leaves them idle, and reports the server's RSS delta per connection and the
login rate this Python client reached (a floor for the server's, since the
client is the slower side here).

Usage: bench_idle.py XMPPD [--connections N] [--tls] [--users U]"""
import argparse
import asyncio
import base64
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CERTS = os.path.join(ROOT, "tests", "data", "certs")
HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>").encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_until(reader, marker, buf):
    while marker not in buf[0]:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError("closed: " + buf[0][-300:].decode(errors="replace"))
        buf[0] += chunk
    idx = buf[0].index(marker) + len(marker)
    out, buf[0] = buf[0][:idx], buf[0][idx:]
    return out


async def login(port, user, password, resource, use_tls, ctx, keep):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    buf = [b""]
    writer.write(HEADER)
    await read_until(reader, b"</stream:features>", buf)
    if use_tls:
        writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await read_until(reader, b"/>", buf)
        await writer.start_tls(ctx, server_hostname="localhost")
        writer.write(HEADER)
        await read_until(reader, b"</stream:features>", buf)
    token = base64.b64encode(f"\0{user}\0{password}".encode())
    writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + token + b"</auth>")
    await read_until(reader, b"/>", buf)
    writer.write(HEADER)
    await read_until(reader, b"</stream:features>", buf)
    writer.write(f"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 f"<resource>{resource}</resource></bind></iq>".encode())
    await read_until(reader, b"</iq>", buf)
    keep.append((reader, writer))


async def run(args, port, pid):
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    keep = []
    base = rss_kib(pid)
    start = time.monotonic()
    batch = 200
    for first in range(0, args.connections, batch):
        await asyncio.gather(*[
            login(port, f"u{i % args.users}", "bench-password", f"r{i}", args.tls, ctx, keep)
            for i in range(first, min(first + batch, args.connections))])
    elapsed = time.monotonic() - start
    await asyncio.sleep(2)  # let the server settle (freed handshake buffers)
    after = rss_kib(pid)
    n = len(keep)
    print(f"connections      {n} ({'STARTTLS' if args.tls else 'plaintext'}, PLAIN, bound, idle)")
    print(f"server RSS       {base} KiB -> {after} KiB")
    print(f"per connection   {(after - base) * 1024 / n:.0f} bytes")
    print(f"logins/s         {n / elapsed:.0f} (client-bound: one Python process)")
    for _, w in keep:
        w.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("xmppd")
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--tls", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        for u in range(args.users):
            subprocess.run([args.xmppd, "--data", data, "user", "add", f"u{u}", "bench-password"],
                           check=True, capture_output=True)
        port = free_port()
        pin = ["taskset", "-c", "0"] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []
        # Plaintext runs have no certificate at all: with one, PLAIN is only
        # offered after STARTTLS.
        tls = ["--cert", os.path.join(CERTS, "server.pem"),
               "--key", os.path.join(CERTS, "server.key")] if args.tls else []
        server = subprocess.Popen(pin + [
            args.xmppd, "--domain", "localhost", "--listen", f"127.0.0.1:{port}", "--data", data,
            *tls, "--allow-plaintext", "--log-level", "warn",
            "--set", "sessions_per_account=1000", "--set", "max_unauthenticated=1000000",
            "--set", "read_rate_bytes=0"])
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            asyncio.run(run(args, port, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
