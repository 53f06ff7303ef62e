"""Every command line of the repository answers `--help` with its usage, exit 0 and no side
effect, and the ones that talk to the local stack find its ports the way `up` does.

The entry points are found, not listed: every module under infra/ and tools/ that runs as
`python -m` (an `if __name__ == "__main__":` block or a package's __main__.py) and every
console script of pyproject.toml. Each runs in a subprocess whose audit hook refuses (and
reports) any file written, directory made, socket connected or bound and process started,
with its HOME and working directory an empty temporary directory that must stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.ports import StackPorts, stack_ports

REPO = Path(__file__).resolve().parents[2]
MARK = "SIDE EFFECT:"

# Runs one entry point with `--help` under an audit hook (sys.addaudithook) that refuses what
# a help text has no business doing. argv[1] is "module" or "module:callable".
_GUARDED = f"""
import os, runpy, sys

_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _refuse(what):
    os.write(2, ("{MARK} " + what + "\\n").encode())
    raise RuntimeError("refused during --help: " + what)

def _guard(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or str(path).startswith("/dev/"):
            return
        if isinstance(mode, str):
            writing = any(c in mode for c in "wax+")
        else:
            writing = isinstance(flags, int) and flags >= 0 and bool(flags & _WRITE)
        if writing:
            _refuse(f"open {{path!r}} for writing")
    elif event == "socket.bind" and isinstance(args[1], tuple) and args[1][1] == 0:
        return  # urllib3's import-time probe of IPv6 (binds ::1 port 0, never listens)
    elif event in ("socket.connect", "socket.bind", "socket.sendto"):
        _refuse(f"{{event}} {{args[1]!r}}")
    elif event == "subprocess.Popen" and list(args[1])[:2] == ["file", "-b"]:
        return  # platform.architecture(), which croniter asks when it is imported
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork",
                   "os.forkpty", "os.spawn"):
        _refuse(f"{{event}} {{args!r}}"[:300])
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate",
                   "os.symlink", "os.link", "shutil.rmtree", "shutil.copyfile", "os.chmod"):
        _refuse(f"{{event}} {{args!r}}"[:300])

target = sys.argv[1]
sys.argv = [target.partition(":")[0], *sys.argv[2:]]
sys.addaudithook(_guard)
if ":" in target:
    import importlib
    module, _, attribute = target.partition(":")
    entry = getattr(importlib.import_module(module), attribute)
    sys.argv[0] = attribute
    entry()
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def _python_m_modules() -> list[str]:
    found = []
    for root in ("infra", "tools"):
        for path in sorted((REPO / root).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            if path.name == "__main__.py":
                found.append(module.removesuffix(".__main__"))
            elif 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
                found.append(module)
    return found


def _console_scripts() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(project["project"].get("scripts", {}).values())


ENTRY_POINTS = _python_m_modules() + _console_scripts()


def test_the_entry_points_are_found() -> None:
    expected = {
        "infra.local", "infra.local.demo", "infra.local.mail", "infra.samples.experts",
        "tools.contracts", "tools.opencv_shim", "infra.local.cli:app",
    }  # fmt: skip
    assert expected <= set(ENTRY_POINTS)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_help_prints_usage_and_does_nothing_else(entry_point: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        "COLUMNS": "120",
        "SALUDTECH_PORT_FUNCTIONS": "1",  # nothing may be asked of it
    }
    ran = subprocess.run(
        [sys.executable, "-c", _GUARDED, entry_point, "--help"],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    said = ran.stdout + ran.stderr
    assert MARK not in said, said
    assert ran.returncode == 0, said
    assert "usage" in said.lower(), said
    assert list(home.iterdir()) == []


def test_stack_ports_are_the_running_stacks_else_the_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALUDTECH_PORT_FUNCTIONS", "18190")
    assert stack_ports(tmp_path).url("functions") == "http://127.0.0.1:18190"
    running = StackPorts(functions=28190)
    (tmp_path / "stack.json").write_text(json.dumps({"ports": running.as_dict()}))
    assert stack_ports(tmp_path) == running


def test_the_experts_script_follows_the_stacks_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.samples import experts

    asked: list[str] = []

    def seed(url: str, timeout: float) -> dict[str, str]:
        asked.append(url)
        return {"EXP-001": "registered"}

    monkeypatch.setattr(experts, "seed", seed)
    monkeypatch.setenv("SALUDTECH_PORT_FUNCTIONS", "18191")
    runner = CliRunner()
    ran = runner.invoke(experts.app, ["--state-dir", str(tmp_path)])
    given = runner.invoke(experts.app, ["http://127.0.0.1:9/", "--state-dir", str(tmp_path)])
    assert ran.exit_code == given.exit_code == 0, ran.output
    assert asked == ["http://127.0.0.1:18191", "http://127.0.0.1:9/"]
    assert "EXP-001 registered" in ran.output
