"""BEIR benchmarks: metrics on hand-computed rankings, loaders, a run with a stub retriever, the CLI on
a tiny corpus with the real model, and the MedQuAD converter on a tiny MedQuAD-shaped file."""
from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant import beir
from assistant.beir import doc_ranking, mrr_at, ndcg_at, precision_at, query_metrics, recall_at
from assistant.cli import main
from assistant.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
L3 = math.log2(3)  # the discount at rank 2
L6 = math.log2(6)  # the discount at rank 5

GRADES = {"a": 3, "b": 1, "c": 2}
RANKED = ["x", "c", "a", "y", "b"]  # c at 2, a at 3, b at 5


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- metrics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("min_grade, ndcg, mrr, recall, p5", [
    # DCG = 2/log2(3) + 3/log2(4) + 1/log2(6); ideal = 3/1 + 2/log2(3) + 1/log2(4)
    (1, (2 / L3 + 1.5 + 1 / L6) / (3 + 2 / L3 + 0.5), 1 / 2, 1.0, 3 / 5),
    # b (grade 1) no longer counts: DCG = 2/log2(3) + 3/2; ideal = 3 + 2/log2(3)
    (2, (2 / L3 + 1.5) / (3 + 2 / L3), 1 / 2, 1.0, 2 / 5),
    # only a: DCG = 3/2, ideal = 3
    (3, 0.5, 1 / 3, 1.0, 1 / 5),
    # nothing relevant: every metric is 0
    (4, 0.0, 0.0, 0.0, 0.0),
])
def test_metrics_on_a_graded_ranking(min_grade, ndcg, mrr, recall, p5):
    got = query_metrics(RANKED, GRADES, min_grade)
    assert got["ndcg@10"] == pytest.approx(ndcg, rel=1e-12, abs=1e-15)
    assert (got["mrr@10"], got["recall@10"], got["p@5"]) == (mrr, recall, p5)


def test_hand_computed_ndcg_value():
    assert ndcg_at(RANKED, GRADES) == pytest.approx(0.6612359, abs=1e-7)  # 3.1487123 / 4.7618595
    assert ndcg_at(["a", "c", "b"], GRADES) == 1.0  # the ideal order
    assert ndcg_at(["b", "c", "a"], GRADES) == pytest.approx((1 + 2 / L3 + 1.5) / (3 + 2 / L3 + 0.5), rel=1e-12)


def test_cutoffs_count_only_the_top_k():
    ranked = [f"n{i}" for i in range(10)] + ["a"]  # the relevant document at rank 11
    assert (ndcg_at(ranked, {"a": 1}), mrr_at(ranked, {"a": 1}), recall_at(ranked, {"a": 1})) == (0.0, 0.0, 0.0)
    assert precision_at(["n0", "n1", "n2", "n3", "n4", "a"], {"a": 1}) == 0.0
    assert mrr_at(ranked[1:], {"a": 1}) == 1 / 10 and recall_at(ranked[1:], {"a": 1}) == 1.0


def test_ideal_is_capped_at_ten_and_short_rankings_are_not_excused():
    many = {f"d{i}": 1 for i in range(12)}
    ranked = [f"d{i}" for i in range(12)]
    assert ndcg_at(ranked, many) == 1.0
    assert recall_at(ranked, many) == 10 / 12
    assert precision_at(["d0"], many) == 1 / 5


def test_a_repeated_document_counts_once():
    assert precision_at(["a", "a", "a"], {"a": 1}) == 1 / 5
    assert ndcg_at(["x", "x", "a"], {"a": 1}) == pytest.approx(1 / L3, rel=1e-12)  # a is at rank 2, not 3


@dataclass(frozen=True)
class FakeHit:
    source: str
    chunk_id: str


def test_document_rank_is_its_best_chunks_rank():
    hits = [FakeHit("b", "b#1"), FakeHit("a", "a#0"), FakeHit("b", "b#0"), FakeHit("c", "c#3"), FakeHit("a", "a#2")]
    assert doc_ranking(hits) == ["b", "a", "c"]


class StubRetriever:
    """Chunks per (question, mode), as a real retriever would return them."""

    def __init__(self, table: dict[tuple[str, str], list[str]]):
        self.table, self.calls = table, []

    def retrieve(self, query: str, k: int = 20, mode: str | None = None):
        self.calls.append((query, k, mode))
        return [FakeHit(cid.split("#")[0], cid) for cid in self.table[(query, mode)]][:k]


def test_run_scores_every_mode_from_one_pass_and_skips_unjudged_queries():
    queries = {"q1": "first", "q2": "second", "q3": "unjudged"}
    qrels = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}, "q3": {"a": 0}}
    table = {
        ("first", "hybrid"): ["a#0", "a#1", "b#0"], ("first", "dense"): ["b#0", "a#0"], ("first", "bm25"): ["x#0"],
        ("second", "hybrid"): ["x#0", "c#0"], ("second", "dense"): ["c#1"], ("second", "bm25"): ["x#0", "y#0", "c#0"],
    }
    stub = StubRetriever(table)
    rows, m = beir.run(stub, queries, qrels)
    assert [r["query_id"] for r in rows] == ["q1", "q2"]
    assert {k for _, k, _ in stub.calls} == {beir.DEPTH}
    assert rows[0]["ranked"] == {"hybrid": ["a", "b"], "dense": ["b", "a"], "bm25": ["x"]}
    assert rows[0]["first_relevant_rank"] == {"hybrid": 1, "dense": 1, "bm25": None}
    assert rows[1]["first_relevant_rank"] == {"hybrid": 2, "dense": 1, "bm25": 3}
    assert m["queries"] == 2
    assert m["hybrid"]["mrr@10"] == round((1 + 1 / 2) / 2, 4)
    assert m["dense"]["mrr@10"] == 1.0
    assert m["bm25"]["mrr@10"] == round((0 + 1 / 3) / 2, 4)
    assert m["hybrid"]["p@5"] == round((2 / 5 + 1 / 5) / 2, 4)
    # q1 dense: b (gain 1) at 1, a (gain 2) at 2; ideal a then b
    q1_dense = (1 + 2 / L3) / (2 + 1 / L3)
    assert rows[0]["metrics"]["dense"]["ndcg@10"] == pytest.approx(q1_dense, rel=1e-12)
    assert m["dense"]["ndcg@10"] == round((q1_dense + 1.0) / 2, 4)
    assert beir.floor_check(m)[0] is False  # hybrid 0.75 < dense 1.0


# ---- loaders ------------------------------------------------------------------------------------
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, expected", [
    ("q1\t2\td1\nq1\t0\td2\nq2\t1\td3\n", {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}),
    ("query_id\tgrade\tdoc_id\nq1\t2\td1\n", {"q1": {"d1": 2}}),
    ("query-id\tcorpus-id\tscore\nq1\td1\t2\n", {"q1": {"d1": 2}}),  # BEIR's own column order, named
    ("q1 1 d1\n\nq2 3.0 d2\n", {"q1": {"d1": 1}, "q2": {"d2": 3}}),
])
def test_qrels(tmp_path, text, expected):
    assert beir.load_qrels(write(tmp_path / "qrels.tsv", text)) == expected


@pytest.mark.parametrize("text, message", [
    ("q1\t1\td1\nq1\thigh\td2\n", "qrels.tsv:2: grade 'high' is not an integer"),
    ("query_id\tgrade\tdoc_id\n", "qrels.tsv holds no judgement"),
    ("q1\t1\td1\nq2\t1\n", "qrels.tsv:2: expected 3 columns"),
])
def test_bad_qrels_name_the_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        beir.load_qrels(write(tmp_path / "qrels.tsv", text))


def test_corpus_and_queries(tmp_path):
    corpus = write(tmp_path / "corpus.jsonl", "\n".join(json.dumps(r) for r in [
        {"id": "d1", "title": "Gout", "text": "Gout is a form of arthritis.", "url": "https://example.org/gout"},
        {"_id": 7, "text": "Untitled text."},
        {"id": "d3", "title": "Empty", "text": "   "},
    ]) + "\n")
    docs, empty = beir.load_corpus_jsonl(corpus)
    assert [(d.id, d.title, d.text, d.metadata) for d in docs] == [
        ("d1", "Gout", "Gout is a form of arthritis.\n", {"url": "https://example.org/gout"}),
        ("7", "7", "Untitled text.\n", {}),
    ]
    assert empty == ["d3"]
    queries = write(tmp_path / "queries.jsonl", '{"id": "q1", "question": "What is gout?"}\n{"_id": "q2", "text": "Gout?"}\n')
    assert beir.load_queries(queries) == {"q1": "What is gout?", "q2": "Gout?"}


@pytest.mark.parametrize("name, text, message", [
    ("corpus.jsonl", '{"id": "d1", "text": "a"}\n{"id": "d1", "text": "b"}\n', "corpus.jsonl:2: duplicate document id"),
    ("corpus.jsonl", '{"title": "no id", "text": "a"}\n', "corpus.jsonl:1: each record needs an id and a text"),
    ("corpus.jsonl", "not json\n", "corpus.jsonl:1: not JSON"),
    ("queries.jsonl", '{"id": "q1"}\n', "queries.jsonl:1: each query needs an id and a question"),
])
def test_bad_files_name_the_line(tmp_path, name, text, message):
    load = beir.load_corpus_jsonl if name == "corpus.jsonl" else beir.load_queries
    with pytest.raises(InputError, match=message):
        load(write(tmp_path / name, text))


def test_missing_file_says_what_the_folder_needs(tmp_path):
    with pytest.raises(InputError, match="No corpus.jsonl in .*corpus.jsonl, queries.jsonl and qrels.tsv"):
        beir.load_corpus_jsonl(tmp_path / "corpus.jsonl")


# ---- the command, on the real model -------------------------------------------------------------
TINY_CORPUS = [
    {"id": "gout", "title": "Gout", "text": "Gout is a form of arthritis caused by uric acid crystals in a joint, "
     "often the big toe. Attacks bring sudden pain, swelling and redness."},
    {"id": "asthma", "title": "Asthma", "text": "Asthma is a chronic disease of the airways. Inhalers relieve "
     "wheezing, coughing and shortness of breath."},
    {"id": "shingles", "title": "Shingles", "text": "Shingles is a painful rash caused by the chickenpox virus "
     "waking up again. A vaccine lowers the risk for adults over fifty."},
]


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("beir")
    write(folder / "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in TINY_CORPUS))
    write(folder / "queries.jsonl", "".join(json.dumps(q) + "\n" for q in [
        {"id": "q1", "question": "What causes gout attacks in the big toe?"},
        {"id": "q2", "question": "Which vaccine prevents shingles?"},
        {"id": "q3", "question": "A question nobody judged"},
    ]))
    write(folder / "qrels.tsv", "query_id\tgrade\tdoc_id\nq1\t1\tgout\nq2\t2\tshingles\nq2\t1\tgout\n")
    return folder


def test_eval_beir_builds_scores_and_reuses_the_index(tiny_beir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--beir", str(tiny_beir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 documents (0 with empty text left out), 3 queries, 3 judgements" in printed
    # q1 finds gout first (nDCG 1, P@5 1/5); q2 ranks shingles (grade 2), gout (grade 1), asthma:
    # nDCG 1, P@5 2/5 (before sentence re-ranking asthma came second: nDCG 0.9502). Means: 1.0 and 0.3.
    assert "| hybrid | 1.0000 | 1.0000 | 1.0000 | 0.3000 |" in printed
    assert "floor met" in printed
    report = json.loads((out / "report.json").read_text())
    assert [r["query_id"] for r in report["rows"]] == ["q1", "q2"]
    assert report["queries"] == 2 and set(report) >= {"hybrid", "dense", "bm25", "run", "rows"}
    assert report["run"]["queries_without_relevant"] == 1 and report["run"]["documents"] == 3
    assert [r["ranked"]["hybrid"] for r in report["rows"]] == [["gout", "shingles", "asthma"], ["shingles", "gout", "asthma"]]
    assert report["rows"][1]["ranked"]["bm25"] == ["shingles"]  # BM25 leaves out documents sharing no word
    assert "| retriever | ndcg@10 | mrr@10 | recall@10 | p@5 |" in (out / "report.md").read_text()
    recompute = load_script(REPO_ROOT / "evals" / "recompute.py")
    assert recompute.check(report) == []
    # second run: same documents, so the index is reused; --fail-under and --compare work on these metrics
    assert main(["eval", "--beir", str(tiny_beir), "--out", str(tmp_path / "again"), "--compare",
                 str(out / "report.json"), "--fail-under", "hybrid.mrr@10=1.0", "bm25.p@5=0.9"]) == 1
    captured = capsys.readouterr()
    assert "index already up to date" in captured.out and "No regressions." in captured.out
    assert "FAIL: bm25.p@5 = 0.2 is below the floor 0.9" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["eval"], "either a QUESTIONS.jsonl file or --beir DIR"),
    (["eval", "q.jsonl", "--beir", "x"], "either a QUESTIONS.jsonl file or --beir DIR"),
    (["eval", "--beir", "no/such/folder"], "No BEIR folder at no/such/folder/"),
    (["eval", "--beir", "x", "--min-grade", "0"], "--min-grade 0"),
    (["eval", "--beir", "x", "--index", "i"], "--index-dir"),
    (["eval", "q.jsonl", "--min-grade", "2"], "apply to --beir runs"),
])
def test_eval_argument_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# ---- the MedQuAD converter ----------------------------------------------------------------------
def test_medquad_to_beir(tmp_path):
    records = [{"id": f"r{i}", "source": "GHR", "url": f"https://example.org/{i}", "focus": f"Topic {i}",
                "qtype": "information", "question": f"What is topic {i} ?", "answer": f"Topic {i} is a condition."}
               for i in range(6)]
    records.append({**records[2], "answer": "Another page with the same id."})  # MedQuAD repeats ids
    src = write(tmp_path / "medquad.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    convert = load_script(REPO_ROOT / "benchmarks" / "medquad_beir.py")
    out = tmp_path / "beir"
    assert convert.build(src, out, queries=3, seed=13) == {"documents": 7, "queries": 3}
    docs, _ = beir.load_corpus_jsonl(out / "corpus.jsonl")
    assert [d.id for d in docs] == ["r0", "r1", "r2", "r3", "r4", "r5", "r2~2"]
    assert (docs[0].title, docs[0].text, docs[0].metadata) == ("Topic 0", "Topic 0 is a condition.\n",
                                                               {"url": "https://example.org/0"})
    queries, qrels = beir.load_queries(out / "queries.jsonl"), beir.load_qrels(out / "qrels.tsv")
    assert qrels == {q: {q: 1} for q in queries}
    assert all(queries[q] == next(r["question"] for r in records if r["id"] == q.split("~")[0]) for q in queries)
    first = (out / "queries.jsonl").read_text()
    convert.build(src, tmp_path / "again", queries=3, seed=13)
    assert (tmp_path / "again" / "queries.jsonl").read_text() == first  # the sample is fixed by the seed
    readme = (out / "README.md").read_text()
    assert "CC BY 4.0" in readme and "Ben Abacha" in readme and "BMC Bioinformatics 20:511" in readme
    with pytest.raises(ValueError, match="Asked for 8 queries"):
        convert.build(src, tmp_path / "too_many", queries=8)
