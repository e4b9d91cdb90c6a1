"""The scale-out configuration for real: Django on PostgreSQL (DATABASE_URL), the job queue on Redis
(FACEPROOF_REDIS_URL), custody on PostgreSQL (FACEPROOF_CUSTODY_URL); a web-only node (`serve --no-worker`) and a
separate worker process (`run_huey`, consuming the GPU queue that extraction is routed to here) that meet only
through Redis and PostgreSQL. Debian's postgresql and
redis-server run on loopback for the test; it skips, saying why, where they are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.postgres_cluster import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.needs_data]
PASSWORD = "a long scale-out password"


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def database_url(postgres_cluster):
    import psycopg

    name = f"faceproof_web_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_cluster.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres_cluster.url.rsplit("/", 1)[0] + f"/{name}"


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    import requests

    for _ in range(120):
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
    pytest.fail(f"no answer from {url}: {log.read_text()[-2000:]}")


def test_postgres_and_redis_run_a_job_across_a_web_node_and_a_worker(tmp_path, postgres_cluster, database_url, redis_url):
    import requests

    env = {**os.environ, "DATABASE_URL": database_url, "FACEPROOF_REDIS_URL": redis_url,
           "FACEPROOF_CUSTODY_URL": postgres_cluster.schema_url(), "FACEPROOF_HOME": str(tmp_path / "home"),
           "FACEPROOF_KEY_PASSPHRASE": "scale-out", "FACEPROOF_WEB_PASSWORD": PASSWORD,
           "DJANGO_SETTINGS_MODULE": "webapp.settings", "FACEPROOF_GPU_QUEUE": "faceproof-gpu",
           "FACEPROOF_GPU_KINDS": "extract"}
    for variable in ("FACEPROOF_DB_NAME", "FACEPROOF_DB", "FACEPROOF_MEDIA_ROOT"):
        env.pop(variable, None)
    cli = [sys.executable, "-m", "webapp"]
    subprocess.run([*cli, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*cli, "webuser", "pat", "--org", "Studio", "--role", "producer"], env=env, check=True,
                   capture_output=True)
    port = free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    with open(web_log, "wb") as w, open(worker_log, "wb") as k:
        web = subprocess.Popen([*cli, "serve", "--no-worker", "--no-migrate", "--port", str(port)], env=env, stdout=w, stderr=w)
        worker = subprocess.Popen([*cli, "run_huey", "--workers", "1"], env={**env, "FACEPROOF_QUEUE": "faceproof-gpu"},
                                  stdout=k, stderr=k)  # the "GPU" machine: it takes only the kinds routed to it
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_http(f"{url}/login/", web, web_log)
            token = requests.post(f"{url}/api/token/", data={"username": "pat", "password": PASSWORD}).json()["token"]
            api = requests.Session()
            api.headers["Authorization"] = f"Token {token}"
            project = api.post(f"{url}/api/projects/", json={"name": "Scale", "identity_names": ["Ann", "Bob"]}).json()
            ann = project["identities"][0]["id"]
            with open(shared_file("video/d0.mp4"), "rb") as clip:
                upload = api.post(f"{url}/api/projects/{project['id']}/uploads/", files={"file": clip}, data={"identity": ann})
            assert upload.status_code == 201, upload.text
            job = api.post(f"{url}/api/identities/{ann}/extract/", json={"upload": upload.json()["id"], "every": 26, "size": 64})
            assert job.status_code == 202, job.text
            for _ in range(240):
                state = api.get(f"{url}/api/jobs/{job.json()['id']}/").json()
                if state["state"] not in ("queued", "running"):
                    break
                time.sleep(0.5)
            assert state["state"] == "succeeded", (state, worker_log.read_text()[-2000:])
            assert state["result"]["faces"] == 3 and state["heartbeat"]
            assert "from queue faceproof-gpu" in state["log"]
            custody = api.get(f"{url}/api/custody/assets/{upload.json()['sha256']}/").json()  # from PostgreSQL
            assert [event["kind"] for event in custody["events"]] == ["ingest", "begin", "extract"]
        finally:
            web.terminate()
            worker.terminate()
            web.wait(timeout=30)
            worker.wait(timeout=30)
    import psycopg

    with psycopg.connect(database_url) as connection:  # the job row lives in PostgreSQL, its worker was Redis-fed
        row = connection.execute("SELECT state, worker FROM jobs_job").fetchone()
    assert row[0] == "succeeded" and row[1]
