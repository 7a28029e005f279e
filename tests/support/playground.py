"""Microsoft 365 Agents Playground (the local Teams emulator) run headless for tests.

It is started from ``tools/node_modules`` with a dummy ``xdg-open`` on PATH and
``TEAMSAPPTESTER_BROWSER=none``; tests talk to the HTTP API its own web client uses:
``POST /_conversation/v1/conversations/{id}/messages`` sends a message as a user (a channel is
the conversation of its id; a thread is ``<channel id>;messageid=<root id>``), and its Bot
Connector emulation at ``/_connector`` receives what the bot posts.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "tools" / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"

#: The mock data the playground starts with (its ``/_internal/v1/config``).
BOT_ID = "00000000-0000-0000-0000-00000000000011"
BOT_MENTION = "<at>Test Bot</at>"
USER_ID = "user-id-0"
USER_OBJECT_ID = "00000000-0000-0000-0000-0000000000020"
USER_UPN = "alexw@example.com"
CHANNEL = "team-id"


class Playground:
    def __init__(self, workdir: Path, port: int, app_endpoint: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        bin_dir = workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        opener = bin_dir / "xdg-open"
        opener.write_text("#!/bin/sh\nexit 0\n")
        opener.chmod(0o755)
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "TEAMSAPPTESTER_BROWSER": "none",
        }
        self._log = open(workdir / "playground.log", "wb")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [
                "node",
                str(CLI),
                "start",
                "-e",
                app_endpoint,
                "-c",
                "msteams",
                "-p",
                str(port),
                "--disable-telemetry",
            ],
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._workdir = workdir

    def wait_ready(self, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the playground exited: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_debug/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the playground did not start: {self.log()}")

    def log(self) -> str:
        return (self._workdir / "playground.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()

    def messages_url(self, conversation_id: str) -> str:
        return (
            f"{self.url}/_conversation/v1/conversations/{quote(conversation_id, safe='')}/messages"
        )

    @staticmethod
    def message_mentioning_bot(text: str) -> dict:
        """A message as Teams sends it to a bot in a channel: with the @mention markup."""
        return {
            "from": {"id": USER_ID},
            "text": f"{BOT_MENTION} {text}",
            "textFormat": "plain",
            "mentions": [{"mentioned": {"id": BOT_ID}, "text": BOT_MENTION}],
        }
