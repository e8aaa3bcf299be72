#!/usr/bin/python3
"""Interop with Debian's Profanity (libstrophe), driven as a person would:
in a tmux pane, typing commands, reading the screen. Alice logs in over
STARTTLS and chats with Bob, a raw client, in both directions.

Usage: profanity_test.py XMPPD"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import Server
from hostile_test import Raw, add_user, check


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)


def screen(session):
    return tmux("capture-pane", "-t", session, "-p", "-S", "-200").stdout


def wait_screen(session, needle, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared on the screen:\n{screen(session)}")


def main():
    xmppd = sys.argv[1]
    for tool in ("profanity", "tmux"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (scripts/setup installs it)")
    session = f"xd-prof-{os.getpid()}"
    with Server(xmppd) as server, tempfile.TemporaryDirectory() as home:
        pw_a = add_user(server, "alice")
        pw_b = add_user(server, "bob")
        bob = Raw(server.port)
        check("<jid>bob@localhost/desk</jid>" in bob.login(server, "bob", pw_b, "desk"), "bob bound")
        bob.send("<presence/>")
        # spec/delivery.md §4: the (empty) offline backlog comes first.
        bob.read(until="state='done'")
        env = f"HOME={home} XDG_CONFIG_HOME={home}/.config XDG_DATA_HOME={home}/.local/share TERM=xterm"
        tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", f"env {env} profanity")
        try:
            wait_screen(session, "/connect")
            # 'tls trust': the test CA is not in Profanity's store.
            tmux("send-keys", "-t", session,
                 f"/connect alice@localhost server 127.0.0.1 port {server.port} tls trust", "Enter")
            wait_screen(session, "password")
            tmux("send-keys", "-t", session, pw_a, "Enter")
            wait_screen(session, "logged in successfully")
            tmux("send-keys", "-t", session, "/msg bob@localhost hello from profanity <&>", "Enter")
            out = bob.read(until="</message>")
            check("hello from profanity &lt;&amp;&gt;" in out and "from='alice@localhost/" in out, out)
            alice_full = out.split("from='")[1].split("'")[0]
            bob.send(f"<message to='{alice_full}' type='chat' id='b1'><body>hi alice from bob</body></message>")
            wait_screen(session, "hi alice from bob")
            tmux("send-keys", "-t", session, "/quit", "Enter")
        finally:
            tmux("kill-session", "-t", session)
        check("authenticated alice@localhost" in server.read_log(), "alice authenticated")
    print("profanity: ok")


if __name__ == "__main__":
    main()
