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
CHANNEL = "team-id"
BOT_MENTION = "<at>Test Bot</at>"
USER_ID = "user-id-0"
USER_OBJECT_ID = "6f1c2d3e-0000-4000-8000-0000000a1e20"
USER_UPN = "alexw@example.com"

#: The playground's mock data (``.m365agentsplayground.yml`` in its working directory). Its
#: built-in users' object ids are not GUIDs, which our user registry rightly refuses.
CONFIG = f"""version: "0.1.1"
tenantId: 00000000-0000-0000-0000-0000000000001
bot:
  id: {BOT_ID}
  name: Test Bot
currentUser:
  id: user-id-0
  name: Alex Wilber
  userPrincipleName: alexw@example.com
  aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e20
  givenName: Alex
  surname: Wilber
  email: alexw@example.com
users:
  - id: user-id-1
    name: Megan Bowen
    userPrincipleName: meganb@example.com
    aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e21
    givenName: Megan
    surname: Bowen
    email: meganb@example.com
  - id: user-id-2
    name: Adele Vance
    userPrincipleName: adelev@example.com
    aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e22
    givenName: Adele
    surname: Vance
    email: adelev@example.com
  - id: user-id-3
    name: Isaiah Langer
    userPrincipleName: isaiah@example.com
    aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e23
    givenName: Isaiah
    surname: Langer
    email: isaiahl@example.com
  - id: user-id-4
    name: Patti Fernandez
    userPrincipleName: pattif@example.com
    aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e24
    givenName: Patti
    surname: Fernandez
    email: pattif@example.com
  - id: user-id-5
    name: Lynne Robbins
    userPrincipleName: lynner@example.com
    aadObjectId: 6f1c2d3e-0000-4000-8000-0000000a1e25
    givenName: Lynne
    surname: Robbins
    email: lynner@example.com
personalChat:
  id: __PERSONAL_CHAT_ID__
groupChat:
  id: __GROUP_CHAT_ID__
  name: Group Chat
team:
  id: {CHANNEL}
  name: My Team
  aadGroupId: 00000000-0000-0000-0000-000000000031
  channels:
    - id: channel-announcements-id
      name: Announcements
"""


class Playground:
    def __init__(self, workdir: Path, port: int, app_endpoint: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / ".m365agentsplayground.yml").write_text(CONFIG, encoding="utf-8")
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
