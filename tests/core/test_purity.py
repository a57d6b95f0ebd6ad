"""ARCHITECTURE rule 1: the core does no I/O and reads nothing global.

Walks the AST of every module under meshcore/ and fails on forbidden
imports and calls. Also checks that `import meshcore` loads nothing outside
the standard library and dataclasses-json (and its own dependencies)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "meshcore"
FORBIDDEN_MODULES = {
    "asyncio", "anyio", "trio", "socket", "ssl", "select", "selectors", "time", "os",
    "random", "secrets", "uuid", "logging", "threading", "multiprocessing", "subprocess",
    "httpcore", "h11", "httpx", "adapters", "pathlib", "shutil", "tempfile", "io",
    "urllib.request", "http.client", "signal",
}
RANDOM_ALLOWED = {"router/rng.py"}
# frozen.py compiles constructors from a dataclass's own field names (as the
# dataclasses module itself does): deterministic, no I/O, nothing global read.
EXEC_ALLOWED = {"frozen.py"}
FORBIDDEN_CALLS = {"open", "print", "input", "hash", "exec", "eval", "__import__"}
FORBIDDEN_ATTR_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
                        ("date", "today")}


def _violations(path: Path) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(), str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            top = n.split(".")[0]
            if n in FORBIDDEN_MODULES or top in FORBIDDEN_MODULES:
                if top == "random" and rel in RANDOM_ALLOWED:
                    continue
                out.append(f"{rel}:{node.lineno}: imports {n}")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in FORBIDDEN_CALLS:
                if f.id == "exec" and rel in EXEC_ALLOWED:
                    continue
                out.append(f"{rel}:{node.lineno}: calls {f.id}()")
            if isinstance(f, ast.Attribute):
                base = f.value
                bname = base.id if isinstance(base, ast.Name) else (
                    base.attr if isinstance(base, ast.Attribute) else "")
                if (bname, f.attr) in FORBIDDEN_ATTR_CALLS:
                    out.append(f"{rel}:{node.lineno}: calls {bname}.{f.attr}()")
    return out


def test_rule1_core_is_pure() -> None:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        problems += _violations(path)
    assert problems == []


def test_rule1_purity_checker_catches_violations(tmp_path: Path) -> None:
    bad = ROOT / "_purity_probe_tmp.py"
    bad.write_text("import time\nimport os.path\nx = open('f')\nprint(x)\n"
                   "from datetime import datetime\ny = datetime.now()\nz = hash('a')\n")
    try:
        found = _violations(bad)
    finally:
        bad.unlink()
    assert len(found) == 6


def test_import_meshcore_loads_only_stdlib_and_dataclasses_json() -> None:
    code = (
        "import sys, json; before = set(sys.modules); import meshcore, meshcore.wire, "
        "meshcore.testing; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    loaded = json.loads(out.stdout)
    stdlib = set(sys.stdlib_module_names)
    allowed_third_party = {
        "dataclasses_json", "marshmallow", "typing_inspect", "mypy_extensions",
        "typing_extensions", "packaging",
    }
    # a mypyc build (setup.py) adds exactly one top-level module: the shared
    # library holding the compiled code of meshcore's modules
    own = {"meshcore", "meshcore_native__mypyc"}
    foreign = sorted({
        m.split(".")[0] for m in loaded
        if m.split(".")[0] not in stdlib and m.split(".")[0] not in allowed_third_party
        and m.split(".")[0] not in own and not m.startswith("_")
    })
    assert foreign == []
