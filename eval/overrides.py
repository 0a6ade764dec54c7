"""``eval --set NAME=VALUE``: any ``Settings`` field changed for one run, validated like the
config file, so comparing configurations needs no YAML files.

    >>> from vectorstore.config import Settings
    >>> s, changed = apply_overrides(Settings.model_construct(), ["rrf_k=30", "bm25_weight=0.7"])
    >>> s.rrf_k, s.bm25_weight, changed
    (30, 0.7, {'rrf_k': 30, 'bm25_weight': 0.7})
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

from vectorstore.config import Settings

from .corpus import EvalError

# where the store and the secrets live: not part of what a run is compared on
NOT_RECORDED = frozenset(
    {"db", "chroma_url", "collection", "episodes_dir", "local_model", "api_token", "llm_api_key", "trusted_user_header"}
)


class OverrideError(EvalError):
    pass


def apply_overrides(settings: Settings, pairs: Iterable[str]) -> tuple[Settings, dict]:
    """``settings`` with each ``NAME=VALUE`` applied (``VALUE`` none/null/empty = unset), and the
    changed fields with their validated values."""
    fields = sorted(Settings.model_fields)
    updates: dict[str, str | None] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise OverrideError(f"--set {pair!r}: expected NAME=VALUE, e.g. --set rrf_k=30")
        if name not in Settings.model_fields:
            near = difflib.get_close_matches(name, fields, n=1)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            raise OverrideError(f"--set {name}: no such setting.{hint} Settings: {', '.join(fields)}")
        value = value.strip()
        updates[name] = None if value.lower() in ("", "none", "null") else value
    if not updates:
        return settings, {}
    try:
        changed = Settings.model_validate({**settings.model_dump(), **updates})
    except ValidationError as e:
        problems = "; ".join(f"{err['loc'][0]}={updates.get(err['loc'][0])!r}: {err['msg']}" for err in e.errors())
        raise OverrideError(f"--set: {problems}") from None
    return changed, {name: getattr(changed, name) for name in updates}


def recorded_settings(settings: Settings) -> dict:
    """The settings a run is compared on (``report.json``'s "settings")."""
    return {k: v for k, v in settings.model_dump().items() if k not in NOT_RECORDED}
