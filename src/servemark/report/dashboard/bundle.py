"""Join the dashboard's ES modules (``static/app/*.js``) into one classic script, ``app.js``.

Why: the built site must open from ``file://``, where Chromium refuses ``<script type="module">``
(a module needs a CORS-clean origin), and it must stay one request when served. The sources are
real ES modules (``import {a, b} from "./data.js"``, ``export function ...``) so editors and
linters see their dependencies; the build gives each its own function scope and passes the
exported names along, in the fixed order of :data:`MODULES` (dependencies first, no cycles).
"""

from __future__ import annotations

import re
from pathlib import Path

from servemark.errors import ServemarkError

MODULES = ("data", "state", "view", "main")
"""Load order: each module imports only from modules before it."""

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./(\w+)\.js";\s*$', re.M)
_EXPORT = re.compile(r"^export\s+(?:(?:async\s+)?function\*?|const|class)\s+(\w+)", re.M)
_BAD_EXPORT = re.compile(r"^export\s+(?!(?:async\s+)?function|const|class)", re.M)


def bundle(src_dir: Path) -> str:
    """The text of ``app.js`` built from ``src_dir/<module>.js`` for every name in :data:`MODULES`."""
    parts = ['/* servemark dashboard, built from static/app/*.js by report/dashboard/bundle.py: edit those. */',
             "(function () {", '"use strict";']
    exported: dict[str, set[str]] = {}
    for name in MODULES:
        path = src_dir / f"{name}.js"
        text = path.read_text(encoding="utf-8")
        if _BAD_EXPORT.search(text):
            raise ServemarkError(f"{path}: only `export function|const|class NAME` is bundled (no `export let`, no re-exports)")
        lines = []
        for m in _IMPORT.finditer(text):
            dep, names = m.group(2), [n.strip() for n in m.group(1).split(",") if n.strip()]
            if dep not in exported:
                raise ServemarkError(f"{path}: imports ./{dep}.js, which is not an earlier module of {MODULES}")
            missing = [n for n in names if n not in exported[dep]]
            if missing:
                raise ServemarkError(f"{path}: ./{dep}.js does not export {', '.join(missing)}")
            lines.append(f"const {{ {', '.join(names)} }} = __{dep};")
        body = _IMPORT.sub("", text)
        if re.search(r"^\s*import\b", body, re.M):
            raise ServemarkError(f'{path}: only `import {{ a, b }} from "./module.js";` on one line is bundled')
        exported[name] = set(_EXPORT.findall(body))
        body = re.sub(r"^export\s+", "", body, flags=re.M)
        parts.append(f"const __{name} = (function () {{\n" + "\n".join(lines) + "\n" + body
                     + f"\nreturn {{ {', '.join(sorted(exported[name]))} }};\n}})();")
    parts.append("})();\n")
    return "\n".join(parts)
