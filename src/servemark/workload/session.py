"""Sessions: requests that depend on earlier replies (multi-turn chats, agentic traces).

The hand-off from workload to load generator for session workloads, like :class:`Prompt` for
single requests. A session's turns run one after another; every turn's request carries the whole
history so far (the shared ``context``, each earlier user text and the reply the server actually
generated), so the prefix a server could cache is truly the same bytes. A turn may start
sub-sessions (agentic fan-out) that run in parallel after its reply and are awaited before the
next turn. Plain dataclasses: they cross process boundaries to load workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Turn:
    user: str
    """New user text of this turn (appended to the history)."""
    max_tokens: int
    """Output tokens asked for (exact with ``ignore_eos``)."""
    user_tokens: int = 0
    """Tokens of ``user`` by the client's tokenizer (for the record; 0 = unknown)."""
    delay_s: float = 0.0
    """Pause after the previous reply before this turn is due: think time, or a tool call's
    duration in an agentic trace. Latency counts from the end of this pause."""
    subagents: list["Session"] = field(default_factory=list)
    """Sessions started when this turn's reply is in, all awaited before the next turn."""


@dataclass
class Session:
    turns: list[Turn]
    context: str = ""
    """Text before the first turn (a system prompt or shared document); equal text in two
    sessions is an equal prefix."""
    context_tokens: int = 0
    start_s: float | None = None
    """Trace replay: when the session's first turn is due (s from the phase start); None: as
    soon as a session slot is free (closed loop over sessions)."""

    def requests(self) -> int:
        """Requests this session sends, sub-sessions included."""
        return sum(1 + sum(s.requests() for s in t.subagents) for t in self.turns)
