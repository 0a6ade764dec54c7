"""`eval --set NAME=VALUE`: any Settings field for one run, validated, with clear errors."""

from __future__ import annotations

import pytest

from cli.main import main
from eval.overrides import OverrideError, apply_overrides, recorded_settings
from vectorstore.config import Settings, load_settings


def test_overrides_change_only_this_runs_settings():
    base = load_settings(db="/tmp/x")
    changed, applied = apply_overrides(base, ["rrf_k=30", "bm25_weight=0.7", "llm_model=none"])
    assert (changed.rrf_k, changed.bm25_weight, changed.llm_model) == (30, 0.7, None)
    assert applied == {"rrf_k": 30, "bm25_weight": 0.7, "llm_model": None}
    assert base.rrf_k == Settings.model_fields["rrf_k"].default and changed.db == "/tmp/x"
    assert apply_overrides(base, []) == (base, {})


@pytest.mark.parametrize(
    "pair, message",
    [
        ("rrf=30", "no such setting. Did you mean 'rrf_k'"),
        ("colour=red", "no such setting. Settings: "),
        ("rrf_k=thirty", "rrf_k='thirty': Input should be a valid integer"),
        ("bm25_weight=", "bm25_weight=None: Input should be a valid number"),
        ("rrf_k", "expected NAME=VALUE"),
        ("=3", "expected NAME=VALUE"),
    ],
)
def test_bad_overrides_say_what_is_wrong(pair, message):
    with pytest.raises(OverrideError, match=message):
        apply_overrides(load_settings(), [pair])


def test_recorded_settings_leave_out_secrets_and_store_location():
    recorded = recorded_settings(load_settings(db="/tmp/x", api_token="secret", llm_api_key="key"))
    assert recorded["rrf_k"] == Settings.model_fields["rrf_k"].default
    assert not {"db", "api_token", "llm_api_key", "chroma_url"} & set(recorded)


def test_the_command_line_exits_2_with_the_message(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "db"), "eval", "--set", "rrf_k=many"]) == 2
    err = capsys.readouterr().err
    assert "episode-assistant: --set: rrf_k='many': Input should be a valid integer" in err
    assert not (tmp_path / "db").exists()  # it stopped before opening anything
