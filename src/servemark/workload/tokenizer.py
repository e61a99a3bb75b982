"""Tokenizers from anywhere: a local folder or file, a Hugging Face hub id, or the server itself.

Prompts of an exact length need the model's own tokenizer. Where it lives differs by user:

* a local folder holding ``tokenizer.json`` (or the file itself);
* a hub id (``org/name``, optionally ``org/name@revision``): resolved through the standard
  Hugging Face cache with :func:`huggingface_hub.snapshot_download`, so ``HF_HOME`` /
  ``HF_HUB_CACHE`` and offline mode (``HF_HUB_OFFLINE=1``) behave as in every HF tool. The
  environment is read at call time (``huggingface_hub`` reads it once at import), so a process that
  changes it later still gets what it asked for;
* ``server``: the server's own ``/tokenize`` and ``/detokenize`` endpoints (vLLM, SGLang and
  llama.cpp have them), so exact input lengths need no local files at all.

:func:`open_tokenizer` returns the tokenizer and a label recorded on each point (``Point.tokenizer``)
saying which one was used.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from servemark.errors import ServemarkError

SERVER = "server"
"""The tokenizer spec that means: ask the server under test."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


class Encoding(Protocol):
    ids: list[int]


class TokenizerLike(Protocol):
    """What the prompt builder needs of a tokenizer (``tokenizers.Tokenizer`` has it)."""

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding: ...
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str: ...
    def get_vocab(self) -> dict[str, int]: ...


def load_tokenizer(path: str | Path) -> Any:
    """A ``tokenizers.Tokenizer`` from a folder holding ``tokenizer.json`` or the file itself."""
    from tokenizers import Tokenizer

    p = Path(path).expanduser()
    file = p / "tokenizer.json" if p.is_dir() else p
    if not file.is_file():
        raise ServemarkError(f"no tokenizer.json at {p}: prompts are built with the model's own tokenizer "
                             f"(give a folder, a hub id such as org/name, or --tokenizer server)")
    return Tokenizer.from_file(str(file))


def is_hub_id(spec: str) -> bool:
    """``org/name`` (optionally ``@revision``) that is not an existing local path."""
    return bool(_HUB_ID.match(spec)) and not Path(spec).expanduser().exists() and not spec.startswith((".", "/", "~"))


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_tokenizer_dir(spec: str) -> tuple[Path, str]:
    """Download (or, offline, find in the cache) a hub model's tokenizer files; (folder, revision).

    ``HF_HUB_CACHE`` (else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``) is the cache;
    ``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1`` means the cache only. A gated model needs
    ``HF_TOKEN`` like in any HF tool; servemark never stores the token.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id, _, revision = spec.partition("@")
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None)
    offline = _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")
    try:
        folder = snapshot_download(repo_id, revision=revision or None, cache_dir=cache,
                                   allow_patterns=_TOKENIZER_FILES, local_files_only=offline)
    except LocalEntryNotFoundError:
        where = cache or "the default Hugging Face cache"
        raise ServemarkError(
            f"tokenizer {spec}: not in {where}" + (" and HF_HUB_OFFLINE is set" if offline else " and the hub is unreachable")
            + f"; download it once with `huggingface-cli download {repo_id}` or give a local folder") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ServemarkError(f"tokenizer {spec}: {exc}".splitlines()[0]) from None
    path = Path(folder)
    if not (path / "tokenizer.json").is_file():
        raise ServemarkError(f"tokenizer {spec}: the repository has no tokenizer.json (servemark needs the fast tokenizer)")
    return path, path.name


# A fixed pool of common English words: the server tokenizes them once and the whole-word tokens
# among them are the vocabulary prompts are drawn from (a server exposes no vocabulary listing).
_WORDS = (
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night point "
    "home water room mother area money story fact month lot right study book eye job word business issue "
    "side kind head house service friend father power hour game line end member law car city community name "
    "president team minute idea kid body information back parent face others level office door health person "
    "art war history party result change morning reason research girl guy moment air teacher force education "
    "foot boy age policy music market sense nation plan college interest death experience effect use class "
    "control care field development role effort rate heart drug show leader light voice wife police mind price "
    "report decision son view relationship town road arm difference value building action model season society "
    "tax director position player record paper space ground form event official matter center couple site project "
    "activity star table need court oil situation cost industry figure street image phone data picture practice "
    "piece land product doctor wall patient worker news test movie north love support technology step baby "
    "computer type attention film tree source organization hair window evidence population truth song unit "
    "garden river summer winter bridge market signal travel letter animal forest island engine answer "
    "simple strong green small large early young important public bad same able human local sure free"
).split()


@dataclass
class _Ids:
    ids: list[int]


class ServerTokenizer:
    """The server's own tokenizer over HTTP: ``POST /tokenize`` and ``/detokenize``.

    Two request shapes exist: vLLM and SGLang take ``{"model", "prompt", "add_special_tokens"}``
    and answer ``{"tokens": [...]}``; llama.cpp's server takes ``{"content", "add_special"}`` and
    answers the same key (``/detokenize`` answers ``prompt`` or ``content``). The first call finds
    out which one the server speaks.
    """

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._llama = False
        self._vocab: dict[str, int] | None = None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - the user's endpoint
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise _HttpError(exc.code, exc.read()[:300].decode(errors="replace")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServemarkError(f"{self.base_url}{path}: unreachable ({getattr(exc, 'reason', exc)})") from None

    def _tokenize(self, text: str, add_special_tokens: bool, strs: bool = False) -> dict[str, Any]:
        if not self._llama:
            body: dict[str, Any] = {"prompt": text, "add_special_tokens": add_special_tokens}
            if self.model:
                body["model"] = self.model
            if strs:
                body["return_token_strs"] = True
            try:
                return self._post("/tokenize", body)
            except _HttpError as exc:
                if exc.code not in (400, 422):
                    raise ServemarkError(f"{self.base_url}/tokenize: HTTP {exc.code}: {exc.body}; the server has no "
                                         "tokenize endpoint, give --tokenizer a folder or hub id") from None
                self._llama = True
        body = {"content": text, "add_special": add_special_tokens}
        if strs:
            body["with_pieces"] = True
        try:
            return self._post("/tokenize", body)
        except _HttpError as exc:
            raise ServemarkError(f"{self.base_url}/tokenize: HTTP {exc.code}: {exc.body}") from None

    def encode(self, text: str, add_special_tokens: bool = True) -> _Ids:
        if not text:  # some servers refuse an empty prompt: the special tokens are the difference
            with_special, plain = self.encode("a", True).ids, self.encode("a", False).ids
            return _Ids(with_special[: max(0, len(with_special) - len(plain))] if add_special_tokens else [])
        out = self._tokenize(text, add_special_tokens)
        return _Ids([t["id"] if isinstance(t, dict) else int(t) for t in out["tokens"]])

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        body: dict[str, Any] = {"tokens": [int(i) for i in ids]}
        if self.model and not self._llama:
            body["model"] = self.model
        try:
            out = self._post("/detokenize", body)
        except _HttpError as exc:
            raise ServemarkError(f"{self.base_url}/detokenize: HTTP {exc.code}: {exc.body}") from None
        return out.get("prompt", out.get("content", ""))

    def get_vocab(self) -> dict[str, int]:
        """Whole-word tokens of a fixed English word list, as this server's tokenizer spells them."""
        if self._vocab is None:
            vocab: dict[str, int] = {}
            for w in _WORDS:
                out = self._tokenize(" " + w, add_special_tokens=False, strs=True)
                ids = [t["id"] if isinstance(t, dict) else int(t) for t in out["tokens"]]
                strs = out.get("token_strs") or [t.get("piece") for t in out["tokens"] if isinstance(t, dict)]
                if len(ids) == 1:
                    vocab[strs[0] if strs and strs[0] else "▁" + w] = ids[0]
            if len(vocab) < 20:
                raise ServemarkError(f"{self.base_url}/tokenize: fewer than 20 single-token words; "
                                     "give --tokenizer a folder or hub id instead")
            self._vocab = vocab
        return self._vocab


class _HttpError(Exception):
    def __init__(self, code: int, body: str):
        super().__init__(f"HTTP {code}")
        self.code, self.body = code, body


def open_tokenizer(spec: str, base_url: str | None = None, model: str | None = None,
                   api_key: str | None = None) -> tuple[Any, str]:
    """(tokenizer, label) for a folder/file, a hub id or ``server``; the label goes on each point."""
    if spec == SERVER:
        if not base_url:
            raise ServemarkError("tokenizer 'server' needs the server's base URL")
        return ServerTokenizer(base_url, model, api_key), f"server:{base_url.rstrip('/')}/tokenize"
    if Path(spec).expanduser().exists() or not is_hub_id(spec):
        return load_tokenizer(spec), str(Path(spec).expanduser())
    folder, rev = hub_tokenizer_dir(spec)
    return load_tokenizer(folder), f"hf:{spec.partition('@')[0]}@{rev}"
