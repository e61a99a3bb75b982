"""Write a model with random weights and a real tokenizer: benchmark an architecture without its weights.

Serving speed depends on tensor shapes, precision and output length, not on weight values (with
``ignore_eos`` fixing the output length; MoE routing is the exception: random router weights give
near-uniform expert load, which real models do not). So a model of the right shape with random
weights times like the real one, and costs no download.

Two formats:

* ``gguf`` (llama.cpp): written with gguf-py; the tokenizer is copied from one of llama.cpp's
  vocab-only GGUFs (Llama 3 BPE, Llama 2 SPM, Qwen2 BPE), padded to the config's vocab size.
* ``hf`` (:mod:`servemark.models.synth_hf`; a folder: ``config.json``, safetensors shards, tokenizer files copied from
  ``--tokenizer``). For vLLM and SGLang prefer ``--load-format dummy`` on the real config: the
  engine makes random weights itself; ``--no-weights`` writes just config and tokenizer for that.

Weights are streamed to disk from a fixed pool of random values (random offsets per chunk), so
memory stays near the pool size whatever the model size. Before writing, the size is checked
against free disk and against the memory that will serve the model, and refused with the figures.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from servemark.errors import ServemarkError
from servemark.models.arch import ArchSpec

GB = 1e9
GIB = 1024**3
POOL_BYTES = 32 * 1024**2
CHUNK_BYTES = 8 * 1024**2
WEIGHT_STD = 0.02

# dtype -> (elements per block, bytes per block, GGML type id, llama file type id)
GGUF_DTYPES: dict[str, tuple[int, int, int, int]] = {
    "f32": (1, 4, 0, 0),
    "f16": (1, 2, 1, 1),
    "bf16": (1, 2, 30, 32),
    "q8_0": (32, 34, 8, 7),
    "q4_0": (32, 18, 2, 2),
}
HF_DTYPES: dict[str, tuple[str, int]] = {"f32": ("F32", 4), "f16": ("F16", 2), "bf16": ("BF16", 2)}
HF_TORCH_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


@dataclass
class TensorPlan:
    """One tensor: GGUF and HF names, numpy-order shape (out, in), and how to fill it."""

    gguf_name: str
    hf_names: list[str]
    shape: tuple[int, ...]
    fill: str = "random"  # random | ones | zeros
    force_f32: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class SynthResult:
    path: str
    format: str
    dtype: str
    params: int
    weight_bytes: int
    file_bytes: int
    seconds: float
    tokenizer: str
    spec: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def plan_tensors(spec: ArchSpec) -> list[TensorPlan]:
    """Every tensor of the model, in llama.cpp's order; shapes are (out_features, in_features)."""
    H, hd = spec.hidden, spec.head_dim
    q, kv = spec.heads * hd, spec.kv_heads * hd
    out: list[TensorPlan] = [TensorPlan("token_embd.weight", ["model.embed_tokens.weight"], (spec.vocab, H))]
    for i in range(spec.layers):
        b, m = f"blk.{i}.", f"model.layers.{i}."
        out += [
            TensorPlan(b + "attn_norm.weight", [m + "input_layernorm.weight"], (H,), "ones", True),
            TensorPlan(b + "attn_q.weight", [m + "self_attn.q_proj.weight"], (q, H)),
            TensorPlan(b + "attn_k.weight", [m + "self_attn.k_proj.weight"], (kv, H)),
            TensorPlan(b + "attn_v.weight", [m + "self_attn.v_proj.weight"], (kv, H)),
            TensorPlan(b + "attn_output.weight", [m + "self_attn.o_proj.weight"], (H, q)),
        ]
        if spec.qkv_bias:
            out += [TensorPlan(b + f"attn_{x}.bias", [m + f"self_attn.{x}_proj.bias"], (n,), "zeros", True)
                    for x, n in (("q", q), ("k", kv), ("v", kv))]
        if spec.qk_norm:
            out += [TensorPlan(b + "attn_q_norm.weight", [m + "self_attn.q_norm.weight"], (hd,), "ones", True),
                    TensorPlan(b + "attn_k_norm.weight", [m + "self_attn.k_norm.weight"], (hd,), "ones", True)]
        out.append(TensorPlan(b + "ffn_norm.weight", [m + "post_attention_layernorm.weight"], (H,), "ones", True))
        if spec.experts:
            E, I = spec.experts, spec.expert_intermediate
            if spec.model_type == "mixtral":
                gate_hf, ex = m + "block_sparse_moe.gate.weight", m + "block_sparse_moe.experts.{e}.{w}.weight"
                names = {"gate": "w1", "up": "w3", "down": "w2"}
            else:
                gate_hf, ex = m + "mlp.gate.weight", m + "mlp.experts.{e}.{w}.weight"
                names = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
            out.append(TensorPlan(b + "ffn_gate_inp.weight", [gate_hf], (E, H), "random", True))
            for part, shape in (("gate", (E, I, H)), ("up", (E, I, H)), ("down", (E, H, I))):
                out.append(TensorPlan(b + f"ffn_{part}_exps.weight",
                                      [ex.format(e=e, w=names[part]) for e in range(E)], shape))
        else:
            I = spec.intermediate
            out += [
                TensorPlan(b + "ffn_gate.weight", [m + "mlp.gate_proj.weight"], (I, H)),
                TensorPlan(b + "ffn_up.weight", [m + "mlp.up_proj.weight"], (I, H)),
                TensorPlan(b + "ffn_down.weight", [m + "mlp.down_proj.weight"], (H, I)),
            ]
    out.append(TensorPlan("output_norm.weight", ["model.norm.weight"], (H,), "ones", True))
    if not spec.tie_embeddings:
        out.append(TensorPlan("output.weight", ["lm_head.weight"], (spec.vocab, H)))
    return out


def param_count(spec: ArchSpec) -> int:
    return sum(t.numel for t in plan_tensors(spec))


def gguf_tensor_bytes(t: TensorPlan, dtype: str) -> int:
    if t.force_f32 or len(t.shape) == 1:
        return t.numel * 4
    per, nbytes, _, _ = GGUF_DTYPES[dtype]
    if t.shape[-1] % per:
        raise ServemarkError(f"{t.gguf_name}: row length {t.shape[-1]} is not a multiple of {per}, needed by {dtype}")
    return t.numel // per * nbytes


def weight_bytes(spec: ArchSpec, dtype: str, fmt: str = "gguf") -> int:
    if fmt == "hf":
        return param_count(spec) * HF_DTYPES[dtype][1]
    return sum(gguf_tensor_bytes(t, dtype) for t in plan_tensors(spec))


# --- capacity checks ----------------------------------------------------------------------------

def serving_memory() -> tuple[int, str]:
    """Bytes of the memory that would hold the weights when served, and what it is.

    GPUs when NVML sees any (their total), else host RAM (llama.cpp on CPU maps the file into it).
    """
    try:
        from servemark.telemetry.nvml import gpu_inventory

        gpus, _ = gpu_inventory()
    except Exception:  # noqa: BLE001 - any NVML trouble means: judge by host memory
        gpus = []
    if gpus:
        total = sum(int(g.get("memory_total_bytes") or 0) for g in gpus)
        return total, f"{len(gpus)} x {gpus[0].get('name', 'GPU')}"
    import psutil

    return int(psutil.virtual_memory().total), "host RAM"


SHARD = re.compile(r"-\d{5}-of-\d{5}(?=\.gguf$)")
"""llama.cpp's shard suffix (``NAME-00001-of-00002.gguf``)."""


def _shard_bytes(out: Path, sizes: list[int], split_bytes: int) -> list[tuple[Path, int]]:
    """(path, bytes) of each file a split write makes: gguf-py's rule, a new shard before a tensor
    that would take the current one past ``split_bytes``; one file when not splitting."""
    if not split_bytes:
        return [(out, sum(sizes))]
    shards = [0]
    for n in sizes:
        if shards[-1] and shards[-1] + n > split_bytes:
            shards.append(0)
        shards[-1] += n
    if len(shards) == 1:
        return [(out, shards[0])]
    stem = out.name.removesuffix(".gguf")
    return [(out.with_name(f"{stem}-{i + 1:05d}-of-{len(shards):05d}.gguf"), b) for i, b in enumerate(shards)]


def check_capacity(out: Path, need_disk: int, need_mem: int, memory: tuple[int, str] | None = None,
                   files: list[tuple[Path, int]] | None = None) -> None:
    """Refuse, with the figures, when the file(s) would not fit on disk or the weights in memory.

    ``files``: (path, bytes) of each shard; a shard whose path is a symbolic link counts against
    the free space where the link points.
    """
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    margin = 256 * 1024**2
    need: dict[Path, int] = {}
    for path, nbytes in files or [(out, need_disk)]:
        where = path.resolve().parent if path.is_symlink() else parent
        need[where] = need.get(where, 0) + nbytes
    for where, nbytes in need.items():
        free = shutil.disk_usage(where).free
        if nbytes + margin > free:
            raise ServemarkError(
                f"{out}: the model needs {nbytes / GB:.2f} GB ({nbytes / GIB:.2f} GiB) on disk, "
                f"{free / GB:.2f} GB free on {where}; choose another --out or a smaller --dtype"
                + (", or --split-gb with shards linked to other disks" if len(need) == 1 else "")
            )
    total, what = memory if memory is not None else serving_memory()
    if total and need_mem > 0.95 * total:
        raise ServemarkError(
            f"{out.name}: weights of {need_mem / GB:.2f} GB would not fit in {what} "
            f"({total / GB:.2f} GB, weights may use at most 95%); choose a smaller --dtype or model"
        )


# --- random byte pools --------------------------------------------------------------------------

class RandomPool:
    """A block of random weight bytes in one dtype; chunks are slices at random block offsets."""

    def __init__(self, dtype: str, seed: int, nbytes: int = POOL_BYTES, hf: bool = False):
        rng = np.random.default_rng(seed)
        self.rng = rng
        if hf or GGUF_DTYPES[dtype][0] == 1:
            self.block = HF_DTYPES[dtype][1] if hf else GGUF_DTYPES[dtype][1]
            vals = (rng.standard_normal(nbytes // 4, dtype=np.float32) * WEIGHT_STD)
            if dtype == "f32":
                raw = vals
            elif dtype == "f16":
                raw = vals.astype(np.float16)
            else:  # bf16: the top half of each float32
                raw = (vals.view(np.uint32) >> 16).astype(np.uint16)
            self.data = np.ascontiguousarray(raw).view(np.uint8)
        else:
            per, bsize, _, _ = GGUF_DTYPES[dtype]
            nblocks = nbytes // bsize
            blocks = rng.integers(0, 256, size=(nblocks, bsize), dtype=np.uint8)
            # scale so dequantised weights have std ~ WEIGHT_STD: q8_0 q~U[-128,127] (std ~74),
            # q4_0 (nibble-8) (std ~4.6)
            scale = WEIGHT_STD / (74.0 if dtype == "q8_0" else 4.6)
            blocks[:, :2] = np.frombuffer(np.float16(scale).tobytes(), dtype=np.uint8)
            self.block = bsize
            self.data = blocks.reshape(-1)
        self.nblocks = len(self.data) // self.block

    def spans(self, nbytes: int) -> Iterator[tuple[int, int]]:
        """(pool offset, length) of each chunk of an ``nbytes`` tensor, drawn in file order."""
        left = nbytes
        step = max(self.block, (CHUNK_BYTES // self.block) * self.block)
        while left > 0:
            take = min(left, step)
            nb = take // self.block
            start = int(self.rng.integers(0, self.nblocks - nb + 1)) * self.block
            yield start, take
            left -= take

    def chunks(self, nbytes: int) -> Iterator[memoryview]:
        for start, take in self.spans(nbytes):
            yield memoryview(self.data[start:start + take])


def _small(t: TensorPlan, rng: np.random.Generator) -> np.ndarray:
    if t.fill == "ones":
        return np.ones(t.shape, dtype=np.float32)
    if t.fill == "zeros":
        return np.zeros(t.shape, dtype=np.float32)
    return (rng.standard_normal(t.shape, dtype=np.float32) * WEIGHT_STD).astype(np.float32)


def _write_data(f: BinaryIO, tensors: list[TensorPlan], sizes: list[int], align: int, pool: RandomPool,
                rng: np.random.Generator, threads: int) -> None:
    """The data section: every tensor at its aligned offset, random ones as pool chunks.

    The chunks are drawn in file order (so the bytes do not depend on ``threads``), then written
    with ``os.pwrite`` from ``threads`` threads: a 141 GB model into a RAM disk is limited by one
    thread's copy speed otherwise (pwrite releases the GIL).
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    f.flush()
    fd = f.fileno()
    pos = f.tell()
    jobs: list[tuple[int, int, int]] = []  # (file offset, pool offset, length)
    for t, n in zip(tensors, sizes):
        pos += (-pos) % align
        if t.force_f32 or len(t.shape) == 1:
            arr = _small(t, rng)
            assert arr.nbytes == n
            os.pwrite(fd, arr.tobytes(), pos)
        else:
            at = pos
            for start, take in pool.spans(n):
                jobs.append((at, start, take))
                at += take
        pos += n
    pos += (-pos) % align

    def put(job: tuple[int, int, int]) -> None:
        at, start, take = job
        view = memoryview(pool.data[start:start + take])
        while view:
            done = os.pwrite(fd, view, at)
            view, at = view[done:], at + done

    if threads <= 1:
        for job in jobs:
            put(job)
    else:
        with ThreadPoolExecutor(threads) as ex:
            for _ in ex.map(put, jobs, chunksize=16):
                pass
    os.ftruncate(fd, pos)
    f.seek(pos)


# --- GGUF ---------------------------------------------------------------------------------------

def _copy_tokenizer(gguf: Any, writer: Any, vocab_path: Path, n_vocab: int, notes: list[str]) -> int:
    """Copy every ``tokenizer.*`` key of a vocab-only GGUF; pad token arrays up to ``n_vocab``."""
    from servemark.models.gguf_kv import read_kv

    kv = {k: v for k, v in read_kv(vocab_path).items() if k.startswith("tokenizer.")}
    if "tokenizer.ggml.tokens" not in kv:
        raise ServemarkError(f"{vocab_path}: no tokenizer.ggml.tokens (not a vocab GGUF)")
    n_tok = len(kv["tokenizer.ggml.tokens"][2])
    if n_tok > n_vocab:
        raise ServemarkError(
            f"{vocab_path.name} has {n_tok} tokens, more than the config's vocab_size {n_vocab}; "
            "pass a matching --vocab"
        )
    pad = n_vocab - n_tok
    if pad:
        notes.append(f"tokenizer padded with {pad} unused [PADn] tokens to vocab_size {n_vocab}")
    for key, (vtype, sub, val) in kv.items():
        if pad and key == "tokenizer.ggml.tokens":
            val = list(val) + [f"[PAD{i}]" for i in range(n_tok, n_vocab)]
        elif pad and key == "tokenizer.ggml.token_type":
            val = list(val) + [int(gguf.TokenType.UNUSED)] * pad
        elif pad and key == "tokenizer.ggml.scores":
            val = list(val) + [-1000.0] * pad
        writer.add_key_value(key, val, gguf.GGUFValueType(vtype),
                             sub_type=gguf.GGUFValueType(sub) if sub is not None else None)
    return n_tok


def default_vocab(spec: ArchSpec) -> str:
    """llama.cpp's vocab-only GGUF for this family: Llama 3 BPE (128k), Llama 2 SPM (32k), Qwen2."""
    if spec.model_type in ("llama", "mistral", "mixtral"):
        return "llama-bpe" if spec.vocab >= 128000 else "llama-spm"
    return "qwen2"


def write_gguf(spec: ArchSpec, out: Path, dtype: str = "f16", vocab: str | None = None,
               seed: int = 0, src: Path | None = None, memory: tuple[int, str] | None = None,
               threads: int = 1, split_gb: float = 0) -> SynthResult:
    from servemark.models.llama_src import import_gguf, llama_cpp_src, vocab_gguf

    if dtype not in GGUF_DTYPES:
        raise ServemarkError(f"--dtype {dtype}: GGUF supports {', '.join(GGUF_DTYPES)}")
    t0 = time.perf_counter()
    src = src or llama_cpp_src()
    gguf = import_gguf(src)
    vocab_path = vocab_gguf(src, vocab or default_vocab(spec))
    tensors = plan_tensors(spec)
    sizes = [gguf_tensor_bytes(t, dtype) for t in tensors]
    wbytes = sum(sizes)
    split_bytes = int(split_gb * GB) if split_gb else 0
    check_capacity(out, wbytes + 32 * 1024**2, wbytes, memory, _shard_bytes(out, sizes, split_bytes))

    notes: list[str] = []
    arch = spec.gguf_arch
    # one file is written as NAME.partial and renamed when complete; shards (llama.cpp's
    # NAME-0000i-of-0000N.gguf, which it loads as one model) are written in place, where a shard
    # path may be a symbolic link to another disk (a model larger than any one disk)
    tmp = out if split_bytes else out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), arch, split_max_size=split_bytes)
    writer.add_name(f"{spec.name} (servemark synthetic, random weights)")
    writer.add_context_length(spec.context)
    writer.add_embedding_length(spec.hidden)
    writer.add_block_count(spec.layers)
    writer.add_feed_forward_length(spec.intermediate)
    writer.add_head_count(spec.heads)
    writer.add_head_count_kv(spec.kv_heads)
    writer.add_key_length(spec.head_dim)
    writer.add_value_length(spec.head_dim)
    writer.add_rope_dimension_count(spec.head_dim)
    writer.add_rope_freq_base(spec.rope_theta)
    writer.add_layer_norm_rms_eps(spec.rms_eps)
    writer.add_vocab_size(spec.vocab)
    writer.add_file_type(GGUF_DTYPES[dtype][3])
    if spec.experts:
        writer.add_expert_count(spec.experts)
        writer.add_expert_used_count(spec.experts_used)
        if spec.model_type == "qwen3_moe":
            writer.add_expert_feed_forward_length(spec.expert_intermediate)
    _copy_tokenizer(gguf, writer, vocab_path, spec.vocab, notes)

    np_dtype = {"f32": np.float32, "f16": np.float16}.get(dtype, np.float32)
    ggml_type = GGUF_DTYPES[dtype][2]
    for t, n in zip(tensors, sizes):
        if t.force_f32 or len(t.shape) == 1:
            writer.add_tensor_info(t.gguf_name, t.shape, np.dtype(np.float32), n)
        else:
            raw = None if dtype in ("f32", "f16") else gguf.GGMLQuantizationType(ggml_type)
            writer.add_tensor_info(t.gguf_name, t.shape, np.dtype(np_dtype), n, raw_dtype=raw)

    pool = RandomPool(dtype, seed)
    rng = np.random.default_rng(seed + 1)
    files = writer.format_shard_names(Path(tmp))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        at = 0
        for f, shard in zip(writer.fout, writer.tensors):
            k = len(shard)
            _write_data(f, tensors[at:at + k], sizes[at:at + k], writer.data_alignment, pool, rng, threads)
            at += k
        writer.close()
        if not split_bytes:
            tmp.replace(out)
            files = [out]
    except BaseException:
        writer.close()
        for p in files:
            p.unlink(missing_ok=True)
        raise
    if split_bytes and len(files) > 1:
        out = files[0]
        notes.append(f"{len(files)} shards: {', '.join(p.name for p in files)} (give llama.cpp the first)")
    tok_json = files[0].with_name(SHARD.sub("", files[0].name).removesuffix(".gguf") + ".tokenizer.json")
    try:
        from servemark.models.gguf_tokenizer import write_tokenizer_json

        write_tokenizer_json(out, tok_json)
        notes.append(f"prompt tokenizer {tok_json.name} (set model.tokenizer to it)")
    except ServemarkError as exc:
        notes.append(f"no tokenizer.json: {exc}")
    res = SynthResult(str(out), "gguf", dtype, sum(t.numel for t in tensors), wbytes, sum(p.stat().st_size for p in files),
                      round(time.perf_counter() - t0, 2), f"{vocab_path.name} (llama.cpp vocab-only GGUF)",
                      spec.to_dict(), notes)
    _write_provenance(files[0].with_name(SHARD.sub("", files[0].name) + ".synth.json"), res, seed)
    return res


def _write_provenance(path: Path, res: SynthResult, seed: int) -> None:
    d = asdict(res)
    d.update(seed=seed, weight_std=WEIGHT_STD,
             note="random weights: timing matches the real model with ignore_eos; MoE routing is near-uniform")
    path.write_text(json.dumps(d, indent=2))


def default_out(spec: ArchSpec, fmt: str, dtype: str) -> Path:
    from servemark import paths

    stem = f"{spec.name}-synth-{dtype}"
    return paths.models_dir() / (stem + ".gguf" if fmt == "gguf" else stem)


def synth(config: str, fmt: str = "gguf", out: Path | None = None, dtype: str | None = None,
          vocab: str | None = None, tokenizer: Path | None = None, seed: int = 0,
          weights: bool = True, memory: tuple[int, str] | None = None, threads: int = 1,
          split_gb: float = 0) -> SynthResult:
    from servemark.models.arch import load_spec

    spec = load_spec(config)
    if fmt not in ("gguf", "hf"):
        raise ServemarkError(f"--format {fmt}: choose gguf or hf")
    dtype = dtype or ("f16" if fmt == "gguf" else "bf16")
    out = Path(out) if out else default_out(spec, fmt, dtype)
    if fmt == "gguf":
        if not weights:
            raise ServemarkError("--no-weights applies to --format hf (for --load-format dummy)")
        return write_gguf(spec, out, dtype, vocab, seed, memory=memory, threads=threads, split_gb=split_gb)
    from servemark.models.synth_hf import write_hf

    return write_hf(spec, out, dtype, tokenizer, seed, weights, memory=memory)


def describe(res: SynthResult) -> str:
    return (f"wrote {res.path} ({res.format}, {res.dtype}): {res.params / 1e9:.3f} B params, "
            f"{res.file_bytes / GB:.2f} GB on disk, in {res.seconds:.1f} s; tokenizer {res.tokenizer}"
            + "".join(f"; {n}" for n in res.notes))

