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


ENTITIES = {"prolotherapy", "stroke"}


@pytest.mark.parametrize("question, history, standalone", [
    # "it" is the treatment the conversation is about, not the topic word of the last turn
    ("does it hurt?", [U("how many sessions of prolotherapy will I need?")], "does prolotherapy hurt?"),
    ("Is it painful?", [U("What is prolotherapy?"), A("..."), U("how many sessions?")], "Is prolotherapy painful?"),
    # no entity in the history: the topic words carry as before
    ("what about sessions?", [U("Tell me about sodium morrhuate")], "what about sessions (sodium morrhuate)?"),
])
def test_condense_resolves_to_the_entity(question, history, standalone):
    assert condense(question, history, entity=lambda w: w in ENTITIES) == standalone


def test_question_focus_finds_the_question_in_a_long_message():
    from assistant.followup import question_focus
    msg = ("Hi there! I hope you are all doing well today. My name is Linda and I have been reading about all "
           "sorts of things since my sister had her stroke last spring, it has been a long year for our family. "
           "She is doing better now. What are the warning signs we should watch for? Thanks so much, Linda")
    assert question_focus(msg, lambda w: w in ENTITIES) == (
        "My name is Linda and I have been reading about all sorts of things since my sister had her stroke last "
        "spring, it has been a long year for our family. What are the warning signs we should watch for?")
    assert question_focus("What is a stroke?") == "What is a stroke?"
    # for judging what is asked: of the background, the subject alone
    assert question_focus(msg, lambda w: w in ENTITIES, subject_only=True) == (
        "stroke What are the warning signs we should watch for?")
    # no earlier sentence names a subject: the sentence before the question, whole
    assert question_focus(msg.replace("stroke", "fall"), lambda w: w in ENTITIES, subject_only=True) == (
        "She is doing better now. What are the warning signs we should watch for?")


def test_a_complete_question_naming_no_subject_carries_the_conversations_entity():
    entity = lambda w: w in ENTITIES  # noqa: E731
    assert condense("How do the doctors tell for certain?", [U("what are the signs of a stroke")], entity=entity,
                    carry_subject=True) == "How do the doctors tell for certain (stroke)?"
    # it names its own subject, the conversation named none, or one article only: unchanged
    assert condense("What is a stroke?", [U("what is prolotherapy")], entity=entity, carry_subject=True) == \
        "What is a stroke?"
    assert condense("How do the doctors tell for certain?", [U("what are the signs")], entity=entity,
                    carry_subject=True) == "How do the doctors tell for certain?"
    assert condense("How do the doctors tell for certain?", [U("what are the signs of a stroke")],
                    entity=entity) == "How do the doctors tell for certain?"


@pytest.mark.parametrize("question, history, standalone", [
    # "it" cannot refer to a plural: with nothing singular to carry, the message is read alone
    ("does it hurt?", [U("how many sessions will I need?")], "does it hurt?"),
    ("is it safe?", [U("how many injections will I need?")], "is it safe?"),
    # a plural pronoun, or a singular word to carry, or a plural that names an article: carried as before
    ("do they hurt?", [U("how many sessions will I need?")], "do sessions hurt?"),
    ("how long does it last?", [U("what about the injections for my knee?")], "how long does injections knee last?"),
    ("is it contagious?", [U("what are hives?")], "is hives contagious?"),
    ("is it curable?", [U("what is diabetes?")], "is diabetes curable?"),
    # "they" who do something to a singular subject are the doctors: "it" is the subject
    ("so what do they usually do for it?", [U("what is gout?")], "so what do they usually do for gout?"),
    ("do they numb it?", [U("what is prolotherapy?")], "do they numb prolotherapy?"),
    ("how will they know if that's what it is?", [U("what is gout?")], "how will they know if that's what gout is?"),
    ("how do they test for that?", [U("what is gout?")], "how do they test for gout?"),
    # no pronoun agrees with a singular subject: it is added in brackets
    ("what will they do?", [U("what is gout?")], "what will they do (gout)?"),
    # a plural subject: "they" stands for it
    ("how do they spread?", [U("what are hives?")], "how do hives spread?"),
])
def test_a_pronoun_agrees_in_number_with_what_it_carries(question, history, standalone):
    assert condense(question, history, entity=lambda w: w in ENTITIES | {"hives"}) == standalone


def test_informal_fillers_and_contractions_typed_without_apostrophes_name_no_topic():
    from assistant.followup import content_words
    assert content_words("ok so whats the recovery like tbh, hes nervous lol idk") == ["recovery", "like", "nervous"]
    assert content_words("I feel ill and my shell is cracked") == ["feel", "ill", "shell", "cracked"]
