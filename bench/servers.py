"""Servers the benchmark starts itself: ours through run.sh, the official one through
official_server.sh; start-up time and memory of their process trees, read from /proc."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
START_TIMEOUT = 180  # seconds for a started server to answer GET /health


class BenchError(Exception):
    """A scenario or a server failed; the message goes into the table's cell."""


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...); None once
    the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def process_tree(root_pid):
    """Pids of root_pid, its descendants and its process group (read from /proc)."""
    parents, group = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (fields := stat_fields(entry)) is None:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        if int(fields[2]) == root_pid:
            group.add(pid)
    tree = {root_pid} if root_pid in parents else set()
    changed = True
    while changed:
        children = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= children
        changed = bool(children)
    return tree | group


def read_kib(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root_pid):
    """(RSS sum MiB, PSS sum MiB, process count) of a process tree."""
    pids = process_tree(root_pid)
    rss = sum(read_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(read_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return rss / 1024, pss / 1024, len(pids)


def free_port():
    """A free port on 127.0.0.1, chosen by the kernel (no clash with servers of other tools)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interrupt_on_signals():
    """SIGTERM and SIGHUP end a run like Ctrl-C, so the servers it started are always stopped."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


class StartedServer:
    """A server process started by the bench, in its own process group."""

    def __init__(self, name, launch, admin_password=None):
        """launch(port, data_dir) -> (command, extra environment); admin_password: the admin's,
        when it runs with basic-auth."""
        self.name = name
        self.launch = launch
        self.admin_password = admin_password
        self.data_dir = tempfile.mkdtemp(prefix=f"mlflow-bench-{name}-")
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.port = self.url = self.command = self.process = None
        self.stats = {}

    def start(self):
        """Start, wait for /health, let it settle; fills stats or raises BenchError."""
        self.port = free_port()  # only now: a server started before holds its port already
        self.url = f"http://127.0.0.1:{self.port}"
        self.command, extra_env = self.launch(self.port, self.data_dir)
        print(f"starting {self.name} on port {self.port} ...", file=sys.stderr)
        log = open(self.log_path, "wb")
        started = time.monotonic()
        try:
            self.process = subprocess.Popen(self.command, cwd=REPO, env={**os.environ, **extra_env},
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise BenchError(f"cannot start: {e.strerror}") from None
        finally:
            log.close()
        with requests.Session() as session:
            session.trust_env = False
            while True:
                if self.exit_reason():
                    raise BenchError(self.exit_reason())
                if time.monotonic() - started > START_TIMEOUT:
                    raise BenchError(f"no /health 200 within {START_TIMEOUT}s")
                try:
                    if session.get(self.url + "/health", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)
        self.stats["startup"] = time.monotonic() - started
        rss, pss, count = self.settle()
        if self.exit_reason():
            raise BenchError("after start-up: " + self.exit_reason())
        self.stats.update(idle_rss=rss, idle_pss=pss, processes=count)

    def settle(self, min_wait=3, max_wait=60):
        """Memory once the tree is idle: memory no longer growing and under a tenth of a core
        used in the last second. Workers may still boot after the first /health, and a server
        still booting would slow whatever is measured meanwhile (the other server's searches)."""
        time.sleep(min_wait)
        deadline = time.monotonic() + max_wait
        last, cpu = tree_memory(self.process.pid), self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(1)
            now, cpu_now = tree_memory(self.process.pid), self.cpu_seconds()
            if now[2] == last[2] and abs(now[0] - last[0]) <= 0.01 * last[0] and cpu_now - cpu < 0.1:
                return now
            last, cpu = now, cpu_now
        return last

    def cpu_seconds(self):
        """User + system CPU seconds of the process tree so far (from /proc; exited children not counted)."""
        stats = (stat_fields(pid) for pid in process_tree(self.process.pid))
        ticks = sum(int(fields[11]) + int(fields[12]) for fields in stats if fields)  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def exit_reason(self):
        """None while running, else why it is gone."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"{how}: {self.last_log_line()}"

    def last_log_line(self):
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [line.strip() for line in f if line.strip()]
            return lines[-1][:120] if lines else "no output"
        except OSError:
            return "no log"

    def stop(self, keep_data=False):
        """SIGTERM to the process group, SIGKILL whatever is left after 20 s."""
        if self.process is not None:
            pgid = self.process.pid  # start_new_session: the group id is the leader's pid
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            for _ in range(50):
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()
        if keep_data:
            print(f"  {self.name}: data and server.log kept in {self.data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


ADMIN_USERNAME = "admin"  # of the servers started with basic-auth


def auth_env(admin_password):
    """The environment that turns basic-auth on, for either server (both read these two), or
    keeps it off (None)."""
    if admin_password is None:
        return {}
    return {"MLFLOW_AUTH_ADMIN_USERNAME": ADMIN_USERNAME, "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password}


def ours_server(workers, backend_uri=None, artifacts_destination=None, env=None, admin_password=None,
                name="ours"):
    """backend_uri: a database URI; None for a SQLite file in the server's data dir.
    artifacts_destination: a store's location, None for a folder in the data dir; env: more
    environment (the store's settings). admin_password: basic-auth on, with this admin."""
    def launch(port, data_dir):
        return ["./run.sh"], {
            "MLFLOW_HOST": "127.0.0.1",
            "MLFLOW_PORT": str(port),
            "MLFLOW_WORKERS": str(workers),
            "MLFLOW_BACKEND_STORE_URI": backend_uri or f"sqlite:///{data_dir}/mlflow.db",
            "MLFLOW_ARTIFACTS_DESTINATION": artifacts_destination or f"{data_dir}/mlartifacts",
            "MLFLOW_APP_NAME": "basic-auth" if admin_password else "",
            **auth_env(admin_password),
            **(env or {}),
        }

    return StartedServer(name, launch, admin_password)


OFFICIAL_SCRIPT = os.path.join(BENCH_DIR, "official_server.sh")


def setup_official():
    """Create .venv-official if missing: one-off, not part of the start-up time."""
    print("setting up .venv-official (if missing) ...", file=sys.stderr)
    if subprocess.run([OFFICIAL_SCRIPT, "--setup"], cwd=REPO, timeout=1800).returncode != 0:
        raise SystemExit("bench/official_server.sh --setup failed")


def official_server(workers, backend_uri=None, admin_password=None, name="official"):
    """admin_password: --app-name basic-auth, with this admin (official_server.sh writes its ini
    file, users database in the data dir)."""
    script = OFFICIAL_SCRIPT

    def launch(port, data_dir):
        env = {"OFFICIAL_WORKERS": str(workers), "OFFICIAL_APP_NAME": "basic-auth" if admin_password else "",
               **auth_env(admin_password)}
        if backend_uri:
            env["OFFICIAL_BACKEND_STORE_URI"] = backend_uri
        return [script, str(port), data_dir], env

    return StartedServer(name, launch, admin_password)
