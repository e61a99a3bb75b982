"""A word-level tokenizer that counts exactly as the calibration server does.

Peers count tokens with a Hugging Face tokenizer they load from a folder; the calibration server
counts prompt tokens as whitespace-separated words and sends completion tokens as ``" tok"``. A
``WordLevel`` model behind a ``WhitespaceSplit`` pre-tokenizer gives every whitespace-separated
word exactly one token, so a peer's token counts equal
the server's and any disagreement in a conformance run is the peer's definition, not a tokenizer
mismatch. Unknown words become the ordinary word ``unk`` (not a special token: peers decode
with ``skip_special_tokens`` and would otherwise drop them and send shorter prompts). Nothing is
downloaded: the folder is written from this module.
"""

from __future__ import annotations

import json
from pathlib import Path

UNK = "unk"
SPECIALS = ["[PAD]", "[BOS]", "[EOS]"]
# syllable words: a vocabulary large enough for peers that sample random token ids
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
_VOWELS = ["a", "e", "i", "o", "u"]


def vocabulary() -> list[str]:
    words = [UNK, "tok"]
    for a in _ONSETS:
        for v in _VOWELS:
            for b in _ONSETS:
                for w in _VOWELS:
                    words.append(a + v + b + w)
    return words + SPECIALS


def write(folder: Path) -> Path:
    """Write tokenizer.json, tokenizer_config.json and a minimal config.json into ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tok.add_special_tokens(SPECIALS)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "[PAD]",
        "bos_token": "[BOS]", "eos_token": "[EOS]", "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
        "chat_template": "{% for m in messages %}{{ m['content'] }} {% endfor %}",
    }))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "vocab_size": len(vocab), "max_position_embeddings": 1_000_000,
        "architectures": ["LlamaForCausalLM"], "eos_token_id": vocab["[EOS]"], "bos_token_id": vocab["[BOS]"],
    }))
    return folder
