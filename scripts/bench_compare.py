"""Adapters that let bench_suite.py --compare run the same measurements
against Debian's Prosody and ejabberd (anchors.md), configured like xmppd
in the suite: plaintext c2s on one loopback port, SASL PLAIN allowed
without TLS, no rate limits or shapers, the test certificate for the TLS
runs, and the suite's accounts created before the server starts. Each
adapter has the interface of bench_suite.Xmppd: name, port, proc,
start(settings, tls) -> pid, stop(). A server that is not installed is
skipped with a note on stderr. Measurement code only: never a test."""
import os
import shutil
import signal
import subprocess
import sys
import time

# The suite's own helpers (bench_suite.py runs main() only as a script).
from bench_suite import CERTS, PIN_SERVER, free_port as _free_port  # noqa: E402
from bench_suite import stop_process as _stop, wait_port as _wait_port  # noqa: E402


class Prosody:
    """Prosody 0.12 in the foreground (-F) with its own config and data
    directory; internal_hashed storage (SCRAM), epoll, limits off."""
    name = "Prosody"

    def __init__(self, tmp, users, password, offline):
        self.dir = os.path.join(tmp, "prosody")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.port = _free_port()
        self.proc = None
        # Prosody refuses to read a key it cannot own; copy the test pair.
        shutil.copy(os.path.join(CERTS, "server.pem"), os.path.join(self.dir, "server.crt"))
        shutil.copy(os.path.join(CERTS, "server.key"), os.path.join(self.dir, "server.key"))
        self.tls = None
        self._write_config(tls=False)
        for i in range(users):
            self._ctl("register", f"u{i}", "localhost", password)

    def _write_config(self, tls):
        cfg = os.path.join(self.dir, "prosody.cfg.lua")
        ssl = (f'ssl = {{ certificate = "{self.dir}/server.crt"; key = "{self.dir}/server.key" }}'
               if tls else "")
        with open(cfg, "w") as f:
            f.write(f"""
run_as_root = true
pidfile = "{self.dir}/prosody.pid"
data_path = "{self.data}"
network_backend = "epoll"
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "smacks"; "carbons" }}
modules_disabled = {{ "s2s"; "offline" }}
c2s_ports = {{ {self.port} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{}}
authentication = "internal_hashed"
allow_unencrypted_plain_auth = true
c2s_require_encryption = {"true" if tls else "false"}
limits = {{ c2s = {{ rate = "1000mb/s" }}; c2s_unauthed = {{ rate = "1000mb/s" }} }}
log = {{ warn = "{self.dir}/prosody.log" }}
{ssl}
VirtualHost "localhost"
""")
        self.cfg = cfg
        self.tls = tls

    def _ctl(self, *args):
        subprocess.run(["prosodyctl", "--config", self.cfg, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, settings=(), tls=False):
        self.stop()
        if tls != self.tls:
            self._write_config(tls)
        self.proc = subprocess.Popen([*PIN_SERVER, "prosody", "--config", self.cfg, "-F"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, seconds=60)
        return self.proc.pid

    def stop(self):
        _stop(self.proc)
        self.proc = None


class Ejabberd:
    """ejabberd 23.01 in the foreground under Debian's ejabberdctl (which
    runs it as the ejabberd user), with its own config, node name, spool
    and log directories; Mnesia storage, SCRAM password format, shapers
    off. Accounts are made by in-band registration with xd-loadgen, which
    is faster than one ejabberdctl (one Erlang VM) per account."""
    name = "ejabberd"

    def __init__(self, tmp, users, password, offline, loadgen):
        import pwd
        self.dir = os.path.join(tmp, "ejabberd")
        for d in ("log", "db"):
            os.makedirs(os.path.join(self.dir, d))
        self.port = _free_port()
        self.node = f"xdbench{os.getpid()}@localhost"
        self.proc = None
        self.tls = None
        with open(os.path.join(self.dir, "cert.pem"), "w") as f:
            for name in ("server.pem", "server.key"):
                with open(os.path.join(CERTS, name)) as part:
                    f.write(part.read())
        self._write_config(tls=False)
        if os.path.exists("/etc/ejabberd/inetrc"):
            shutil.copy("/etc/ejabberd/inetrc", os.path.join(self.dir, "inetrc"))
        ej = pwd.getpwnam("ejabberd")
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(n, ej.pw_uid, ej.pw_gid)
        os.chmod(tmp, 0o755)
        self.start()
        done = subprocess.run(
            [loadgen, "--server", f"127.0.0.1:{self.port}", "--domain", "localhost",
             "--users", str(users), "--user-prefix", "u", "--password", password,
             "--concurrency", "10", "register", "--connections", str(users)],
            capture_output=True, text=True, timeout=300)
        self.stop()
        if done.returncode != 0:
            raise RuntimeError(f"registration failed: {done.stdout[-300:]} {done.stderr[-300:]}")

    def _write_config(self, tls):
        self.cfg = os.path.join(self.dir, "ejabberd.yml")
        with open(self.cfg, "w") as f:
            f.write(f"""hosts:
  - localhost
loglevel: warning
certfiles:
  - "{self.dir}/cert.pem"
listen:
  -
    port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: none
    access: c2s
    starttls: {"true" if tls else "false"}
    starttls_required: {"true" if tls else "false"}
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  c2s:
    allow: all
  register:
    allow: all
shaper: {{}}
shaper_rules:
  max_user_sessions: 100000
  max_user_offline_messages: 100000
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
modules:
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_stream_mgmt: {{}}
  mod_register:
    ip_access: all
    access: register
""")
        self.tls = tls

    def _ctl(self):
        return ["ejabberdctl", "--config-dir", self.dir, "--config", self.cfg,
                "--logs", os.path.join(self.dir, "log"), "--spool", os.path.join(self.dir, "db"),
                "--node", self.node]

    def _beam_pid(self):
        """The Erlang VM of our node: what the CPU and RSS figures must read
        (ejabberdctl and su in front of it do no work)."""
        short = self.node.split("@")[0]
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if "beam" in exe and any(short.encode() in part for part in cmd):
                return int(pid)
        return None

    def start(self, settings=(), tls=False):
        self.stop()
        if tls != self.tls:
            self._write_config(tls)
            import pwd
            ej = pwd.getpwnam("ejabberd")
            os.chown(self.cfg, ej.pw_uid, ej.pw_gid)
        self.proc = subprocess.Popen([*PIN_SERVER, *self._ctl(), "foreground"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, seconds=120)
        return self._beam_pid() or self.proc.pid

    def stop(self):
        beam = self._beam_pid()
        if beam:
            # ejabberdctl may return before the VM is gone: wait for the VM.
            os.kill(beam, signal.SIGTERM)
            deadline = time.time() + 30
            while os.path.exists(f"/proc/{beam}") and time.time() < deadline:
                time.sleep(0.1)
            if os.path.exists(f"/proc/{beam}"):
                os.kill(beam, signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def other_servers(tmp, users, password, offline, loadgen):
    servers = []
    if shutil.which("prosody") and shutil.which("prosodyctl"):
        try:
            servers.append(Prosody(tmp, users, password, offline))
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"bench: Prosody skipped: {e}", file=sys.stderr)
    else:
        print("bench: Prosody not installed (apt-get install prosody): skipped", file=sys.stderr)
    if not shutil.which("ejabberdctl"):
        print("bench: ejabberd not installed (apt-get install ejabberd): skipped", file=sys.stderr)
    else:
        try:
            servers.append(Ejabberd(tmp, users, password, offline, loadgen))
        except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as e:
            print(f"bench: ejabberd skipped: {e}", file=sys.stderr)
    return servers
