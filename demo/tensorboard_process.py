"""TensorBoard as a child process of the demo, on 127.0.0.1, with a free port found for it."""

from __future__ import annotations

import json
import os
import socket
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
        """Starts `tensorboard --logdir`, on the next free port if `port` is taken, and says so."""
        taken = []
        for candidate in range(port, port + _PORT_TRIES):
            if not _free(candidate):
                taken.append(candidate)
                continue
            process = subprocess.Popen(
                [sys.executable, "-m", "tensorboard.main", "--logdir", logdir,
                 "--host", "127.0.0.1", "--port", str(candidate)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            server = cls(process, candidate)
            if server._wait_until_serving():
                if taken:
                    others = f" (and {', '.join(map(str, taken[1:]))})" if len(taken) > 1 else ""
                    print(f"Port {taken[0]} is taken ({_who(taken[0])}){others}; this demo's TensorBoard "
                          f"uses port {candidate}.")
                return server
            error = process.stderr.read().decode(errors="replace") if process.poll() is not None else ""
            server.stop()
            if "already in use" not in error and "Address in use" not in error:
                print(f"TensorBoard did not start; training goes on without it.\n{error[-800:]}")
                return None
            taken.append(candidate)  # bound by another program between the check and the start
        print(f"Ports {port}-{port + _PORT_TRIES - 1} are taken; training goes on without TensorBoard.")
        return None

    def _wait_until_serving(self) -> bool:
        """True once the process started here serves the dashboard on its port. Another
        TensorBoard already on that port would answer the same URL while this one fails to bind:
        TensorBoard's own info file (pid, port, logdir; written once it listens) tells them apart."""
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self._info() is not None:
                    with urllib.request.urlopen(self.url + "/data/plugins_listing", timeout=2) as reply:
                        if "featviz" in json.load(reply):
                            return True
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        return False

    def _info(self):
        """TensorBoard's record of this process serving this port, or None (not listening yet)."""
        from tensorboard import manager

        return next((info for info in manager.get_all() if info.pid == self.process.pid and info.port == self.port),
                    None)

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


def _free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (as TensorBoard would: reusing an
    address in TIME_WAIT, never one that something listens on)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _who(port: int) -> str:
    """What listens on `port`, as far as TensorBoard's info files say."""
    try:
        from tensorboard import manager

        info = next((i for i in manager.get_all() if i.port == port and _alive(i.pid)), None)
    except (OSError, ValueError):
        info = None
    if info is None:
        return "by another program"
    return f"by another TensorBoard, pid {info.pid}, serving {info.logdir}"


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (an info file outlives a TensorBoard that was killed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
