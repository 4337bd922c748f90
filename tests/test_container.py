"""The container files, checked without Docker (not installed here): the Dockerfile copies
only paths that exist and that .dockerignore lets through, installs dependencies before the
code, leaves bench/ and the training extras out, keeps the store in a volume and probes
/readyz with a start period; the compose file parses and wires the service to PostgreSQL;
the Grafana dashboard queries only metrics the service exposes."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import yaml

from tests.conftest import reading

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerignored(path: str) -> bool:
    """Whether .dockerignore drops ``path`` (the last matching pattern wins, ``!`` keeps)."""
    ignored = False
    for pat in (ROOT / ".dockerignore").read_text().splitlines():
        pat = pat.strip()
        if not pat or pat.startswith("#"):
            continue
        keep = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[0], pat):
            ignored = not keep
    return ignored


def copy_sources() -> list[str]:
    srcs = []
    for word, args in instructions():
        if word == "COPY" and "--from" not in args:
            srcs += [a for a in args.split() if not a.startswith("--")][:-1]
    return srcs


def test_every_copied_path_exists_and_passes_dockerignore() -> None:
    srcs = copy_sources()
    assert {"pyproject.toml", "app", "artifacts", "migrations", "main.py"} <= set(srcs)
    for src in srcs:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
        assert not dockerignored(src), f".dockerignore drops {src}, which the Dockerfile copies"
    assert (ROOT / "artifacts" / "manifest.json").exists()  # the trained model is in the image
    for heavy in (".venv", "tests", "bench", "data", "reports", ".git", "test-output"):
        assert dockerignored(heavy), f"{heavy} would be sent as build context"


def test_dependencies_before_code_and_no_bench_or_training_extras() -> None:
    steps = [f"{w} {a}" for w, a in instructions()]
    deps = next(i for i, s in enumerate(steps) if "pip install -r" in s)
    code = next(i for i, s in enumerate(steps) if s.startswith("COPY app"))
    assert deps < code
    assert not any(s.startswith("COPY") and ("bench" in s or "tests" in s) for s in steps)
    assert not any("pip install ." in s or "[dev]" in s or "[train]" in s for s in steps)
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in runtime if re.match(r"(matplotlib|tqdm|pytest|playwright)", d)]


def test_store_volume_and_readiness_healthcheck() -> None:
    ins = dict(instructions())
    assert ins["VOLUME"] == "/var/lib/gasleak"
    assert "GASLEAK_DB_PATH=/var/lib/gasleak/" in ins["ENV"] or any(
        w == "ENV" and "GASLEAK_DB_PATH=/var/lib/gasleak/" in a for w, a in instructions()
    )
    hc = ins["HEALTHCHECK"]
    assert re.search(r"--start-period=\d+s", hc) and "/readyz" in hc
    assert ins["USER"] != "root"


def test_compose_file_runs_the_service_with_postgresql() -> None:
    compose_path = ROOT / "deploy" / "docker-compose.yml"
    compose = yaml.safe_load(compose_path.read_text())
    svc, db = compose["services"]["gasleak"], compose["services"]["db"]
    context = (compose_path.parent / svc["build"]["context"]).resolve()
    assert context == ROOT and (context / svc["build"]["dockerfile"]).exists()
    url = svc["environment"]["GASLEAK_DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and "@db:5432/" in url
    assert db["image"].startswith("postgres:")
    assert svc["depends_on"]["db"]["condition"] == "service_healthy" and "healthcheck" in db
    sources = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    named = {v for v in sources if not v.startswith("./")}  # bind mounts: checked below
    assert named <= set(compose["volumes"])
    assert "8080:8080" in svc["ports"]


def test_compose_mqtt_profile_mounts_the_documented_broker_config() -> None:
    compose_path = ROOT / "deploy" / "docker-compose.yml"
    compose = yaml.safe_load(compose_path.read_text())
    broker = compose["services"]["mosquitto"]
    assert broker["profiles"] == ["mqtt"] and broker["image"].startswith("eclipse-mosquitto:")
    mounts = [v.split(":") for v in broker["volumes"]]
    local = [compose_path.parent / src for src, *_ in mounts if src.startswith("./")]
    # passwd holds secrets: made by the operator (mosquitto_passwd), never committed
    assert {p.name for p in local} == {"mosquitto.conf", "acl", "passwd"}
    assert all(p.exists() for p in local if p.name != "passwd")
    conf = (compose_path.parent / "mosquitto" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "acl_file /mosquitto/config/acl" in conf
    env = compose["services"]["gasleak"]["environment"]
    assert env["GASLEAK_MQTT_URL"] == "${GASLEAK_MQTT_URL:-}"


def test_the_service_runs_without_training_extras_or_bench() -> None:
    """As in the image: matplotlib, tqdm and bench/ unimportable, the app still gets ready."""
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('matplotlib', 'tqdm', 'bench'):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import tempfile, pathlib
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
db = pathlib.Path(tempfile.mkdtemp()) / 'x.db'
with TestClient(create_app(Settings(db_path=db))) as c:
    r = c.get('/readyz')
    print(r.status_code, r.json()['failing'])
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.stdout.strip().splitlines()[-1:] == ["200 []"], proc.stderr[-3000:]


async def test_grafana_dashboard_queries_only_exposed_metrics(
    client: httpx.AsyncClient,
) -> None:
    dash = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs
    batch = [reading("g-1", 1_767_225_600.0 + i, 420.0) for i in range(61)]
    await client.post("/api/readings", json=batch)
    for _ in range(250):
        if (await client.get("/api/status")).json()["windows_scored"] >= 2:
            break
        await asyncio.sleep(0.02)
    exposed = set(re.findall(r"^([a-z_]+)(?:\{| )", (await client.get("/metrics")).text, re.M))
    used = {m for e in exprs for m in re.findall(r"\b(gasleak_[a-z_]+)", e)}
    assert used and used <= exposed, used - exposed


def test_compose_cluster_profile_runs_three_replicas_on_nats_and_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "-js" in services["nats"]["command"] and services["nats"]["profiles"] == ["cluster"]
    replicas = [s for name, s in services.items() if name.startswith("replica-")]
    assert len(replicas) == 3
    ids, ports = set(), set()
    for r in replicas:
        env = r["environment"]
        assert r["profiles"] == ["cluster"]
        assert env["GASLEAK_CLUSTER_NATS_URL"] == "nats://nats:4222"
        assert (
            env["GASLEAK_DATABASE_URL"]
            == services["gasleak"]["environment"]["GASLEAK_DATABASE_URL"]
        )
        assert env["GASLEAK_CLUSTER_PARTITIONS"] == "16"
        assert set(r["depends_on"]) == {"db", "nats"}
        ids.add(env["GASLEAK_CLUSTER_REPLICA_ID"])
        ports |= set(r["ports"])
    assert len(ids) == 3 and len(ports) == 3
    assert "profiles" not in services["gasleak"]  # one node stays the default
