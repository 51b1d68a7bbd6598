"""A real `tensorboard` process on 127.0.0.1 for the plugin and browser tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardServer:
    """`tensorboard --logdir ...` in a subprocess; `get()` fetches from it."""

    def __init__(self, logdir: str, *extra_flags: str, env: dict | None = None, cwd: str | None = None):
        self._arguments = (logdir, extra_flags, env, cwd)
        self._restarts = 0
        self._start()

    def _start(self) -> None:
        logdir, extra_flags, env, cwd = self._arguments
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(logdir).parent / f"tensorboard-{self.port}.log"
        command = [
            sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
            "--host", "127.0.0.1", "--port", str(self.port), "--reload_interval", "1", *extra_flags,
        ]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env or os.environ.copy(), cwd=cwd
        )

    def wait_until(self, predicate, timeout: float = 60.0, what: str = "condition"):
        """Polls `predicate()` until it returns a truthy value; fails with the server log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                # The free port was taken between asking for it and binding it (TensorBoard's
                # fast data server also binds ports of its own): start again on another one.
                if "could not bind to port" in self.log() and self._restarts < 3:
                    self._restarts += 1
                    self._log.close()
                    self._start()
                    continue
                raise RuntimeError(f"tensorboard exited:\n{self.log()}")
            with contextlib.suppress(OSError, ValueError):
                value = predicate()
                if value:
                    return value
            time.sleep(0.25)
        raise TimeoutError(f"tensorboard: no {what} after {timeout}s:\n{self.log()}")

    def wait_for_plugin(self, timeout: float = 60.0) -> dict:
        def listed():
            listing = json.loads(self.get("/data/plugins_listing")[1])
            return listing if "featviz" in listing else None

        return self.wait_until(listed, timeout, "plugins listing")

    def get(self, path: str) -> tuple[int, bytes, dict]:
        """(status, body, headers) of GET path; HTTP errors are returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def json(self, path: str):
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# Both of TensorBoard's loading modes: the fast data server and the Python loader.
LOADERS = {"params": ["true", "false"], "ids": ["load_fast", "python_loader"]}


@contextlib.contextmanager
def serving(logdir, load_fast: str, ready, what: str):
    """A TensorBoard with the plugin listed on `logdir` in one loading mode, once `ready(tb)`."""
    with TensorBoardServer(logdir, f"--load_fast={load_fast}") as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: ready(tb), what=what)
        yield tb
