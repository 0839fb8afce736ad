"""Optional LLM composer: any LangChain chat model writes the answer from numbered passages; a
verifier keeps only sentences their cited passage supports. Framing is added by code, not the model."""
from __future__ import annotations

import logging
import os
import re

from . import prompts, tokens
from .compose import CitationNumbers
from .errors import ModelError
from .text import analyze, split_sentences
from .types import Citation, Hit

log = logging.getLogger(__name__)
_MARKER = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
NOT_COVERED = "NOT_COVERED"


def build_chat_model(settings):
    """A chat model for an OpenAI-compatible server (vLLM, llama.cpp, Ollama) from settings."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise ModelError("llm_model is set but langchain-openai is missing. Run `pip install -e '.[llm]'`.") from None
    return ChatOpenAI(model=settings.llm_model, base_url=settings.llm_base_url or None,
                      api_key=os.environ.get(settings.llm_api_key_env) or "not-needed",
                      temperature=0, timeout=30, max_retries=1)


def pack_passages(hits: list[Hit], budget: int) -> list[Hit]:
    """As many top passages as fit the token budget (cl100k), best first."""
    out, used = [], 0
    for h in hits:
        n = tokens.count(h.text) + 12
        if out and used + n > budget:
            break
        out.append(h)
        used += n
    return out


def supported(sentence: str, passage: str, min_share: float = 0.8) -> bool:
    """A sentence is supported when its numbers occur in the passage and most of its content words do."""
    if any(n not in passage for n in _NUMBER.findall(sentence)):
        return False
    words = set(analyze(sentence))
    if not words:
        return False
    have = set(analyze(passage))
    return len(words & have) / len(words) >= min_share


def verify(answer: str, passages: list[Hit]) -> tuple[str, list[Citation]]:
    """Keep sentences that cite a passage that supports them; renumber citations by first use."""
    number = CitationNumbers(passages)
    kept: list[str] = []
    for sent in split_sentences(" ".join(answer.split())):
        cited = [int(n) for n in _MARKER.findall(sent)]
        bare = _MARKER.sub("", sent).strip()
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
        valid = [n for n in cited if 1 <= n <= len(passages) and supported(bare, passages[n - 1].text)]
        if not bare or not valid:
            continue
        marks = "".join(f"[{number(n - 1)}]" for n in dict.fromkeys(valid))
        kept.append(f"{bare} {marks}")
    return " ".join(kept), number.citations


def llm_answer(assistant, question: str, hits: list[Hit]) -> tuple[str, list[Citation]] | None:
    """The verified LLM answer, or None to fall back to the extractive composer."""
    s = assistant.settings
    if assistant._chat_model is None:
        assistant._chat_model = build_chat_model(s)
    from langchain_core.prompts import ChatPromptTemplate

    passages = pack_passages(hits, s.llm_context_tokens)
    if not passages:
        return None
    template = ChatPromptTemplate.from_messages([
        ("system", prompts.text(s.prompts_dir, "llm_system.md")),
        ("human", prompts.text(s.prompts_dir, "llm_user.md")),
    ])
    numbered = "\n\n".join(f"[{i}] ({h.title} — {h.section})\n{h.text}" for i, h in enumerate(passages, 1))
    messages = template.format_messages(max_words=s.answer_words, passages=numbered, question=question)
    try:
        out = assistant._chat_model.invoke(messages)
    except Exception as exc:  # a down or slow LLM must never cost the patient an answer
        log.warning("chat model failed (%s: %s); using the extractive answer", type(exc).__name__, exc)
        return None
    content = out.content if isinstance(out.content, str) else " ".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in out.content)
    if NOT_COVERED in content:
        return None
    body, citations = verify(content, passages)
    return (body, citations) if body else None
