"""Start and stop the Azurite storage emulator (installed by the test command under tools/)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURITE_JS = ROOT / "tools" / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
# Azurite's fixed, publicly documented development account (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Azurite:
    """One Azurite process on free loopback ports, with its data in ``location``."""

    def __init__(
        self,
        location: Path,
        blob_port: int | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        oauth: bool = False,
    ) -> None:
        """``tls``: (certificate, key) PEM files to serve https; ``oauth``: accept Microsoft
        Entra bearer tokens (Azurite checks their issuer, audience and lifetime, not their
        signature; it needs ``tls``)."""
        if not AZURITE_JS.exists():
            raise RuntimeError(
                f"Azurite is not installed at {AZURITE_JS}; run scripts/test (it installs it)"
            )
        if not shutil.which("node"):
            raise RuntimeError("node is not on PATH; Azurite needs Node.js")
        self.location = Path(location)
        self.blob_port = blob_port or free_port()
        self.tls = tls
        self.oauth = oauth
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.blob_port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        log = open(self.location / "azurite.log", "ab")  # noqa: SIM115 - lives with the process
        options = []
        if self.tls:
            options += ["--cert", str(self.tls[0]), "--key", str(self.tls[1])]
        if self.oauth:
            options += ["--oauth", "basic"]
        self.proc = subprocess.Popen(
            [
                "node",
                str(AZURITE_JS),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(free_port()),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(free_port()),
                "--location",
                str(self.location),
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                *options,
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Azurite exited at start; see {self.location / 'azurite.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.blob_port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("Azurite did not start listening in time")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly, as a crashed storage service would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
