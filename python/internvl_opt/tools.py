"""Locating and running the C++ tools (build/bin), and reading their output."""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    return Path(os.environ.get("INTERNVL_BUILD_DIR", ROOT / "build"))


def tool(name: str) -> Path:
    path = build_dir() / "bin" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run scripts/bootstrap.sh first")
    return path


def run_tool(name: str, *args: str) -> str:
    """Runs build/bin/<name> and returns its stdout; raises with stderr on failure."""
    result = subprocess.run([str(tool(name)), *map(str, args)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result.stdout


@dataclass
class Argument:
    name: str
    kind: str
    shape: tuple
    dtype: str
    trainable: bool


_ARG = re.compile(r"%arg\d+: tensor<((?:\d+x)*)(\w+)> \{([^}]*)\}")
_ATTR = re.compile(r'tg\.(\w+)(?: = "([^"]*)")?')


def function_arguments(mlir_text: str, function: str = "forward") -> list:
    """The arguments of `func.func @<function>` with their tg.* attributes."""
    header = re.search(rf"func\.func @{function}\((.*?)\) ->", mlir_text, re.S)
    if not header:
        raise ValueError(f"no func.func @{function} in the module")
    args = []
    for m in _ARG.finditer(header.group(1)):
        dims = tuple(int(d) for d in m.group(1).split("x") if d)
        attrs = {k: v for k, v in _ATTR.findall(m.group(3))}
        args.append(Argument(attrs.get("name", ""), attrs.get("kind", ""), dims,
                             m.group(2), "trainable" in attrs))
    return args
