"""The code's shape, enforced (DESIGN.md §6, docs/architecture.md): who may import whom.

Every import of every module is read from its syntax tree (including imports inside functions),
so that a shortcut through a transport, an SDK or the app cannot creep into the core unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CORE = ("bot.relay", "bot.governance", "bot.capture")
TRANSPORTS = ("bot.teams", "bot.whatsapp", "bot.entra")
#: What only bot/app.py (and the tools around it) may bring together.
EDGES = ("bot.app", "bot.cli", "bot.demo", "bot.loopback", "bot.teams_app")
#: SDKs of the outside world: the transports' business, never the core's.
SDKS = ("aiohttp", "botbuilder", "botframework", "msrest", "msgraph", "kiota", "azure", "requests")
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".") if path.is_relative_to(ROOT) else [path.stem]
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def offences(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for package in packages:
        for path in modules(package):
            for name in sorted(imports_of(path)):
                if within(name, forbidden):
                    out.append(f"{path.relative_to(ROOT)} imports {name}")
    return out


def test_the_core_imports_no_transport_no_edge_and_no_sdk():
    assert offences(CORE, TRANSPORTS + EDGES + SDKS) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_transport_imports_neither_the_core_nor_another_transport(transport):
    others = tuple(t for t in TRANSPORTS if t != transport)
    assert offences((transport,), CORE + others + EDGES) == []


def test_the_shared_parts_import_neither_side():
    shared = ("bot.ports", "bot.settings", "bot.cards")
    assert offences(shared, CORE + TRANSPORTS + EDGES + SDKS) == []


def test_bridge_never_imports_bot():
    assert offences(("bridge",), ("bot",)) == []


def package_of(name: str) -> str | None:
    """The bot package (``bot.relay``) or top-level module (``bot.app``) a name belongs to."""
    parts = name.split(".")
    if parts[0] != "bot" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def bot_package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in modules("bot"):
        source = package_of(module_name(path))
        if source is None:
            continue
        for name in imports_of(path):
            target = package_of(name)
            if target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in colour and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = "done"
        return None

    for node in sorted(graph):
        if node not in colour and (cycle := visit(node)):
            return cycle
    return None


def test_no_cycles_among_the_bot_packages():
    graph = bot_package_graph()
    assert find_cycle(graph) is None
    # Only the command line starts the app (``serve``, ``demo``).
    assert {source for source, targets in graph.items() if "bot.app" in targets} <= {
        "bot.cli",
        "bot.demo",
    }
    assert graph.get("bot.ports", set()) <= {"bot.settings"}


def test_the_rules_see_what_they_forbid(tmp_path):
    """An import inside a function, a relative one, and a cycle are all found."""
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from bot.teams import sender\n    import aiohttp.web\n")
    assert {"bot.teams", "bot.teams.sender", "aiohttp.web"} <= imports_of(sneaky)
    assert within("bot.teams.sender", TRANSPORTS) and within("aiohttp.web", SDKS)
    assert "bot.relay.state" in imports_of(ROOT / "bot" / "relay" / "feed.py")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


@pytest.mark.parametrize("package", ["bot", "bridge"])
def test_no_module_is_over_500_lines(package):
    long = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in modules(package)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert long == []
