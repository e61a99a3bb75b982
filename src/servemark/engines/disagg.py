"""Disaggregated serving: prefill workers + decode workers + a router in front.

Two deployments, one placement:
- ``sglang-pd``: SGLang workers with ``--disaggregation-mode prefill|decode`` and the KV transfer
  backend (NIXL or Mooncake), behind ``sglang_router`` in ``--pd-disaggregation`` mode.
- ``dynamo``: NVIDIA Dynamo's OpenAI front end (``dynamo.frontend``) over Dynamo workers of the
  chosen backend (``dynamo.sglang`` or ``dynamo.trtllm``); Dynamo's runtime needs etcd and NATS,
  which are started first.

Placement: GPUs are handed out in order, prefill workers first, then decode workers; a node
holds ``hardware.gpus_per_node`` GPUs and a worker never straddles two nodes. Each worker gets
``CUDA_VISIBLE_DEVICES`` on its node. Ports: the router or front end takes ``engine.port``;
worker ``k`` (prefill then decode) takes ``engine.port + 1 + k``; SGLang prefill bootstrap ports
start at 8998. The last launch is the router/front end: what clients talk to.
"""

from __future__ import annotations

from dataclasses import dataclass

from servemark.engines import sglang as sg
from servemark.engines import trtllm as trt
from servemark.engines.base import Launch, RenderContext, gpu_list, render_args, served_name, visible_devices_key
from servemark.recipe.schema import Layout, Recipe, WorkerGroup

BOOTSTRAP_PORT = 8998
ETCD_PORT = 2379
NATS_PORT = 4222
NATS_MONITOR_PORT = 8222
DYN_SYSTEM_PORT = 9090


@dataclass
class Slot:
    role: str  # "prefill" | "decode"
    index: int  # within the role
    k: int  # over all workers (ports)
    node: int
    first_gpu: int
    group: WorkerGroup


def place(recipe: Recipe, layout: Layout) -> list[Slot]:
    """Assign each worker a node and its GPUs, prefill first, packing nodes in order."""
    per_node = recipe.hardware.gpus_per_node
    node, used, k = 0, 0, 0
    out: list[Slot] = []
    for role, group in (("prefill", layout.prefill), ("decode", layout.decode)):
        assert group is not None
        for i in range(group.workers):
            need = group.gpus_per_worker
            if used + need > per_node:
                node, used = node + 1, 0
            out.append(Slot(role, i, k, node, used, group))
            used += need
            k += 1
    return out


def check_common(recipe: Recipe, layout: Layout, engine: str) -> None:
    if not layout.disaggregated:
        raise ValueError(f"prefill: engine {engine} needs a disaggregated layout (prefill and decode worker groups)")
    if recipe.engine.kv_transfer is None:
        raise ValueError(f"engine.kv_transfer: engine {engine} needs the KV transfer backend (nixl, mooncake or mori)")
    if recipe.hardware.name == "cpu":
        raise ValueError(f"hardware.name: engine {engine} runs on GPUs, not cpu")
    for role in ("prefill", "decode"):
        g = getattr(layout, role)
        if g.gpus_per_worker > recipe.hardware.gpus_per_node:
            raise ValueError(
                f"{role}.tp: a worker needs tp x pp = {g.gpus_per_worker} GPUs, more than one node has "
                f"(hardware.gpus_per_node = {recipe.hardware.gpus_per_node})"
            )


def _worker_host(ctx: RenderContext, nodes: int) -> str:
    """Workers listen on the engine host on one node, on every interface when spread over nodes."""
    return ctx.recipe.engine.host if nodes == 1 else "0.0.0.0"


def _hosts(ctx: RenderContext, nodes: int) -> list[str]:
    """Address of each node: the engine host on one node; else ``ctx.nodes``, or ``node<N>`` placeholders."""
    if nodes == 1:
        return ["127.0.0.1" if ctx.recipe.engine.host in ("0.0.0.0", "::") else ctx.recipe.engine.host]
    if len(ctx.nodes) >= nodes:
        return list(ctx.nodes[:nodes])
    return [f"node{i}" for i in range(nodes)]


class SGLangPD:
    name = "sglang-pd"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        check_common(recipe, layout, self.name)
        assert layout.prefill and layout.decode
        sg.check_group(layout.prefill, "prefill.")
        sg.check_group(layout.decode, "decode.")
        sg.check_spec(layout)

    def render(self, ctx: RenderContext) -> list[Launch]:
        r = ctx.recipe
        slots = place(r, ctx.layout)
        nodes = max(s.node for s in slots) + 1
        host, hosts, gpu_key = _worker_host(ctx, nodes), _hosts(ctx, nodes), visible_devices_key(r)
        launches: list[Launch] = []
        prefill_urls: list[tuple[str, int]] = []
        decode_urls: list[str] = []
        for s in slots:
            port = r.engine.port + 1 + s.k
            extra = {"disaggregation-mode": s.role, "disaggregation-transfer-backend": r.engine.kv_transfer, **s.group.args}
            if s.role == "prefill":
                boot = BOOTSTRAP_PORT + s.index
                extra["disaggregation-bootstrap-port"] = boot
                prefill_urls.append((f"http://{hosts[s.node]}:{port}", boot))
            else:
                decode_urls.append(f"http://{hosts[s.node]}:{port}")
            argv = sg.server_argv(ctx, "sglang.launch_server", host, port, s.group, extra)
            env = {**r.engine.env, gpu_key: gpu_list(s.first_gpu, s.group.gpus_per_worker)}
            launches.append(Launch(argv=argv, env=env, host=hosts[s.node], port=port, served_model=served_name(r),
                                   name=f"{s.role}-{s.index}", node=s.node))
        router = [ctx.python, "-m", "sglang_router.launch_router", "--pd-disaggregation"]
        for url, boot in prefill_urls:
            router += ["--prefill", url, str(boot)]
        for url in decode_urls:
            router += ["--decode", url]
        router += ["--host", r.engine.host, "--port", str(r.engine.port)]
        router += render_args(r.engine.router_args)
        launches.append(Launch(argv=router, env=dict(r.engine.env), host=r.engine.host, port=r.engine.port,
                               served_model=served_name(r), name="router", node=0))
        return launches

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import sglang; print(sglang.__version__)"]


class Dynamo:
    name = "dynamo"

    def validate(self, recipe: Recipe, layout: Layout) -> None:
        check_common(recipe, layout, self.name)
        assert layout.prefill and layout.decode
        backend = recipe.engine.backend
        if backend == "sglang":
            sg.check_group(layout.prefill, "prefill.")
            sg.check_group(layout.decode, "decode.")
            sg.check_spec(layout)
        elif backend == "trtllm":
            if recipe.engine.kv_transfer == "mori":
                raise ValueError("engine.kv_transfer: mori is AMD's transfer engine; TensorRT-LLM workers use nixl or mooncake")
            trt.check_layout(recipe, layout)
            trt.check_group(layout.prefill, "prefill.")
            trt.check_group(layout.decode, "decode.")
        else:
            raise ValueError("engine.backend: dynamo needs the workers' engine, sglang or trtllm")

    def _infra(self, ctx: RenderContext, head: str) -> list[Launch]:
        d = ctx.workdir.rstrip("/")
        etcd = Launch(
            argv=["etcd", "--data-dir", f"{d}/etcd", "--listen-client-urls", f"http://0.0.0.0:{ETCD_PORT}",
                  "--advertise-client-urls", f"http://{head}:{ETCD_PORT}"],
            port=ETCD_PORT, health_path="/health", models_path="/health", metrics_path="/metrics", name="etcd",
        )
        nats = Launch(
            argv=["nats-server", "-js", "--store_dir", f"{d}/nats", "-p", str(NATS_PORT), "-m", str(NATS_MONITOR_PORT)],
            port=NATS_MONITOR_PORT, health_path="/healthz", models_path="/healthz", metrics_path=None, name="nats",
        )
        return [etcd, nats]

    def render(self, ctx: RenderContext) -> list[Launch]:
        r, lay = ctx.recipe, ctx.layout
        slots = place(r, lay)
        nodes = max(s.node for s in slots) + 1
        hosts, gpu_key = _hosts(ctx, nodes), visible_devices_key(r)
        runtime_env = {"ETCD_ENDPOINTS": f"http://{hosts[0]}:{ETCD_PORT}", "NATS_SERVER": f"nats://{hosts[0]}:{NATS_PORT}"}
        launches = self._infra(ctx, hosts[0])
        for s in slots:
            sys_port = DYN_SYSTEM_PORT + s.k
            env = {**r.engine.env, **runtime_env, gpu_key: gpu_list(s.first_gpu, s.group.gpus_per_worker),
                   "DYN_SYSTEM_ENABLED": "true", "DYN_SYSTEM_PORT": str(sys_port)}
            files: dict[str, str] = {}
            if r.engine.backend == "sglang":
                extra = {"disaggregation-mode": s.role, "disaggregation-transfer-backend": r.engine.kv_transfer, **s.group.args}
                if s.role == "prefill":
                    extra["disaggregation-bootstrap-port"] = BOOTSTRAP_PORT + s.index
                argv = sg.server_argv(ctx, "dynamo.sglang", "", 0, s.group, extra, with_port=False)
            else:
                cfg = f"{ctx.workdir.rstrip('/')}/dynamo-{s.role}-{s.index}.yaml"
                opts = trt.llm_api_options(lay, s.group, {**r.engine.args, **s.group.args}, ctx.prefix_cache)
                opts.update(tensor_parallel_size=s.group.tp, moe_expert_parallel_size=s.group.ep,
                            pipeline_parallel_size=s.group.pp, disable_overlap_scheduler=s.role == "prefill",
                            cache_transceiver_config={"backend": str(r.engine.kv_transfer).upper()})
                if s.group.max_num_seqs:
                    opts["max_batch_size"] = s.group.max_num_seqs
                if s.group.max_num_batched_tokens:
                    opts["max_num_tokens"] = s.group.max_num_batched_tokens
                files[cfg] = trt.dump_yaml(opts)
                argv = [ctx.python, "-m", "dynamo.trtllm", "--model-path", ctx.model_path,
                        "--served-model-name", served_name(r), "--disaggregation-mode", s.role,
                        "--extra-engine-args", cfg]
                argv += render_args(trt.flag_args(s.group.args))
            launches.append(Launch(argv=argv, env=env, host=hosts[s.node],
                                   port=sys_port, health_path="/health", models_path="/health", metrics_path="/metrics",
                                   served_model=served_name(r), name=f"{s.role}-{s.index}", node=s.node, files=files))
        front = [ctx.python, "-m", "dynamo.frontend", "--http-port", str(r.engine.port)]
        front += render_args(r.engine.router_args)
        launches.append(Launch(argv=front, env={**r.engine.env, **runtime_env}, host=r.engine.host, port=r.engine.port,
                               served_model=served_name(r), name="frontend", node=0))
        return launches

    def version_argv(self, ctx: RenderContext) -> list[str] | None:
        return [ctx.python, "-c", "import importlib.metadata as m; print(m.version('ai-dynamo'))"]
