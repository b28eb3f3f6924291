"""The package's layering, read from the code's own imports (every import statement anywhere in a module,
also inside functions): dependencies point inward to core/, nothing outside bot/ imports bot/, mailer/ does
not import service/; and every module imports in a fresh interpreter (no cycle held apart by import order)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "hankebot"


def _modules() -> list[str]:
    out = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if "migrations" in parts or parts[-1] == "__main__":
            continue  # Alembic's env/versions run inside Alembic; __main__ runs the program
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def _resolve(mod: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")[: -node.level] if not mod.endswith("__init__") else mod.split(".")
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every module name an import statement in `path` names (top level, in functions, under TYPE_CHECKING)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    mod = ".".join(rel.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node)
            found.append((node.lineno, target))
            # `from hankebot import bot` names the package through an attribute
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if target in ("hankebot",)]
    return found


def _layer_violations(rules: dict[str, tuple[str, ...]], allowed_inside: dict[str, str] | None = None) -> list[str]:
    bad = []
    for layer, forbidden in rules.items():
        for f in sorted((PKG / layer).rglob("*.py")):
            for line, name in imports_of(f):
                for fb in forbidden:
                    if name == fb or name.startswith(fb + "."):
                        bad.append(f"{f.relative_to(PKG.parent)}:{line} imports {name}")
    return bad


RULES = {
    "core": ("hankebot.bot", "hankebot.service", "hankebot.storage", "hankebot.mailer", "hankebot.devstack",
             "hankebot.app"),
    "storage": ("hankebot.bot", "hankebot.service", "hankebot.app"),
    "mailer": ("hankebot.bot", "hankebot.service", "hankebot.app"),
    "service": ("hankebot.bot", "hankebot.app"),
}


def test_layers_point_inward():
    assert _layer_violations(RULES) == []


def test_core_imports_nothing_of_hankebot_outside_core():
    bad = [f"{f.relative_to(PKG.parent)}:{line} imports {name}"
           for f in sorted((PKG / "core").rglob("*.py")) for line, name in imports_of(f)
           if (name == "hankebot" or name.startswith("hankebot.")) and not name.startswith("hankebot.core")]
    assert bad == []


def test_the_scan_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The check itself can fail: a lazy import inside a function and a relative one are both caught."""
    fake = tmp_path / "hankebot"
    (fake / "service").mkdir(parents=True)
    (fake / "mailer").mkdir()
    (fake / "service" / "x.py").write_text("def f():\n    from hankebot.bot import texts\n")
    (fake / "mailer" / "y.py").write_text("def g():\n    if True:\n        from ..service import config\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    bad = _layer_violations(RULES)
    assert any("service/x.py:2 imports hankebot.bot" in b for b in bad), bad
    assert any("mailer/y.py:3 imports hankebot.service" in b for b in bad), bad


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports_in_a_fresh_interpreter(module):
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120,
                       cwd=PKG.parent)
    assert r.returncode == 0, f"import {module} failed:\n{r.stderr[-3000:]}"


def _private_imports(layers: tuple[str, ...]) -> list[str]:
    """`from hankebot.x import _name`: one module reaching into another's private names."""
    bad = []
    for layer in layers:
        for f in sorted((PKG / layer).rglob("*.py")):
            rel = f.relative_to(PKG.parent).with_suffix("")
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
                if isinstance(node, ast.ImportFrom):
                    target = _resolve(".".join(rel.parts), node)
                    if target.startswith("hankebot"):
                        bad += [f"{f.relative_to(PKG.parent)}:{node.lineno} imports {target}.{a.name}"
                                for a in node.names if a.name.startswith("_")]
    return bad


PRIVATE_RULE_LAYERS = ("core", "storage", "mailer", "service", "bot")


def test_no_module_imports_another_modules_private_names():
    assert _private_imports(PRIVATE_RULE_LAYERS) == []


def test_the_private_name_scan_can_fail(tmp_path, monkeypatch):
    fake = tmp_path / "hankebot"
    (fake / "service").mkdir(parents=True)
    (fake / "service" / "x.py").write_text("def f():\n    from hankebot.service.send_engine import _send_row\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert _private_imports(("service",)) == ["hankebot/service/x.py:2 imports hankebot.service.send_engine._send_row"]


def _graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in it: top level, in functions, TYPE_CHECKING).
    `from hankebot.service import evaluation` counts as an import of hankebot.service.evaluation; an import
    of a package counts as one of its __init__ only."""
    mods = set(_modules())
    graph: dict[str, set[str]] = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        if name not in mods:
            continue
        out = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name + (".__init__" if rel.parts[-1] == "__init__" else ""), node)
                subs = {f"{target}.{a.name}" for a in node.names} & mods
                out |= subs or ({target} & mods)
        graph[name] = out - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """No two modules import each other, directly or around a circle, even through imports held inside
    functions (a lazy import only hides a cycle from the interpreter)."""
    assert _cycles(_graph()) == []


def test_the_cycle_check_sees_a_cycle_held_apart_by_a_lazy_import(tmp_path, monkeypatch):
    fake = tmp_path / "hankebot"
    (fake / "bot").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "bot" / "__init__.py").write_text("")
    (fake / "bot" / "a.py").write_text("from hankebot.bot.b import g\n")
    (fake / "bot" / "b.py").write_text("def g():\n    from hankebot.bot import c\n")
    (fake / "bot" / "c.py").write_text("from . import a\n")
    (fake / "bot" / "d.py").write_text("from hankebot.bot import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert _cycles(_graph()) == [["hankebot.bot.a", "hankebot.bot.b", "hankebot.bot.c"]]


MAX_LINES = 550  # "about 500": a module grown well past that does more than one thing


def test_no_module_outside_devstack_is_much_over_500_lines():
    """Each file about one thing: the sample-data generators of devstack/ and Alembic's scripts aside."""
    long = {str(f.relative_to(PKG.parent)): n for f in sorted(PKG.rglob("*.py"))
            if "devstack" not in f.parts and "migrations" not in f.parts
            and (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
