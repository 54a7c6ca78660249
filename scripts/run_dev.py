"""Start the site, a real Celery worker and the LLM simulator together; Ctrl-C stops them all."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    env = dict(os.environ)
    bin_dir = Path(sys.executable).parent
    worker = subprocess.Popen(
        # -B: the embedded beat, which queues the periodic fetch of due event sources (CELERY_BEAT_SCHEDULE).
        [str(bin_dir / "celery"), "-A", "config", "worker", "-B", "--schedule", str(ROOT / "var" / "celerybeat-schedule"),
         "-l", "info", "--concurrency", "2", "--pool", "prefork"],
        cwd=ROOT,
        env=env,
    )
    children = [worker]
    sim_port = int(os.environ.get("LIVESEC_SIM_PORT", "8765"))
    if os.environ.get("LIVESEC_SIM", "1") != "0" and not _port_in_use(sim_port):
        # The demo's endpoints (sim-generator, tiny-markov, ...) point here, so generation works offline.
        children.append(subprocess.Popen(
            [sys.executable, "manage.py", "llm_simulator", "--port", str(sim_port), "--quiet"], cwd=ROOT, env=env
        ))
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"], cwd=ROOT, env=env
    )
    print(f"\nLiveSec Studio: http://{args.host}:{args.port}/  (Ctrl-C stops the site, the worker and the LLM simulator)\n", flush=True)
    children.insert(0, web)

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
