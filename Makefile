# Two commands on a fresh clone: `make run` (set up, build the index, answer) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run ask test test-slow eval eval-gate index chat bench load soak clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a bare requirement may otherwise pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

index: $(STAMP)
	$(VENV)/bin/assistant index

# Build or update the index, then serve the patient chat, staff console and API (HOST/PORT to change).
HOST ?= 127.0.0.1
PORT ?= 7860
run: index
	$(VENV)/bin/assistant info
	$(PY) app.py --host $(HOST) --port $(PORT)

ask: index
	$(VENV)/bin/assistant ask --passages "How many prolotherapy sessions are usually needed?"

chat: index
	$(VENV)/bin/assistant chat

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

eval: index
	$(VENV)/bin/assistant eval evals/questions.jsonl --out runs/questions
	$(VENV)/bin/assistant eval evals/heldout.jsonl --out runs/heldout

# CI gate: the question set must keep the answer-engine floors (exit 1 names each metric below).
eval-gate: index
	$(VENV)/bin/assistant eval evals/questions.jsonl --out runs/gate --fail-under emergency_recall=1.0 framing_rate=1.0 hit@3=0.95 \
		route_accuracy.emergency=1.0 route_accuracy.answerable=0.95 route_accuracy.out_of_scope=0.95 \
		route_accuracy.personal_advice=0.95 route_accuracy.greeting=0.95 citation_evidence_rate=0.9
	$(VENV)/bin/assistant eval evals/triage_tuning.jsonl --out runs/gate-triage --fail-under emergency_recall=1.0 framing_rate=1.0

# HTTP load on loopback (the app is started and stopped by the script): 1/8/16/32 clients, then a
# bounded 32-client soak (SOAK_SECONDS, default 180) reporting errors and latency over time.
SOAK_SECONDS ?= 180
load: index
	$(PY) benchmarks/http_load.py --clients 1,8,16,32 --seconds 20

soak: index
	$(PY) benchmarks/http_load.py --soak --seconds $(SOAK_SECONDS)

# Performance suite: ours vs the stock LangChain recipe, one table (also benchmarks/results/bench.json, bench.md).
bench: index
	$(PY) benchmarks/bench.py

clean:
	rm -rf index runs
