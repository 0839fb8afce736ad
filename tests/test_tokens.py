"""tokens: cl100k_base built from ranks shipped in a wheel, exact counts, no network."""
from __future__ import annotations

import socket

import pytest

from assistant import tokens


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails; the cached encoding is rebuilt under that rule."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    tokens.encoding.cache_clear()
    yield
    tokens.encoding.cache_clear()


def test_hello_world_ids(no_network):
    assert tokens.encoding().encode("hello world") == [15339, 1917]


def test_encoding_is_cl100k_base(no_network):
    enc = tokens.encoding()
    assert (enc.name, enc.n_vocab) == ("cl100k_base", 100277)


def test_prolotherapy_article_count(no_network, prolotherapy_md):
    text = prolotherapy_md.read_text(encoding="utf-8")
    assert tokens.count(text) == 1548
    assert tokens.encoding().decode(tokens.encoding().encode(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello world", 2),
        # special-token text in a patient's question is ordinary text, never an error
        ("<|endoftext|>", 7),
        ("Prolotherapy sessions are 2–3 weeks apart 😀", 12),
    ],
)
def test_count(no_network, text, expected):
    assert tokens.count(text) == expected


def test_special_token_text_encodes_as_ordinary_pieces(no_network):
    assert tokens.encoding().encode("<|endoftext|>", disallowed_special=()) == [27, 91, 8862, 728, 428, 91, 29]
