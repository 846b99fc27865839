"""The project's promises about itself: packaging, environment, README commands."""

from __future__ import annotations

import os
import re
import tomllib

import yaml

from tests import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_project_environment_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {_name(r) for r in pyproject["project"]["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        else:
            conda.add(_name(dep))
    conda -= {"python", "pip", "c-compiler"}
    assert conda | pip == runtime, (
        f"in environment.yml only: {sorted((conda | pip) - runtime)}; "
        f"in pyproject.toml only: {sorted(runtime - (conda | pip))}"
    )
    assert not conda & pip
    assert "python=3.12" in env["dependencies"]


def test_project_declares_entry_points():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = pyproject["project"]["entry-points"]
    assert eps["numcodecs.codecs"] == {"svb-zstd": "xsz.codec:SvbZstd"}
    assert eps["zarr.codecs"] == {"svb-zstd": "xsz.codec:SvbZstdCodec"}
    assert pyproject["project"]["scripts"] == {"xsz": "xsz.cli:main"}
    assert pyproject["project"]["requires-python"] == ">=3.12"


def test_project_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.DOTALL)
    commands = [line for line in blocks[0].splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert commands[1] == ".ci/run"
    assert "pytest" in (ROOT / ".ci" / "run").read_text()


def test_project_ci_checks_style_and_the_import_contracts():
    """CI runs ruff, ruff format, import-linter's contracts and mypy before the tests."""
    run = (ROOT / ".ci" / "run").read_text()
    for check in ("ruff check", "ruff format --check", "lint-imports", "mypy xsz"):
        assert check in run, check
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    kinds = {c["type"] for c in pyproject["tool"]["importlinter"]["contracts"]}
    assert kinds == {"layers", "private_modules", "acyclic_siblings"}
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    for hook in ("ruff-check", "ruff-format", "nbstripout"):
        assert hook in hooks, hook


def test_project_import_changes_nothing_global():
    """``import xsz`` sets no environment variable and loads neither zarr nor xarray;
    zarr's settings change only once a store is made (xsz.codec.apply_zarr_settings)."""
    import subprocess
    import sys

    code = """
import os, sys
before = dict(os.environ)
import xsz
assert dict(os.environ) == before
assert "zarr" not in sys.modules and "xarray" not in sys.modules
import zarr
assert not zarr.config.get("array.rectilinear_chunks")
default = zarr.config.get("codec_pipeline.path")
from xsz.codec import XSZ_PIPELINE, apply_zarr_settings
assert zarr.config.get("codec_pipeline.path") == default
apply_zarr_settings()
assert zarr.config.get("array.rectilinear_chunks")
assert zarr.config.get("codec_pipeline.path") == XSZ_PIPELINE
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZARR_")}
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, env=env, cwd=ROOT)
