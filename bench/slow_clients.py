"""How fast a server answers others while slow and stalled clients hold connections to it.

    python bench/slow_clients.py http://127.0.0.1:5555 [--slow 160] [--stalled 40]

Opens --slow connections that send a request head one header line every 2 s and --stalled
uploads that send their headers (Content-Length 100 MB) and a few bytes, then times GET /health
and runs/get on new connections, each alone first and then in that crowd. A server that gives
each connection a thread while it reads the request answers nothing until the crowd goes; see
app/worker.py. Needs only the stdlib and requests.
"""
from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import requests


def timed_gets(host: str, port: int, paths: list[str], count: int) -> list[float]:
    """Milliseconds of each GET on a new connection (30 s: timed out)."""
    times = []
    for i in range(count):
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection(host, port, timeout=30)
            connection.request("GET", paths[i % len(paths)])
            connection.getresponse().read()
            connection.close()
        except OSError:
            pass
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.1)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--slow", type=int, default=160, help="clients sending a header line every 2 s")
    parser.add_argument("--stalled", type=int, default=40, help="uploads stalled after their headers")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    url = urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    api = f"{args.url}/api/2.0/mlflow"
    experiment = requests.post(f"{api}/experiments/create", json={"name": f"slow-{time.time()}"}).json()["experiment_id"]
    run_id = requests.post(f"{api}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]["run_id"]
    paths = ["/health", f"/api/2.0/mlflow/runs/get?run_id={run_id}"]
    alone = timed_gets(host, port, paths, args.requests)

    crowd = [socket.create_connection((host, port)) for _ in range(args.slow + args.stalled)]
    for sock in crowd[:args.slow]:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\n")
    for i, sock in enumerate(crowd[args.slow:]):
        sock.sendall(f"PUT /api/2.0/mlflow-artifacts/artifacts/{experiment}/stalled-{i} HTTP/1.1\r\n"
                     f"Host: bench\r\nContent-Length: {100 << 20}\r\n\r\n".encode() + b"x" * 1000)
    stop = threading.Event()

    def trickle():
        while not stop.wait(2):
            for sock in crowd[:args.slow]:
                try:
                    sock.sendall(b"X-Slow: yes\r\n")
                except OSError:  # closed by the server's header timeout
                    pass
    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(1)
    try:
        crowded = timed_gets(host, port, paths, args.requests)
    finally:
        stop.set()
        for sock in crowd:
            sock.close()
    for name, times in (("alone", alone), (f"with {args.slow} slow + {args.stalled} stalled", crowded)):
        print(f"{name:32} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms")


if __name__ == "__main__":
    main()
