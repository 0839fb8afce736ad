"""The staff preview's decision table: every triage flag gets a row of its own (a long findings list used to
push the flags past the 200-character cut of a single 'triage' row)."""
from types import SimpleNamespace

from assistant.console import decision_summary, signal_rows


def test_nested_signals_spread_one_row_each_and_number_dicts_stay_one_row():
    signals = {"decision": "answer", "p_answer": 0.123456,
               "triage": {"findings": ["x" * 300], "p_topic": 0.02, "topic_vetoed": True,
                          "intent": {"advice": 0.25, "question": 0.75}}}
    rows = dict(signal_rows(signals))
    assert rows == {"decision": "answer", "p_answer": "0.1235", "triage.findings": str(["x" * 300]),
                    "triage.p_topic": "0.02", "triage.topic_vetoed": "True",
                    "triage.intent": "advice 0.25, question 0.75"}


def test_a_real_vetoed_escalation_shows_its_flags_in_the_preview(bot):
    reply = bot.ask("will the pain go away")
    flags = {k for k, v in reply.signals["triage"].items() if v is True}
    assert flags, reply.signals["triage"]  # the message is one the triage reads with a flag (a veto)
    table = decision_summary(reply)
    for flag in flags:
        assert f"| triage.{flag} | True |" in table
    assert "| triage.p_emergency |" in table


def test_markup_in_a_signal_is_escaped():
    reply = SimpleNamespace(route="answer", triage=None, standalone_question="q", citations=[],
                            signals={"triage": {"findings": ["<script>alert(1)</script>"]}})
    table = decision_summary(reply)
    assert "<script>" not in table and "triage.findings" in table
