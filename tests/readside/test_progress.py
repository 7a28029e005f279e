"""The export/reindex progress bar is drawn on a terminal only."""

from __future__ import annotations

import io

from bot.cli.progress import ProgressBar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal():
    piped = io.StringIO()
    bar = ProgressBar("export eml", piped)
    bar(5, 10)
    bar.close()
    assert piped.getvalue() == ""
    tty = _Tty()
    bar = ProgressBar("export eml", tty)
    bar(1, 4)
    bar(4, 4)
    bar.close()
    assert "export eml [" in tty.getvalue() and "4/4" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
