#!/usr/bin/env python3
"""Big files up and down through the artifact proxy, for every artifact store.

    .venv-test/bin/python bench/stores.py [--stores local,s3,azure,gcs,ftp,sftp,hdfs] [--sizes 100,1024]

For each store: its loopback test server (tests/servers/), our server through run.sh with that
store as the artifacts destination, and, for the local folder only, the official server beside
it. Each file is PUT to /api/2.0/mlflow-artifacts/artifacts/<path> from a generator (with a
Content-Length, never whole in the client's memory), read back streamed and checked (size,
CRC-32), then deleted. Reports MiB/s up and down (best of --repeat) and the RSS of the server's
process tree, sampled from /proc: idle after a warm-up, and the peak during each transfer.
Prints a table and writes bench/results/stores-<timestamp>.json. See bench/README.md.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import zlib
from multiprocessing import Pipe, Process
from pathlib import Path

import pytest

import servers  # bench/servers.py
from client import Client
from report import print_table
from servers import (BENCH_DIR, REPO, BenchError, official_server, ours_server, process_tree, read_kib,
                     setup_official)

# The test servers' helpers live in the package tests/servers/, whose name bench/servers.py
# holds in this process: that module also serves as the package, so that the helpers' own
# `from servers.loopback import ...` finds them. They import tests/conftest.py too.
servers.__path__ = [os.path.join(REPO, "tests", "servers")]
sys.path.append(os.path.join(REPO, "tests"))
from servers.azurite import ACCOUNT, start_azurite
from servers.fake_gcs import start_fake_gcs
from servers.moto import start_moto
from servers.sshd import start_sshd
from servers.vsftpd import start_vsftpd
from servers.webhdfs import WebHdfs

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"
MiB = 1024 * 1024
SAMPLE_SECONDS = 0.05  # RSS sampling period during a transfer
TIMEOUT = 600  # seconds without progress before a transfer fails


# --------------------------------------------------------------------------- stores
# Each starts its store's server (stopped by `stack`) and returns (destination, environment)
# for our server; destination None is a folder in the server's own data directory.


def local_store(tmp, stack):
    return None, {}


def s3_store(tmp, stack):
    moto = start_moto(tmp)
    stack.callback(moto.stop)
    return f"s3://{moto.create_bucket()}/root", moto.env()


def azure_store(tmp, stack):
    azurite = start_azurite(tmp)
    stack.callback(azurite.stop)
    return f"wasbs://{azurite.create_container()}@{ACCOUNT}.blob.core.windows.net/root", azurite.env()


def gcs_store(tmp, stack):
    gcs = start_fake_gcs(tmp)
    stack.callback(gcs.stop)
    return f"gs://{gcs.create_bucket()}/root", gcs.env()


def ftp_store(tmp, stack):
    ftp = start_vsftpd(tmp)
    stack.callback(ftp.stop)
    folder = ftp.home / f"bench-{uuid.uuid4().hex[:10]}"  # the FTP user's home is the server's '/'
    folder.mkdir()
    shutil.chown(folder, ftp.user)
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return ftp.url(f"/{folder.name}/root"), {}


def sftp_store(tmp, stack):
    sshd = start_sshd(tmp)
    stack.callback(sshd.stop)
    home = sshd.ssh_home(tmp / "home", "bench-sftp")  # ~/.ssh/config names the host bench-sftp
    return f"sftp://bench-sftp{tmp}/sftp/root", {"HOME": str(home)}


def serve_webhdfs(tmp, pipe):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not main()'s handler: terminate() ends it quietly
    server = WebHdfs(tmp)
    pipe.send((server.url, server.user))
    threading.Event().wait()  # serves from its threads until terminated


def hdfs_store(tmp, stack):
    """The WebHDFS stand-in runs in a child process, so that it does not share the client's GIL."""
    ours, theirs = Pipe()
    child = Process(target=serve_webhdfs, args=(tmp, theirs), daemon=True)
    child.start()
    stack.callback(child.join)
    stack.callback(child.terminate)
    if not ours.poll(20):
        raise RuntimeError("the WebHDFS stand-in did not start within 20 s")
    url, user = ours.recv()
    return "hdfs://namenode.invalid:8020/root", {"MLFLOW_HDFS_WEBHDFS_URL": url, "MLFLOW_HDFS_USER": user}


STORES = {"local": local_store, "s3": s3_store, "azure": azure_store, "gcs": gcs_store,
          "ftp": ftp_store, "sftp": sftp_store, "hdfs": hdfs_store}


# --------------------------------------------------------------------------- transfers


def tree_rss(pid):
    """RSS (MiB) summed over a server's process tree."""
    return sum(read_kib(f"/proc/{p}/status", "VmRSS") for p in process_tree(pid)) / 1024


class PeakRss(threading.Thread):
    """The peak of tree_rss(pid) while the with-block runs."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join()

    def run(self):
        while True:
            self.peak = max(self.peak, tree_rss(self.pid))
            if self.done.wait(SAMPLE_SECONDS):
                return


class Payload:
    """`mib` MiB made one MiB at a time, each different (its index in its first 8 bytes).
    requests sends an iterable with a length as a stream with a Content-Length."""

    def __init__(self, mib, block):
        self.mib, self.tail = mib, block[8:]
        self.crc = 0
        for chunk in self:
            self.crc = zlib.crc32(chunk, self.crc)

    def __len__(self):
        return self.mib * MiB

    def __iter__(self):
        for index in range(self.mib):
            yield index.to_bytes(8, "big") + self.tail


def warm_up(server, workers):
    """A 2 MiB file up and down on new connections (so on most workers): the store's client is
    set up and its SDK loaded before the idle reading."""
    for i in range(2 * workers):
        client = Client(server.url)
        path = f"{ARTIFACTS}bench-stores/warm-{i}.bin"
        try:
            client.call("PUT", path, "warm-up upload", timeout=TIMEOUT, data=os.urandom(2 * MiB))
            client.call("GET", path, "warm-up download", timeout=TIMEOUT)  # read whole (not streamed)
        finally:
            client.session.close()


def round_trip(server, payload):
    """(upload seconds, download seconds, upload peak RSS, download peak RSS) of one file."""
    client = Client(server.url)
    path = f"{ARTIFACTS}bench-stores/big-{payload.mib}.bin"
    try:
        with PeakRss(server.process.pid) as up:
            started = time.perf_counter()
            client.call("PUT", path, "upload", timeout=TIMEOUT, data=payload,
                        headers={"Content-Type": "application/octet-stream"})
            up_seconds = time.perf_counter() - started
        with PeakRss(server.process.pid) as down:
            started = time.perf_counter()
            crc = received = 0
            with client.call("GET", path, "download", timeout=TIMEOUT, stream=True) as response:
                for chunk in response.iter_content(MiB):
                    crc = zlib.crc32(chunk, crc)
                    received += len(chunk)
            down_seconds = time.perf_counter() - started
        if received != len(payload) or crc != payload.crc:
            state = "ok" if crc == payload.crc else "differs"
            raise BenchError(f"download: {received} of {len(payload)} bytes, CRC-32 {state}")
        client.call("DELETE", path, "delete", timeout=TIMEOUT)
    finally:
        client.session.close()
    return up_seconds, down_seconds, up.peak, down.peak


def measure(store, started, sizes, args, rows):
    """Idle RSS of every server, then each size: the servers take turns, round trip by round
    trip, so that background load hits them alike."""
    ready = []
    for server in started:
        try:
            warm_up(server, args.workers)
            time.sleep(1)
            rows[f"{store}:idle"][server.name] = {"value": tree_rss(server.process.pid)}
            ready.append(server)
        except BenchError as e:
            rows[f"{store}:idle"][server.name] = {"error": str(e)}
    block = os.urandom(MiB)
    for mib in sizes:
        payload = Payload(mib, block)
        results, errors = {server.name: [] for server in ready}, {}
        for _ in range(args.repeat):
            for server in ready:
                if server.name not in errors:
                    try:
                        results[server.name].append(round_trip(server, payload))
                    except BenchError as e:
                        errors[server.name] = str(e)
        for server in ready:
            print(f"[{store}] {server.name} {mib} MiB:", file=sys.stderr, end=" ")
            if server.name in errors:
                print("error: " + errors[server.name], file=sys.stderr)
                for kind in ("up", "down", "up_peak", "down_peak"):
                    rows[f"{store}:{mib}:{kind}"][server.name] = {"error": errors[server.name]}
                continue
            ups, downs, up_peaks, down_peaks = zip(*results[server.name])
            cells = {"up": mib / min(ups), "down": mib / min(downs),
                     "up_peak": max(up_peaks), "down_peak": max(down_peaks)}
            seconds = {"up": ups, "down": downs}
            for kind, value in cells.items():
                detail = {"seconds": [round(s, 3) for s in seconds[kind]]} if kind in seconds else {}
                rows[f"{store}:{mib}:{kind}"][server.name] = {"value": value, "detail": detail}
            print(f"up {cells['up']:.0f} MiB/s, down {cells['down']:.0f} MiB/s, "
                  f"peak RSS {cells['up_peak']:.0f}/{cells['down_peak']:.0f} MiB", file=sys.stderr)


def run_store(store, sizes, args, rows, skipped):
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"mlflow-bench-{store}-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        print(f"[{store}] starting its server ...", file=sys.stderr)
        try:
            destination, env = STORES[store](tmp, stack)
        except (Exception, pytest.skip.Exception, pytest.fail.Exception) as e:  # skip the store, not the run
            skipped[store] = str(e).strip().splitlines()[0]
            print(f"[{store}] skipped: {skipped[store]}", file=sys.stderr)
            return
        candidates = [ours_server(args.workers, artifacts_destination=destination, env=env)]
        candidates += [official_server(args.workers)] if store == "local" else []
        started = []
        for server in candidates:
            stack.callback(server.stop)
            try:
                server.start()
                started.append(server)
            except BenchError as e:
                rows[f"{store}:idle"][server.name] = {"error": f"start failed: {e}"}
        measure(store, started, sizes, args, rows)


def row_specs(stores, sizes):
    """Row key -> (label, unit, higher is better), store by store."""
    specs = {}
    for store in stores:
        specs[f"{store}:idle"] = (f"{store}: idle RSS after warm-up", "MiB", False)
        for mib in sizes:
            specs[f"{store}:{mib}:up"] = (f"{store}: {mib} MiB upload", "MiB/s", True)
            specs[f"{store}:{mib}:down"] = (f"{store}: {mib} MiB download", "MiB/s", True)
            specs[f"{store}:{mib}:up_peak"] = (f"{store}: {mib} MiB upload, peak RSS", "MiB", False)
            specs[f"{store}:{mib}:down_peak"] = (f"{store}: {mib} MiB download, peak RSS", "MiB", False)
    return specs


def store_list(text):
    stores = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES]
    if unknown or not stores:
        raise argparse.ArgumentTypeError(f"unknown store {unknown}; choose from {','.join(STORES)}")
    return stores


def size_list(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are whole MiB, e.g. 100,1024") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are whole MiB, at least 1")
    return sizes


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def main():
    parser = argparse.ArgumentParser(description="Big files through the artifact proxy, for every store.")
    parser.add_argument("--stores", type=store_list, default=list(STORES),
                        help=f"comma-separated, default {','.join(STORES)}")
    parser.add_argument("--sizes", type=size_list, default=[100, 1024], help="file sizes in MiB, default 100,1024")
    parser.add_argument("--large", action=argparse.BooleanOptionalAction, default=True,
                        help="include sizes of 1024 MiB and more (default on)")
    parser.add_argument("--repeat", type=int, default=3, help="round trips per size and server; best MiB/s, "
                                                              "highest peak RSS (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes of each server (default 4)")
    args = parser.parse_args()
    sizes = [mib for mib in args.sizes if args.large or mib < 1024]
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not sizes:
        parser.error("no size left: every size is 1024 MiB or more and --no-large was given")

    if "local" in args.stores:
        setup_official()

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)

    started_at = time.strftime("%Y%m%d-%H%M%S")
    load_before = load_average()
    print(f"load average before: {load_before}", file=sys.stderr)
    specs = row_specs(args.stores, sizes)
    rows = {key: {} for key in specs}
    skipped = {}
    try:
        for store in args.stores:
            run_store(store, sizes, args, rows, skipped)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    load_after = load_average()

    print()
    print_table(["ours", "official"] if "local" in args.stores else ["ours"], rows, specs)
    for store, reason in skipped.items():
        print(f"{store}: skipped: {reason}")
    print(f"\nload average (1, 5, 15 min) before: {load_before}, after: {load_after}; {os.cpu_count()} CPUs")

    results_dir = os.path.join(BENCH_DIR, "results")
    os.makedirs(results_dir, exist_ok=True)
    out = os.path.join(results_dir, f"stores-{started_at}.json")
    report = {
        "started_at": started_at,
        "sizes_mib": sizes,
        "repeat": args.repeat,
        "workers": args.workers,
        "load_average": {"before": load_before, "after": load_after},
        "cpus": os.cpu_count(),
        "skipped": skipped,
        "rows": [{"key": key, "label": spec[0], "unit": spec[1], "higher_is_better": spec[2], "results": rows[key]}
                 for key, spec in specs.items() if rows[key]],
    }
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nresults: {os.path.relpath(out, os.getcwd())}")


if __name__ == "__main__":
    main()
