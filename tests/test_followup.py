"""Follow-up questions become standalone questions with no LLM."""
import pytest

from assistant.followup import condense, needs_context

U = lambda text: {"role": "user", "content": text}  # noqa: E731
A = lambda text: {"role": "assistant", "content": text}  # noqa: E731


@pytest.mark.parametrize("question, history, standalone", [
    ("How long does it take?", [U("What is prolotherapy?")], "How long does prolotherapy take?"),
    ("and the side effects?", [U("What is prolotherapy?"), A("...")], "and the side effects (prolotherapy)?"),
    ("what about sessions?", [U("Tell me about sodium morrhuate")], "what about sessions (sodium morrhuate)?"),
    ("Is it painful?", [U("What is prolotherapy?"), A("..."), U("how many sessions?")], "Is prolotherapy sessions painful?"),
    ("What is sodium morrhuate?", [U("What is prolotherapy?")], "What is sodium morrhuate?"),
    ("How long does it take?", [], "How long does it take?"),
    ("How long does it take?", [A("Hello!")], "How long does it take?"),
])
def test_condense(question, history, standalone):
    assert condense(question, history) == standalone


@pytest.mark.parametrize("question, expected", [
    ("and how long?", True), ("what about it?", True), ("side effects?", False), ("effects?", True),
    ("What are the side effects of prolotherapy injections?", False),
])
def test_needs_context(question, expected):
    assert needs_context(question) is expected
