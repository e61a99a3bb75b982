"""Numbers for people: significant digits without exponent form, in every table.

``format(v, ".3g")`` prints ``1.2e-05`` or ``1.23e+04``; a table reader should never have to
decode that. :func:`fixed` keeps about ``sig`` significant digits in plain positional notation.
"""

from __future__ import annotations

import math


def fixed(v: float, sig: int = 4, grouping: bool = False) -> str:
    """``v`` with ~``sig`` significant digits, never in exponent form (``0.00001234``, ``12,345``)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-" if v is None else str(v)
    if v == 0:
        return "0"
    decimals = max(0, min(12, sig - 1 - math.floor(math.log10(abs(v)))))
    text = f"{v:,.{decimals}f}" if grouping else f"{v:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def plain(v: float, spec: str = "") -> str:
    """``format(v, spec)``, except that ``g``/``e`` specs and a bare float never use exponent form."""
    if isinstance(v, float) and (not spec or spec[-1] in "gGeE"):
        digits = "".join(c for c in spec if c.isdigit())
        return fixed(v, int(digits) if digits else 6, grouping="," in spec)
    return format(v, spec)
