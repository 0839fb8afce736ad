"""Optional LLM mode with langchain-core's fake chat models: verified sentences, fallbacks, framing by code."""
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage

from assistant import Assistant

Q = "How far apart are prolotherapy sessions?"


class BrokenModel(FakeListChatModel):
    def _call(self, *args, **kwargs):
        raise ConnectionError("server down")


def with_model(bot, model) -> Assistant:
    return Assistant(bot.index, bot.embedder, bot.settings, chat_model=model)


def body(reply) -> str:
    return reply.text.split("**Sources**")[0].strip()


def test_faithful_model_answer_is_kept(bot, framing):
    model = FakeListChatModel(responses=[
        "Sessions are generally scheduled two to three weeks apart over several months [1]. "
        "Treatment typically involves multiple sessions [1]."])
    reply = with_model(bot, model).ask(Q)
    assert body(reply) == ("Sessions are generally scheduled two to three weeks apart over several months. [1] "
                           "Treatment typically involves multiple sessions. [1]")
    assert "two to three weeks apart" in reply.citations[0].text  # [1] is the passage the sentences came from
    assert reply.text.rstrip().endswith(framing)


def test_invented_facts_are_dropped(bot):
    model = FakeListChatModel(responses=[
        "Sessions are generally scheduled two to three weeks apart [1]. "
        "Prolotherapy cures arthritis in 95 percent of patients [1]. It costs 200 dollars [2]."])
    text = body(with_model(bot, model).ask(Q))
    assert text == "Sessions are generally scheduled two to three weeks apart. [1]"


def test_uncited_or_misnumbered_sentences_are_dropped(bot):
    model = FakeListChatModel(responses=["Sessions are scheduled two to three weeks apart. Treatment involves multiple sessions [9]."])
    extractive = body(bot.ask(Q))
    assert body(with_model(bot, model).ask(Q)) == extractive


def test_model_that_ignores_citation_format_falls_back_to_extractive(bot):
    model = FakeListChatModel(responses=["Great question! Usually every few weeks, but ask your doctor (source: the article)."])
    assert body(with_model(bot, model).ask(Q)) == body(bot.ask(Q))


def test_not_covered_falls_back(bot):
    model = FakeListChatModel(responses=["NOT_COVERED"])
    assert body(with_model(bot, model).ask(Q)) == body(bot.ask(Q))


def test_failing_model_falls_back(bot):
    reply = with_model(bot, BrokenModel(responses=["x"])).ask(Q)
    assert reply.route == "answer" and body(reply) == body(bot.ask(Q))


def test_framing_is_added_by_code_once(bot, framing):
    model = FakeListChatModel(responses=[f"Treatment typically involves multiple sessions [1]. {framing}"])
    reply = with_model(bot, model).ask(Q)
    assert reply.text.count(framing) == 1


def test_model_is_not_called_for_emergencies(bot):
    model = FakeListChatModel(responses=[])  # would raise if invoked
    assert with_model(bot, model).ask("I can't breathe").route == "emergency"


def test_prompt_carries_numbered_passages(bot):
    seen = []

    class Recorder(FakeListChatModel):
        def invoke(self, messages, *a, **k):
            seen.append(messages)
            return AIMessage(content="Treatment typically involves multiple sessions [1].")

    with_model(bot, Recorder(responses=["x"])).ask(Q)
    system, human = seen[0]
    assert "ONLY the numbered passages" in system.content
    assert "[1] (Understanding Prolotherapy" in human.content and Q in human.content
