#!/usr/bin/python3
"""A real 3-node NATS cluster with JetStream on loopback, for the cluster
integration tests (issue 9): Debian's nats-server, one temporary directory
holding each node's JetStream store and log, fixed ports across restarts.

    with NatsCluster() as nats:
        xmppd ... --cluster nats.urls
        nats.kill(2)        # SIGKILL node index 2 (server name n3)
        nats.wait_ready()   # the two others have a meta leader
        nats.restart(2)     # same ports, same store directory

Readiness is checked two ways: every live node's monitoring port (/jsz,
/routez) reports the full route mesh and one agreed JetStream meta leader,
and a `$JS.API.INFO` request through the node's client port (RawNats, a
stdlib-only NATS client: python3-nats is not installed) is answered.

Run alone (`python3 tests/integration/nats_cluster.py`) it tests itself:
an R3 stream survives SIGKILL of the meta leader and its restart.

Only the standard library is used."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import free_port  # noqa: E402

NATS_SERVER_CANDIDATES = ("/usr/sbin/nats-server", "/usr/bin/nats-server")
CLUSTER_NAME = "xd"


def find_nats_server():
    """The nats-server binary, or an AssertionError telling how to get it."""
    for path in (os.environ.get("NATS_SERVER"), *NATS_SERVER_CANDIDATES,
                 shutil.which("nats-server")):
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError("nats-server not found (looked at $NATS_SERVER, "
                         f"{', '.join(NATS_SERVER_CANDIDATES)} and PATH): the cluster tests need "
                         "Debian's nats-server package; scripts/setup installs it "
                         "(apt-get install nats-server)")


class NatsError(Exception):
    pass


class NoResponders(NatsError):
    pass


class RawNats:
    """A minimal blocking NATS client (protocol 1, headers, no_responders):
    enough for request/reply to the JetStream API and plain publishes."""

    def __init__(self, port, host="127.0.0.1", timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.sid = 0
        self.inbox_n = 0
        line = self._line(time.monotonic() + timeout)
        if not line.startswith(b"INFO "):
            raise NatsError(f"expected INFO, got {line[:200]!r}")
        self.info = json.loads(line[5:])
        connect = {"verbose": False, "pedantic": False, "lang": "python-raw", "version": "0",
                   "protocol": 1, "headers": True, "no_responders": True, "name": "xd-test"}
        self.sock.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline)
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode("utf-8", "replace"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("NATS: no reply in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("NATS: no reply in time") from None
        if not data:
            raise NatsError("NATS: connection closed by the server")
        self.buf += data

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n, deadline):
        while len(self.buf) < n + 2:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject, payload=b"", reply=None):
        if isinstance(payload, str):
            payload = payload.encode()
        rep = f" {reply}" if reply else ""
        self.sock.sendall(f"PUB {subject}{rep} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def next_msg(self, deadline):
        """(subject, headers or None, payload) of the next MSG/HMSG; answers
        PING, skips +OK and INFO, raises on -ERR."""
        while True:
            line = self._line(deadline)
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line in (b"PONG", b"+OK") or line.startswith(b"INFO "):
                continue
            elif line.startswith(b"-ERR"):
                raise NatsError(line.decode("utf-8", "replace"))
            elif line.startswith(b"MSG "):
                parts = line.split()
                data = self._exact(int(parts[-1]), deadline)
                return parts[1].decode(), None, data
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hdr_len, total = int(parts[-2]), int(parts[-1])
                data = self._exact(total, deadline)
                return parts[1].decode(), data[:hdr_len].decode("utf-8", "replace"), data[hdr_len:]
            else:
                raise NatsError(f"NATS: unexpected {line[:200]!r}")

    def request(self, subject, payload=b"", timeout=5):
        """Request/reply; returns the reply payload. NoResponders when
        nobody listens (status 503), TimeoutError when nobody answers."""
        self.sid += 1
        self.inbox_n += 1
        inbox = f"_INBOX.xdtest.{os.getpid()}.{self.inbox_n}"
        sid = self.sid
        self.sock.sendall(f"SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\n".encode())
        self.publish(subject, payload, reply=inbox)
        deadline = time.monotonic() + timeout
        while True:
            subj, headers, data = self.next_msg(deadline)
            if subj != inbox:
                continue
            if headers is not None and headers.startswith("NATS/1.0 503"):
                raise NoResponders(f"no responders for {subject}")
            return data

    def js(self, api, body=None, timeout=5):
        """A JetStream API call ($JS.API.<api>) with a JSON body; returns the
        decoded reply, raising NatsError when it carries an error."""
        payload = b"" if body is None else json.dumps(body).encode()
        reply = json.loads(self.request(f"$JS.API.{api}", payload, timeout) or b"{}")
        if "error" in reply:
            raise NatsError(f"$JS.API.{api}: {reply['error']}")
        return reply


class NatsCluster:
    """|size| nats-server processes routed to each other, JetStream on,
    named n1..nSIZE (index i is server n{i+1}). Ports and store directories
    stay the same across kill()/restart()."""

    def __init__(self, size=3, base_dir=None, ready_timeout=30):
        self.binary = find_nats_server()
        self.size = size
        self.ready_timeout = ready_timeout
        if base_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="xd-nats-")
            self.dir = self.tmp.name
        else:
            self.tmp = None
            os.makedirs(base_dir, exist_ok=True)
            self.dir = base_dir
        self.procs = [None] * size
        self.logs = [None] * size
        self.log_paths = [os.path.join(self.dir, f"n{i + 1}.log") for i in range(size)]
        self._pick_ports()

    def _pick_ports(self):
        # free_port() closes its socket, so two calls can return the same
        # port: draw until all 3 * size are distinct.
        ports = []
        while len(ports) < 3 * self.size:
            p = free_port()
            if p not in ports:
                ports.append(p)
        n = self.size
        self.ports, self.cluster_ports = ports[:n], ports[n:2 * n]
        self.monitor_ports = ports[2 * n:]
        self.urls = ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    # ------------------------------------------------------------ processes

    def name(self, i):
        return f"n{i + 1}"

    def args(self, i):
        routes = ",".join(f"nats://127.0.0.1:{self.cluster_ports[j]}"
                          for j in range(self.size) if j != i)
        return [self.binary,
                "-n", self.name(i),
                "-a", "127.0.0.1", "-p", str(self.ports[i]),
                "-m", str(self.monitor_ports[i]),
                "-js", "-sd", os.path.join(self.dir, self.name(i)),
                "--cluster_name", CLUSTER_NAME,
                "--cluster", f"nats://127.0.0.1:{self.cluster_ports[i]}",
                "--routes", routes]

    def _spawn(self, i):
        assert self.procs[i] is None or self.procs[i].poll() is not None, f"{self.name(i)} runs"
        self.logs[i] = open(self.log_paths[i], "ab")
        self.logs[i].write(f"==== nats-server start {time.strftime('%H:%M:%S')} ====\n".encode())
        self.logs[i].flush()
        self.procs[i] = subprocess.Popen(self.args(i), stdout=self.logs[i],
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def alive_indexes(self):
        return [i for i in range(self.size) if self.alive(i)]

    def start(self, attempts=3):
        """Starts every server and waits until the cluster is ready. A port
        taken by another process between free_port() and the bind (nats-server
        exits with "address already in use") means new ports and a new try."""
        for attempt in range(attempts):
            for i in range(self.size):
                self._spawn(i)
            try:
                self.wait_ready()
                return self
            except AssertionError:
                in_use = any("address already in use" in self.read_log(i)
                             for i in range(self.size))
                if not in_use or attempt == attempts - 1:
                    raise
            self.stop()
            for i in range(self.size):
                shutil.rmtree(os.path.join(self.dir, self.name(i)), ignore_errors=True)
                os.rename(self.log_paths[i], f"{self.log_paths[i]}.port-clash-{attempt}")
            self._pick_ports()
        return self

    def kill(self, i):
        """SIGKILL server |i| and wait; returns its exit code (-9)."""
        p = self.procs[i]
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        code = p.wait()
        self.logs[i].close()
        return code

    def restart(self, i, wait=True):
        """Start server |i| again (after kill) on its ports and store; with
        |wait|, until the whole live cluster is ready again."""
        self._spawn(i)
        if wait:
            self.wait_ready()

    def stop(self):
        """SIGTERM every server (SIGKILL after 10 s); returns the codes."""
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for i, p in enumerate(self.procs):
            if p is None:
                continue
            try:
                codes.append(p.wait(timeout=10))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
            if self.logs[i] and not self.logs[i].closed:
                self.logs[i].close()
        return codes

    # ------------------------------------------------------------ readiness

    def monitor(self, i, path, timeout=1.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_ports[i]}/{path}",
                                    timeout=timeout) as r:
            return json.loads(r.read())

    def meta_leader(self, i):
        """Server |i|'s idea of the JetStream meta leader ('' if none)."""
        return (self.monitor(i, "jsz").get("meta_cluster") or {}).get("leader") or ""

    def status(self):
        """One line per server: alive, routes, meta leader, or the error."""
        out = []
        for i in range(self.size):
            if not self.alive(i):
                out.append(f"{self.name(i)}: down")
                continue
            try:
                jsz = self.monitor(i, "jsz")
                routez = self.monitor(i, "routez")
                meta = jsz.get("meta_cluster") or {}
                out.append(f"{self.name(i)}: routes={routez.get('num_routes')} "
                           f"js={'off' if jsz.get('disabled') else 'on'} "
                           f"leader={meta.get('leader')!r} cluster_size={meta.get('cluster_size')}")
            except Exception as e:  # noqa: BLE001 (status for a failure message)
                out.append(f"{self.name(i)}: monitor unreachable: {e!r}")
        return "\n".join(out)

    def _ready_problem(self):
        """None when every live server is routed to every other live one,
        all agree on a live meta leader and answer $JS.API.INFO; else why not."""
        live = self.alive_indexes()
        if not live:
            return "no server is running"
        if 2 * len(live) <= self.size:
            return f"only {len(live)} of {self.size} servers run: no JetStream quorum"
        leaders = set()
        for i in live:
            try:
                jsz = self.monitor(i, "jsz")
                routes = self.monitor(i, "routez").get("num_routes", 0)
            except Exception as e:  # noqa: BLE001
                return f"{self.name(i)}: monitoring port not answering ({e!r})"
            if jsz.get("disabled"):
                return f"{self.name(i)}: JetStream disabled"
            if routes < len(live) - 1:
                return f"{self.name(i)}: {routes} routes, expected {len(live) - 1}"
            meta = jsz.get("meta_cluster") or {}
            if not meta.get("leader"):
                return f"{self.name(i)}: no meta leader yet"
            if (meta.get("cluster_size") or 0) < self.size:
                return f"{self.name(i)}: meta cluster size {meta.get('cluster_size')}"
            leaders.add(meta["leader"])
        if len(leaders) != 1:
            return f"servers disagree on the meta leader: {sorted(leaders)}"
        leader = leaders.pop()
        if leader not in {self.name(i) for i in live}:
            return f"meta leader {leader} is not running"
        for i in live:
            try:
                with RawNats(self.ports[i], timeout=2) as nc:
                    nc.js("INFO", timeout=2)
            except Exception as e:  # noqa: BLE001
                return f"{self.name(i)}: $JS.API.INFO failed ({e!r})"
        return None

    def wait_ready(self, timeout=None):
        """Until _ready_problem() is None; AssertionError with the logs' tails
        after |timeout| seconds or when a server process exits."""
        timeout = timeout or self.ready_timeout
        deadline = time.monotonic() + timeout
        problem = None
        while time.monotonic() < deadline:
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise AssertionError(f"nats-server {self.name(i)} exited with "
                                         f"{p.returncode}\n{self.log_tails()}")
            problem = self._ready_problem()
            if problem is None:
                return
            time.sleep(0.1)
        raise AssertionError(f"NATS cluster not ready within {timeout}s: {problem}\n"
                             f"{self.status()}\n{self.log_tails()}")

    def leader_index(self):
        """Index of the current meta leader, as a live server sees it."""
        for i in self.alive_indexes():
            try:
                name = self.meta_leader(i)
            except Exception:  # noqa: BLE001
                continue
            for j in range(self.size):
                if self.name(j) == name:
                    return j
        return None

    def client(self, i=None, timeout=5):
        """A RawNats connected to server |i| (default: the first live one)."""
        if i is None:
            i = self.alive_indexes()[0]
        return RawNats(self.ports[i], timeout=timeout)

    # ------------------------------------------------------------ reporting

    def read_log(self, i):
        try:
            with open(self.log_paths[i], "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tails(self, chars=4000):
        out = []
        for i in range(self.size):
            out.append(f"---- nats-server {self.name(i)} log ({self.log_paths[i]}) ----")
            out.append(self.read_log(i)[-chars:])
        return "\n".join(out)

    def streams_summary(self):
        """Streams and their message counts, for failure messages."""
        try:
            with self.client(timeout=3) as nc:
                names = nc.js("STREAM.NAMES", {}, timeout=3).get("streams") or []
                lines = []
                for n in names:
                    st = nc.js(f"STREAM.INFO.{n}", timeout=3)
                    state = st.get("state", {})
                    lines.append(f"{n}: subjects={st.get('config', {}).get('subjects')} "
                                 f"messages={state.get('messages')} "
                                 f"first={state.get('first_seq')} last={state.get('last_seq')} "
                                 f"consumers={state.get('consumer_count')}")
                return "\n".join(lines) or "(no streams)"
        except Exception as e:  # noqa: BLE001
            return f"(streams unavailable: {e!r})"

    # ------------------------------------------------------------ lifetime

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            self._cleanup()
            raise

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print(self.log_tails(), flush=True)
        self._cleanup()
        return False

    def _cleanup(self):
        if self.tmp is not None and not os.environ.get("XD_KEEP_NATS"):
            self.tmp.cleanup()


# ---------------------------------------------------------------- self-test

def _selftest():
    def step(what):
        print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)

    t0 = time.monotonic()
    with NatsCluster() as nats:
        step(f"cluster ready in {time.monotonic() - t0:.1f}s: {nats.urls}\n{nats.status()}")
        with nats.client(0) as nc:
            info = nc.js("INFO")
            step(f"$JS.API.INFO via n1: {info.get('type')}")
            nc.js("STREAM.CREATE.SELFTEST", {"name": "SELFTEST", "subjects": ["selftest.>"],
                                             "num_replicas": 3, "storage": "file"})
            for k in range(10):
                ack = json.loads(nc.request("selftest.a", f"m{k}"))
                assert ack.get("stream") == "SELFTEST" and ack.get("seq") == k + 1, ack
        with nats.client(1) as nc:
            st = nc.js("STREAM.INFO.SELFTEST")
            assert st["state"]["messages"] == 10, st["state"]
            assert st["cluster"].get("leader"), st["cluster"]
        step("R3 stream SELFTEST created via n1, 10 messages acked, seen via n2")

        victim = nats.leader_index()
        assert victim is not None, nats.status()
        code = nats.kill(victim)
        assert code == -signal.SIGKILL, code
        t1 = time.monotonic()
        nats.wait_ready()
        new_leader = nats.leader_index()
        assert new_leader is not None and new_leader != victim, nats.status()
        step(f"killed meta leader {nats.name(victim)}: {nats.name(new_leader)} leads after "
             f"{time.monotonic() - t1:.1f}s\n{nats.status()}")
        other = nats.alive_indexes()[0]
        with nats.client(other) as nc:
            deadline = time.monotonic() + 15
            k = 10
            while k < 20:  # the stream's own leader may be re-elected too
                try:
                    ack = json.loads(nc.request("selftest.b", f"m{k}", timeout=2))
                except (TimeoutError, NoResponders):
                    assert time.monotonic() < deadline, "stream not writable with 2 of 3"
                    time.sleep(0.2)
                    continue
                assert "error" not in ack and ack.get("seq") == k + 1, ack
                k += 1
            assert nc.js("STREAM.INFO.SELFTEST")["state"]["messages"] == 20
        step(f"10 more messages acked with 2 of 3 servers (via {nats.name(other)})")

        nats.restart(victim)
        step(f"restarted {nats.name(victim)}\n{nats.status()}")
        deadline = time.monotonic() + 15
        while True:  # the restarted replica catches up
            with nats.client(victim) as nc:
                try:
                    st = nc.js("STREAM.INFO.SELFTEST", timeout=2)
                    if st["state"]["messages"] == 20 and all(
                            r.get("current") for r in st["cluster"].get("replicas", [])):
                        break
                except (TimeoutError, NatsError):
                    pass
            assert time.monotonic() < deadline, nats.streams_summary()
            time.sleep(0.2)
        step(f"stream after restart: {nats.streams_summary()}")
        procs, base = list(nats.procs), nats.dir
    assert all(p.poll() is not None for p in procs), "every nats-server stopped"
    assert not os.path.exists(base), f"{base} removed"
    step(f"stopped and cleaned up; self-test ok in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    _selftest()
