"""Build a clinic-library test corpus: the shipped seed article plus MedlinePlus and NIHSeniorHealth articles.

The articles come from MedQuAD's `MPlusHealthTopics` records (one article per topic) and its
`NIHSeniorHealth` records (one article per topic, one section per kind of question, several passages
each), written as Markdown with front matter so `assistant index` reads them like any clinic article. Every topic whose
name touches an emergency theme (stroke, heart attack, anaphylaxis, sepsis, seizures, fainting, chest
pain, poisoning, suicide, clots, head injuries...) is included, so educational questions about those
topics can be answered; the rest is a seeded random sample of the other topics.

Data: MedQuAD (Ben Abacha and Demner-Fushman, BMC Bioinformatics 20:511, 2019), CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/). Each generated article carries that attribution.

    python benchmarks/clinic_library.py --out runs/library/corpus [--topics 120] [--senior 30] [--seed 13]
    .venv/bin/assistant index --corpus runs/library/corpus --index runs/library/index
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from pathlib import Path

from medquad import medquad_path

REPO_ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTION = ("Source: MedlinePlus health topic via MedQuAD (Ben Abacha and Demner-Fushman, 2019), "
               "licensed CC BY 4.0.")
# Topics a red-flag question may be about: always included so their educational questions have an article.
EMERGENCY_THEMES = re.compile(
    r"stroke|heart attack|chest pain|anaphyla|allerg|sepsis|seizure|epilep|faint|concussion|head injur|"
    r"blood clot|deep vein|pulmonary embol|poison|suicide|depression|bleeding|breathing|asthma|"
    r"spinal cord|drug reactions|overdose|skin infections|bone infections|heart failure|back pain",
    re.I)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _markdown(answer: str) -> str:
    """MedQuAD answers run paragraphs and list items together with runs of spaces; split them again."""
    parts = [p.strip() for p in re.split(r"\s{3,}|\n+", answer) if p.strip()]
    lines: list[str] = []
    for p in parts:
        if p.startswith("- "):
            lines.append(p)
        else:
            lines.extend(["", p, ""] if lines and lines[-1].startswith("- ") else [p, ""])
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def topics(path: str | None = None) -> dict[str, dict]:
    """MedlinePlus topic name -> its record, in file order."""
    found: dict[str, dict] = {}
    with medquad_path(path).open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("source") == "MPlusHealthTopics" and rec.get("answer", "").strip():
                found.setdefault(rec["focus"].strip(), rec)
    return found


# NIHSeniorHealth question types -> section headings, in reading order.
SECTIONS = {"information": "Overview", "causes": "Causes", "susceptibility": "Who is at risk",
            "symptoms": "Symptoms", "exams and tests": "Diagnosis", "treatment": "Treatment",
            "prevention": "Prevention", "considerations": "Living with it", "outlook": "Outlook",
            "frequency": "How common it is", "complications": "Complications",
            "stages": "Stages", "research": "Research", "support groups": "Support"}


def grouped_topics(path: str | None = None, source: str = "NIHSeniorHealth") -> dict[str, list[dict]]:
    """Topic name -> its records (one per answered question) from one MedQuAD source, in file order."""
    found: dict[str, list[dict]] = {}
    with medquad_path(path).open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("source") == source and rec.get("answer", "").strip():
                found.setdefault(rec["focus"].strip(), []).append(rec)
    return found


def topic_article(name: str, records: list[dict], source: str = "NIHSeniorHealth") -> str:
    """One Markdown article: a section per question type, each distinct answer a paragraph group."""
    groups: dict[str, list[str]] = {}
    for rec in records:
        heading = SECTIONS.get(rec["qtype"], rec["qtype"].capitalize())
        text = _markdown(rec["answer"])
        if text not in groups.setdefault(heading, []):
            groups[heading].append(text)
    order = list(dict.fromkeys(list(SECTIONS.values()) + list(groups)))
    parts = [f"## {h}\n\n" + "\n".join(groups[h]) for h in order if h in groups]
    url = records[0].get("url", "")
    front = f"---\ntitle: {name}\nurl: {url}\nsource: {source} (MedQuAD, CC BY 4.0)\n---\n\n"
    return front + f"# {name}\n\n" + "\n".join(parts) + f"\n_{ATTRIBUTION.replace('MedlinePlus health topic', source)}_\n"


def choose(all_topics: dict[str, dict], n: int, seed: int) -> list[str]:
    """Every emergency-theme topic, then a seeded sample of the others up to n topics."""
    themed = [t for t in all_topics if EMERGENCY_THEMES.search(t)]
    others = sorted(t for t in all_topics if t not in set(themed))
    random.Random(seed).shuffle(others)
    return sorted(themed + others[: max(0, n - len(themed))])


def build(out: Path, n: int = 120, seed: int = 13, medquad: str | None = None, senior: int = 30) -> list[str]:
    """Write the seed corpus, n MedlinePlus and `senior` NIHSeniorHealth articles under out/; return the topic names."""
    all_topics = topics(medquad)
    chosen = choose(all_topics, n, seed)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(REPO_ROOT / "corpus", out)
    folder = out / "medlineplus"
    folder.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        rec = all_topics[name]
        front = f"---\ntitle: {name}\nurl: {rec['url']}\nsource: MedlinePlus (MedQuAD, CC BY 4.0)\n---\n\n"
        body = f"# {name}\n\n{_markdown(rec['answer'])}\n_{ATTRIBUTION}_\n"
        (folder / f"{_slug(name)}.md").write_text(front + body, encoding="utf-8")
    seniors = grouped_topics(medquad)
    picked = sorted(seniors)
    random.Random(seed).shuffle(picked)
    folder = out / "nihseniorhealth"
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(picked[:senior]):
        (folder / f"{_slug(name)}.md").write_text(topic_article(name, seniors[name]), encoding="utf-8")
    return chosen + sorted(picked[:senior])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/library/corpus")
    ap.add_argument("--topics", type=int, default=120)
    ap.add_argument("--senior", type=int, default=30)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--medquad", default=None)
    args = ap.parse_args()
    chosen = build(Path(args.out), args.topics, args.seed, args.medquad, args.senior)
    themed = sum(bool(EMERGENCY_THEMES.search(t)) for t in chosen[:args.topics])
    print(f"Wrote {args.topics} MedlinePlus articles ({themed} on emergency themes), {len(chosen) - args.topics} "
          f"NIHSeniorHealth articles and the seed to {args.out}")


if __name__ == "__main__":
    main()
