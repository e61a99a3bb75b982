"""Random-token prompts of an exact length by the model's own tokenizer.

InferenceX and ``vllm bench serve --dataset-name random`` draw each prompt's length uniformly
from [range_ratio x ISL, ISL] and fill it with random tokens. Random token ids do not survive a
decode/encode round trip (neighbours merge, special tokens split), so the server would see a
different length than intended. Here prompts are made of whole-word vocabulary entries (a word
with its leading-space marker), which re-tokenise to themselves almost always, and every prompt is
then re-encoded and trimmed or extended until its length, with the special tokens the server adds,
is exactly the target. The client's count is recorded and compared with ``usage.prompt_tokens``.
"""

from __future__ import annotations

import re
import numpy as np

from servemark.errors import ServemarkError
from servemark.workload.prompt import Prompt
from servemark.workload.tokenizer import TokenizerLike, load_tokenizer

__all__ = ["RandomPromptBuilder", "load_tokenizer"]

_WORD = re.compile(r"^(▁|Ġ)[A-Za-z]{2,12}$")


class RandomPromptBuilder:
    def __init__(self, tokenizer: TokenizerLike, seed: int = 0):
        self.tok = tokenizer
        self.rng = np.random.default_rng(seed)
        vocab = tokenizer.get_vocab()
        self.words = np.array(sorted(i for t, i in vocab.items() if _WORD.match(t)), dtype=np.int64)
        if len(self.words) < 100:
            self.words = np.array(sorted(vocab.values()), dtype=np.int64)
        self.n_special = len(tokenizer.encode("", add_special_tokens=True).ids)

    def count(self, text: str) -> int:
        """Tokens the server will count for ``text`` (special tokens it adds included)."""
        return len(self.tok.encode(text, add_special_tokens=True).ids)

    def prompt_of_length(self, target: int) -> str:
        body = max(1, target - self.n_special)
        ids = list(self.rng.choice(self.words, size=body))
        for _ in range(20):
            text = self.tok.decode([int(i) for i in ids], skip_special_tokens=True)
            have = self.count(text)
            if have == target:
                return text
            if have > target:
                ids = ids[: max(1, len(ids) - (have - target))]
            else:
                ids += list(self.rng.choice(self.words, size=target - have))
        raise ServemarkError(f"could not build a prompt of exactly {target} tokens with this tokenizer")

    def build(self, n: int, isl: int, osl: int, range_ratio: float = 1.0) -> list[Prompt]:
        """``n`` prompts, lengths uniform in [range_ratio x L, L] for input and output alike."""
        lo_in, lo_out = max(1, int(isl * range_ratio)), max(1, int(osl * range_ratio))
        ins = self.rng.integers(lo_in, isl + 1, size=n)
        outs = self.rng.integers(lo_out, osl + 1, size=n)
        out = []
        for li, lo in zip(ins, outs):
            text = self.prompt_of_length(int(li))
            out.append(Prompt(text=text, client_tokens=int(li), max_tokens=int(lo)))
        return out
