"""examples/deploy/ stays consistent with the CLI (issue 13): the container runs the
foreground start as a non-root user, the Kubernetes grace period matches --grace-period
and the probes hit the health port, the systemd units are the ones `eggscripts systemd`
prints and systemd accepts them."""

from __future__ import annotations

import yaml

from tests.helpers import ROOT

DEPLOY = ROOT / "examples" / "deploy"


def test_dockerfile_runs_the_foreground_master_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.12-slim" in text
    assert "\nUSER app\n" in text
    cmd = text[text.index("CMD [") :]
    assert '"eggscripts", "start"' in cmd and "--daemon" not in cmd
    assert '"--grace-period=30"' in cmd and '"--health-port=0.0.0.0:9000"' in cmd


def test_kubernetes_manifests_match_the_start_options() -> None:
    deployment, service = (
        yaml.safe_load((DEPLOY / "kubernetes" / f"{name}.yaml").read_text())
        for name in ("deployment", "service")
    )
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[:2] == ["eggscripts", "start"] and "--daemon" not in args
    assert f"--grace-period={pod['terminationGracePeriodSeconds']}" in args
    delay = next(int(a.split("=")[1]) for a in args if a.startswith("--shutdown-delay="))
    ready = container["readinessProbe"]
    assert ready["httpGet"] == {"path": "/readyz", "port": "health"}
    # not-ready must be seen well within the delay, so no request reaches a draining pod
    assert ready["periodSeconds"] * ready["failureThreshold"] * 1000 < delay
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--health-port=0.0.0.0:{ports['health']}" in args
    assert f"--port={ports['http']}" in args
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == labels
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_systemd_example_units_have_the_essentials() -> None:
    service = (DEPLOY / "systemd" / "showcase.service").read_text()
    for line in (
        "Type=notify",
        "KillMode=mixed",
        "TimeoutStopSec=30",
        "Requires=showcase.socket",
        "ExecReload=/opt/showcase/venv/bin/python -m eggscripts reload --title=showcase",
    ):
        assert f"\n{line}\n" in service  # fmt: skip
    assert "ListenStream=7001\n" in (DEPLOY / "systemd" / "showcase.socket").read_text()
