"""Settings: defaults, TOML file, ASSISTANT_* variables, validation naming valid choices."""
import pytest

from assistant.errors import ConfigError
from assistant.settings import INDEX_TYPES, load_settings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert (s.max_tokens, s.index_type, s.retrieval_mode, s.model) == (200, "flat", "hybrid", "embedded")


def test_file_then_environment_then_arguments(tmp_path, monkeypatch):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[assistant]\nmax_tokens = 120\nemergency_number = "112"\ntop_k = 7\n')
    monkeypatch.setenv("ASSISTANT_TOP_K", "9")
    s = load_settings(cfg, index_dir="elsewhere")
    assert (s.max_tokens, s.emergency_number, s.top_k, s.index_dir) == (120, "112", 9, "elsewhere")


def test_invalid_choice_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("ASSISTANT_INDEX_TYPE", "ivf")
    with pytest.raises(ConfigError, match=", ".join(INDEX_TYPES)):
        load_settings()


@pytest.mark.parametrize("env, value", [("ASSISTANT_MAX_TOKENS", "lots"), ("ASSISTANT_SKIP_STALE", "maybe"),
                                        ("ASSISTANT_MAX_TOKENS", "4096")])
def test_bad_values(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError):
        load_settings()


def test_unknown_key_in_file(tmp_path):
    cfg = tmp_path / "a.toml"
    cfg.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        load_settings(cfg)


def test_invalid_fusion_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("ASSISTANT_FUSION", "max")
    with pytest.raises(ConfigError, match="score, rrf"):
        load_settings()


def test_an_edited_prompt_file_is_read_again(tmp_path):
    import os

    from assistant import prompts

    (tmp_path / "framing.md").write_text("First wording.\n", encoding="utf-8")
    assert prompts.text(str(tmp_path), "framing.md") == "First wording."
    (tmp_path / "framing.md").write_text("Second, longer wording.\n", encoding="utf-8")
    os.utime(tmp_path / "framing.md", ns=(1, 1))  # a different modification time, whatever the clock
    assert prompts.text(str(tmp_path), "framing.md") == "Second, longer wording."
