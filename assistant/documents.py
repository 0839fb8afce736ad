"""Ingest: load the corpus folder into Documents with stable ids, structure and review metadata."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError, InputError
from .text import BULLET, clean

log = logging.getLogger(__name__)

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".jsonl")
REVIEW_KEYS = ("url", "reviewed_by", "reviewed_on", "review_due")
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_REVIEW_LABEL = re.compile(r"^\s*(?:medically\s+)?reviewed\s+by\s*:?\s*$|^\s*last\s+(?:updated|reviewed)\s*:?\s*$", re.I)


@dataclass(frozen=True)
class Document:
    """One source document: text in light Markdown (# headings, - bullets) plus metadata."""

    id: str
    title: str
    text: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LoadReport:
    """What loading a corpus produced and what it left out, with reasons."""

    documents: list[Document]
    skipped: list[tuple[str, str]]
    stale: list[str]

    def summary(self) -> str:
        return (
            f"{len(self.documents)} documents loaded, {len(self.skipped)} files skipped, "
            f"{len(self.stale)} past review_due left out"
        )


def _front_matter(text: str) -> tuple[dict, str]:
    m = _FRONT.match(text)
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            if value.strip():
                meta[key.strip().lower().replace(" ", "_").replace("-", "_")] = value.strip().strip("\"'")
    return meta, text[m.end() :]


def _first_heading(text: str) -> str | None:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def _looks_like_heading(line: str) -> bool:
    """Plain-text title lines: short, no closing period/colon, mostly capitalised words."""
    s = line.strip()
    if not s or BULLET.match(s) or s[-1] in ".:;,!" or len(s) > 120:
        return False
    toks = s.split()
    if not 1 <= len(toks) <= 14:
        return False
    long = [t for t in toks if len(t) > 3 and t[0].isalpha()]
    return bool(long) and sum(t[0].isupper() for t in long) / len(long) >= 0.7


def plain_to_markdown(text: str) -> str:
    """Mark the plain-text title lines as headings: the first as #, later ones as ##."""
    lines = text.split("\n")
    out, seen_title = [], False
    for i, line in enumerate(lines):
        nxt = next((l for l in lines[i + 1 :] if l.strip()), "")
        if _looks_like_heading(line) and nxt and not _looks_like_heading(nxt):
            out.append(("## " if seen_title else "# ") + line.strip())
            seen_title = True
        elif _REVIEW_LABEL.match(line) or (re.match(r"^\s*[^\s:]{1,30}(?:\s[^\s:]+){0,3}:\s*$", line) and not nxt):
            continue  # an empty label such as "Medically Reviewed By:" (the page left the name out)
        else:
            out.append(line)
    return "\n".join(out)


def _html_to_markdown(raw: str) -> tuple[str, dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    meta = {}
    for tag in soup.find_all("meta"):
        name = (tag.get("name") or tag.get("property") or "").lower().replace("-", "_")
        if name in REVIEW_KEYS or name in ("title", "description"):
            meta[name] = tag.get("content", "")
    if soup.title and soup.title.string:
        meta.setdefault("title", soup.title.string.strip())
    for bad in soup(["script", "style", "noscript", "nav", "aside", "form", "template", "iframe", "svg"]):
        bad.decompose()
    for bad in soup(["header", "footer"]):
        if bad.find_parent(["article", "main"]) is None or bad.name == "footer":
            bad.decompose()  # site chrome; an article's own header (its title) stays
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines: list[str] = []
    leaf = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption")
    for el in root.find_all(True):
        if el.find_parent(leaf) is not None:
            continue  # its text is read with the enclosing block
        if el.name in leaf:
            txt = " ".join(el.get_text(" ", strip=True).split())
        elif el.name in ("div", "section", "article", "main", "span", "body"):
            txt = " ".join(" ".join(str(t) for t in el.find_all(string=True, recursive=False)).split())
        else:
            continue
        if not txt:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            lines += ["", "#" * int(el.name[1]) + " " + txt, ""]
        elif el.name == "li":
            lines.append("- " + txt)
        else:
            lines += [txt, ""]
    return "\n".join(lines).strip() + "\n", meta


def _pdf_text(path: Path) -> tuple[str, dict]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    meta = {}
    title = str(reader.metadata.title or "").strip() if reader.metadata else ""
    if title and title.lower() not in ("untitled", "anonymous", "unknown", "document"):
        meta["title"] = title
    pages = [(p.extract_text() or "") for p in reader.pages]
    text = "\n\n".join(pages)
    if not text.strip():
        raise ValueError("no extractable text (scanned image or empty PDF)")
    return plain_to_markdown(text), meta


def _title_from(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _parse_file(path: Path, rel: str, skipped: list[tuple[str, str]]) -> list[Document]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        docs = _parse_jsonl(path, rel, skipped)
        if not docs:
            raise ValueError("no usable records")
        return docs
    if suffix == ".pdf":
        body, meta = _pdf_text(path)
    else:
        raw = clean(path.read_text(encoding="utf-8"))
        if suffix in (".html", ".htm"):
            body, meta = _html_to_markdown(raw)
        else:
            meta, body = _front_matter(raw)
            if suffix == ".txt":
                body = plain_to_markdown(body)
    body = clean(body).strip()
    if not body:
        raise ValueError("empty document")
    title = meta.pop("title", None) or _first_heading(body) or _title_from(path)
    return [Document(id=rel, title=title, text=body + "\n", metadata=_safe_url(meta, rel))]


def _safe_url(meta: dict, where: str) -> dict:
    """A document's `url` is kept only when it is an http(s) address (not javascript:, data:, file:...)."""
    url = str(meta.get("url", "")).strip()
    if url and not re.match(r"https?://[^\s<>\"']+$", url, re.I):
        log.warning("%s: url %r is not an http(s) address; ignored", where, url[:80])
        meta = {k: v for k, v in meta.items() if k != "url"}
    return meta


def jsonl_objects(path: str | Path):
    """(line number, object) for each non-blank line of a JSON Lines file; a line that is not a JSON object
    raises InputError naming the file and line."""
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not JSON ({exc}).") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}:{n}: each line must be a JSON object.")
            yield n, rec


def _parse_jsonl(path: Path, rel: str, skipped: list[tuple[str, str]]) -> list[Document]:
    docs = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rid, text = str(rec["id"]), clean(str(rec["text"])).strip()
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                skipped.append((f"{rel}:{n}", f"bad record: {type(exc).__name__}: {exc}"))
                continue
            if not text:
                skipped.append((f"{rel}:{n}", "empty text"))
                continue
            meta = {k: str(v) for k, v in rec.items() if k not in ("id", "title", "text") and v is not None}
            title = clean(str(rec.get("title") or rid)).strip()
            docs.append(Document(id=rid, title=title, text=text + "\n", metadata=_safe_url(meta, f"{rel}:{n}")))
    return docs


def _is_stale(meta: dict, today: dt.date) -> bool:
    due = meta.get("review_due")
    if not due:
        return False
    try:
        return dt.date.fromisoformat(str(due)[:10]) < today
    except ValueError:
        return False


def load_corpus(corpus_dir: str | Path, skip_stale: bool = True, today: dt.date | None = None) -> LoadReport:
    """Read every supported file under corpus_dir (sorted), skipping and naming what cannot be read."""
    root = Path(corpus_dir)
    if not root.is_dir():
        raise CorpusError(f"No corpus folder at {root}/. Create it and put .md, .txt, .html, .pdf or .jsonl files in it.")
    today = today or dt.date.today()
    docs: list[Document] = []
    skipped: list[tuple[str, str]] = []
    stale: list[str] = []
    seen: set[str] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if rel == "profile.toml":  # the clinic's profile for this corpus (assistant.prompts.profile), not an article
            continue
        if path.suffix.lower() not in SUPPORTED:
            skipped.append((rel, f"unsupported file type {path.suffix or '(none)'}"))
            continue
        try:
            parsed = _parse_file(path, rel, skipped)
        except Exception as exc:  # any unreadable file is skipped and named, never fatal
            skipped.append((rel, f"{type(exc).__name__}: {exc}"))
            continue
        for doc in parsed:
            if doc.id in seen:
                skipped.append((f"{rel}:{doc.id}", "duplicate document id"))
                continue
            seen.add(doc.id)
            if skip_stale and _is_stale(doc.metadata, today):
                stale.append(doc.id)
                continue
            docs.append(doc)
    for rel, why in skipped:
        log.warning("skipped %s: %s", rel, why)
    for did in stale:
        log.warning("left out %s: past its review_due date", did)
    return LoadReport(docs, skipped, stale)


@dataclass(frozen=True)
class ReviewFlag:
    """A line of a document that staff should look at: `held` ones are left out of the index."""

    document: str
    line: int
    text: str
    kind: str  # "hold" or "review"

    def as_dict(self) -> dict:
        return {"document": self.document, "line": self.line, "text": self.text[:300], "kind": self.kind}


def review_documents(documents: list[Document], rules: dict) -> tuple[list[Document], list[ReviewFlag]]:
    """Check each line against the clinic's review rules (assistant/prompts/review_flags.toml): lines to hold are
    removed from the document; both kinds are returned as flags for staff."""
    compiled = {kind: [re.compile(p, re.IGNORECASE) for p in (rules.get(kind) or {}).get("patterns", [])]
                for kind in ("hold", "review")}
    out, flags = [], []
    for doc in documents:
        kept = []
        for n, line in enumerate(doc.text.split("\n"), 1):
            kind = next((k for k in ("hold", "review") if any(p.search(line) for p in compiled[k])), None)
            if kind:
                flags.append(ReviewFlag(doc.id, n, line.strip(), kind))
            if kind != "hold":
                kept.append(line)
        out.append(doc if len(kept) == doc.text.count("\n") + 1 else
                   Document(id=doc.id, title=doc.title, text="\n".join(kept), metadata=doc.metadata))
    for f in flags:  # held lines change what patients can read: a warning; the review list is information
        log.log(logging.WARNING if f.kind == "hold" else logging.INFO, "%s line %d %s: %s", f.document, f.line,
                "held back for staff review" if f.kind == "hold" else "flagged for staff review", f.text[:120])
    return out, flags

