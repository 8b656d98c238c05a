"""`ray job submit` path: start a token-auth head node, submit short GRPO, GCPO and editor-GRPO runs with JobSubmissionClient, wait for
SUCCEEDED, stop the cluster. The cluster is this test's own (`ray start --head --block` in a new process group,
ports picked free), so it is stopped by signalling that group, never by a machine-wide `ray stop`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[3]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _wait_http(url: str, timeout: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # the server answers (401 without a token is an answer)
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


@pytest.fixture
def token_cluster():
    """A one-node cluster with token authentication; yields (dashboard address, token)."""
    gcs, dashboard, client, agent, agent_grpc, metrics = _free_ports(6)
    token = uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    log = open(Path(temp_dir) / "ray_start.log", "wb")  # a file, not a pipe: a full pipe would block `ray start`
    proc = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--num-cpus", "2", "--port", str(gcs), "--dashboard-port", str(dashboard),
         "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--ray-client-server-port", str(client),
         "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
         "--metrics-export-port", str(metrics), "--temp-dir", temp_dir],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{dashboard}/api/version", timeout=120)
        yield f"http://127.0.0.1:{dashboard}", token
    finally:
        # Stop only this cluster: SIGTERM to the `ray start --block` process we started (it drains the node and
        # stops its children in a few seconds), then SIGKILL whatever is left of its process group.
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_short_runs_through_ray_job_submit(token_cluster, tiny_policies, tiny_gcpo_data, tmp_path):
    from ray.job_submission import JobSubmissionClient

    address, token = token_cluster
    config = yaml.safe_load((REPO / "configs" / "imageedit_r1.yaml").read_text())
    config["agents"]["decomposer"]["model"] = str(tiny_policies["decomposer"])
    config["train"] = {"group_size": 2, "tasks_per_iteration": 2, "max_new_tokens": 8, "train_tasks": 10, "iterations": 1,
                       "eval_tasks": 0, "sampler_threads": 1}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"

    # Without the token the cluster refuses the request.
    with pytest.raises(Exception):
        JobSubmissionClient(address, headers={"Authorization": "Bearer wrong"}).list_jobs()

    client = JobSubmissionClient(address, headers={"Authorization": f"Bearer {token}"})
    submit = dict(
        entrypoint=f"{sys.executable} -m orchestration.train --config {tmp_path / 'tiny.yaml'} --run-dir {run_dir} --quiet",
        runtime_env={"working_dir": str(REPO),
                     "excludes": [".venv", ".git", "runs", "outputs", "data", "**/__pycache__", ".pytest_cache", ".hypothesis", "*.parquet"]},
    )
    # The dashboard answers before the head node's job agent has registered; on a loaded machine that takes a while
    # ("No available agent to submit job, please try again later").
    deadline = time.time() + 120
    while True:
        try:
            job = client.submit_job(**submit)
            break
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.time() > deadline:
                raise
            time.sleep(2)
    _wait_succeeded(client, job)
    assert (run_dir / "checkpoints" / "latest").read_text() == "iter_000001"
    assert (run_dir / "metrics.parquet").is_file()

    # GCPO of the verifier is the same entry point on another config (train.gcpo).
    root, verifier, _ = tiny_gcpo_data
    config = yaml.safe_load((REPO / "configs" / "edit_r1.yaml").read_text())
    config["agents"]["verifier"]["model"] = str(verifier)
    config["train"] = {"gcpo": {"pairs": str(root / "pairs.parquet"), "pairs_per_iteration": 1}, "group_size": 2,
                       "max_new_tokens": 8, "iterations": 1, "eval_tasks": 0, "sampler_threads": 1}
    (tmp_path / "gcpo.yaml").write_text(yaml.safe_dump(config))
    submit["entrypoint"] = (f"{sys.executable} -m orchestration.train --config {tmp_path / 'gcpo.yaml'} "
                            f"--run-dir {tmp_path / 'gcpo'} --quiet")
    _wait_succeeded(client, client.submit_job(**submit))
    assert (tmp_path / "gcpo" / "checkpoints" / "latest").read_text() == "iter_000001"
    assert (tmp_path / "gcpo" / "checkpoints" / "iter_000001" / "policies" / "verifier").is_dir()

    # Editor GRPO with one RLlib learner actor on the cluster: `editrl train-editor` as the entry point.
    Image.new("RGB", (32, 32), (128, 128, 128)).save(tmp_path / "grey.png")
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"prompt": "make it red", "image": "grey.png"}) + "\n")
    editor = {"editor": {"model": "tiny:kontext", "sampler": {"max_sequence_length": 16}, "num_steps": 2,
                         "group_size": 2, "iterations": 1, "lora_rank": 2, "num_learners": 1,
                         "rewards": [{"name": "colour_share"}], "target_colour": [255, 0, 0], "soft_colour": True,
                         "colour_tolerance": 1.0},
              "tasks": {"file": "tasks.jsonl"}}
    (tmp_path / "editor.yaml").write_text(yaml.safe_dump(editor))
    submit["entrypoint"] = (f"{sys.executable} -m orchestration.cli train-editor --config {tmp_path / 'editor.yaml'} "
                            f"--run-dir {tmp_path / 'editor'} --quiet")
    _wait_succeeded(client, client.submit_job(**submit))
    assert (tmp_path / "editor" / "checkpoints" / "iter_000001" / "learners").is_dir()
    assert (tmp_path / "editor" / "adapter" / "pytorch_lora_weights.safetensors").is_file()


def _wait_succeeded(client, job: str, timeout_s: float = 300) -> None:
    from ray.job_submission import JobStatus

    deadline = time.time() + timeout_s
    status = client.get_job_status(job)
    while not status.is_terminal() and time.time() < deadline:
        time.sleep(2)
        status = client.get_job_status(job)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
