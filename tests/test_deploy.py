"""deploy/ says what the code reads: its settings load as Salvo's settings, the commands it
runs are commands `salvo` takes, and the Kubernetes manifests render (with kubectl, when the
machine has it). A setting renamed in the code and not in deploy/ fails here, not in
production."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from salvo.cli import cli
from sms.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ACCOUNTS = {"reminders": "justcall", "marketing": "carrierx", "alerts": "textingline"}
ACCOUNTS["promo"] = "skycore"


def documents(name: str) -> list[dict[str, Any]]:
    """The YAML documents of one file of deploy/k8s."""
    text = (DEPLOY / "k8s" / name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def env_file(path: Path) -> dict[str, str]:
    """A `KEY=VALUE` file's variables, as Docker's env_file reads it (comments skipped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value
    return found


def clear_salvo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SALVO_")]:
        monkeypatch.delenv(name)


def test_the_compose_env_example_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_salvo_env(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no salvo.toml here: the environment alone
    for name, value in env_file(DEPLOY / "salvo.env.example").items():
        monkeypatch.setenv(name, value)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for name, value in compose["x-salvo"]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = Settings.load()
    assert {name: a.kind for name, a in settings.providers.items()} == ACCOUNTS
    assert settings.redis_url == "redis://redis:6379/0"


def test_the_k8s_config_map_and_secret_are_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_salvo_env(monkeypatch)
    found = {doc["kind"]: doc for doc in documents("config.yaml")}
    path = tmp_path / "salvo.toml"
    path.write_text(found["ConfigMap"]["data"]["salvo.toml"], encoding="utf-8")
    for name, value in found["Secret"]["stringData"].items():
        monkeypatch.setenv(name, value)
    settings = Settings.load(path)
    assert {name: a.kind for name, a in settings.providers.items()} == ACCOUNTS
    assert settings.api_keys


def containers() -> list[tuple[str, list[str]]]:
    """Every command deploy/ runs `salvo` with: (where, its arguments)."""
    found = []
    for name in ("worker.yaml", "api.yaml"):
        for doc in documents(name):
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                found.append((f"k8s/{name}", [str(a) for a in container.get("args", [])]))
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        if name != "redis" and "command" in service:
            found.append((f"compose.yaml {name}", [str(a) for a in service["command"]]))
    return found


@pytest.mark.parametrize(("where", "args"), containers())
def test_every_command_deploy_runs_is_one_salvo_takes(where: str, args: list[str]) -> None:
    name, *rest = args
    assert isinstance(cli, click.Group)
    command = cli.commands.get(name)
    assert command is not None, f"{where}: salvo has no command {name!r}"
    if name != "worker":  # Celery's options pass through `salvo worker` unread
        command.make_context(name, rest)  # a click error names the option it does not take


def test_the_k8s_manifests_render() -> None:
    kinds = {doc["kind"] for name in ("worker.yaml", "api.yaml") for doc in documents(name)}
    assert "Deployment" in kinds
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on this machine: the manifests were parsed, not rendered")
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered}
    assert ("Namespace", "salvo") in names
    assert {kind for kind, _ in names} >= {"ConfigMap", "Secret", "Deployment", "Service"}
