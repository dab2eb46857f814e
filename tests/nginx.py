"""A real nginx, from the shipped deploy/nginx.conf, in front of a test server."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.server import ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED = ROOT / "deploy" / "nginx.conf"


def render(upstream_port: int | list[int], listen_port: int, read_timeout: str | None = None) -> str:
    """The shipped server block, with only its ports (and, where a test says so, its read timeout) changed;
    several upstream ports become several ``server`` lines of its upstream (round-robin)."""
    text = SHIPPED.read_text(encoding="utf-8")
    ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
    servers = "\n    ".join(f"server 127.0.0.1:{port};" for port in ports)
    for old, new in (("server 127.0.0.1:8000;", servers),
                     ("listen 80;", f"listen 127.0.0.1:{listen_port};")):
        assert old in text, f"the shipped config no longer has {old!r}"
        text = text.replace(old, new)
    if read_timeout is not None:  # every location's, the OpenAI route's longer one included
        text = re.sub(r"proxy_read_timeout \d+s;", f"proxy_read_timeout {read_timeout};", text)
    return text


class NginxProcess:
    def __init__(self, upstream_port: int | list[int], read_timeout: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="nginx-"))
        (self._dir / "course-stream.conf").write_text(render(upstream_port, self.port, read_timeout))
        (self._dir / "nginx.conf").write_text(
            f"""
user root;
worker_processes 1;
daemon off;
pid {self._dir}/nginx.pid;
error_log {self._dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {self._dir}/access.log;
    client_body_temp_path {self._dir}/client_body;
    proxy_temp_path {self._dir}/proxy;
    fastcgi_temp_path {self._dir}/fastcgi;
    uwsgi_temp_path {self._dir}/uwsgi;
    scgi_temp_path {self._dir}/scgi;
    include {self._dir}/course-stream.conf;
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxProcess:
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self._dir), "-c", str(self._dir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"nginx did not start: {error}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError("nginx did not start") from None
                time.sleep(0.05)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)
