"""TensorBoard as a child process of the demo, on 127.0.0.1, with a free port found for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

_PORT_TRIES = 10
_START_TIMEOUT = 60.0


class TensorBoardProcess:
    def __init__(self, process: subprocess.Popen, port: int):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, logdir: str, port: int) -> "TensorBoardProcess | None":
        """Starts `tensorboard --logdir`, trying the next ports if `port` is taken."""
        for candidate in range(port, port + _PORT_TRIES):
            process = subprocess.Popen(
                [sys.executable, "-m", "tensorboard.main", "--logdir", logdir,
                 "--host", "127.0.0.1", "--port", str(candidate)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            server = cls(process, candidate)
            if server._wait_until_serving():
                if candidate != port:
                    print(f"Port {port} is taken; TensorBoard uses port {candidate}.")
                return server
            error = process.stderr.read().decode(errors="replace") if process.poll() is not None else ""
            server.stop()
            if "already in use" not in error and "Address in use" not in error:
                print(f"TensorBoard did not start; training goes on without it.\n{error[-800:]}")
                return None
        print(f"Ports {port}-{port + _PORT_TRIES - 1} are taken; training goes on without TensorBoard.")
        return None

    def _wait_until_serving(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/data/plugins_listing", timeout=2) as reply:
                    if "featviz" in json.load(reply):
                        return True
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        return False

    def wait(self) -> int:
        """Blocks until TensorBoard ends or the user presses Ctrl+C; returns 0 either way."""
        try:
            self.process.wait()
        except KeyboardInterrupt:
            print("\nStopping TensorBoard.")
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
