#!/usr/bin/python3
"""Interop with Debian's go-sendxmpp (go-xmpp): it logs in over STARTTLS,
verifying our certificate against the test CA, and sends a message that a
raw client bound on the same server receives with 'from' stamped.

Usage: sendxmpp_test.py XMPPD"""
import os
import shutil
import subprocess
import sys

from harness import CERTS, Server
from hostile_test import Raw, add_user, check


def main():
    xmppd = sys.argv[1]
    tool = shutil.which("go-sendxmpp")
    if not tool:
        raise SystemExit("go-sendxmpp is not installed (scripts/setup installs it)")
    with Server(xmppd) as server:
        pw_a = add_user(server, "alice")
        pw_b = add_user(server, "bob")
        bob = Raw(server.port)
        check("<jid>bob@localhost/desk</jid>" in bob.login(server, "bob", pw_b, "desk"), "bob bound")
        bob.send("<presence/>")
        # spec/delivery.md §4: the (empty) offline backlog comes first.
        bob.read(until="state='done'")
        env = dict(os.environ, SSL_CERT_FILE=os.path.join(CERTS, "ca.pem"))
        body = "hello from go-sendxmpp <&> ünïcode"
        run = subprocess.run(
            [tool, "-u", "alice@localhost", "-p", pw_a, "-j", f"localhost:{server.port}",
             "--timeout", "10", "bob@localhost"],
            input=body.encode(), env=env, capture_output=True, timeout=60)
        check(run.returncode == 0, f"go-sendxmpp failed: {run.stdout!r} {run.stderr!r}")
        out = bob.read(until="</message>")
        check("hello from go-sendxmpp &lt;&amp;&gt; ünïcode" in out, out)
        check("from='alice@localhost/" in out, out)
    print("go-sendxmpp: ok")


if __name__ == "__main__":
    main()
