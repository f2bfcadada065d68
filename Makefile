# samd-monitor: the two set-up commands of the README, and a few conveniences.
#   make demo   set up, then run the whole pipeline on the synthetic demo (SQLite)
#   make test   set up, then run the whole test suite (SQLite and PostgreSQL)
#   make dashboard  the Streamlit drift dashboard on the demo database (runs the demo first if needed)
SHELL := /bin/bash
export MONITOR_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=
BENCH_N ?= 1M,10M
BENCH_ARGS ?=

.PHONY: demo test setup setup-test bench dashboard clean

setup:
	@scripts/setup.sh runtime

setup-test:
	@scripts/setup.sh test

demo: setup
	.venv/bin/samd-monitor demo --out demo-output

test: setup-test
	.venv/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

dashboard: setup
	@[ -f demo-output/demo.sqlite ] || .venv/bin/samd-monitor demo --out demo-output
	.venv/bin/samd-monitor --db sqlite:///$(CURDIR)/demo-output/demo.sqlite dashboard

bench: setup-test
	.venv/bin/python bench/run_all.py --rows $(BENCH_N) $(BENCH_ARGS)

clean:
	rm -rf demo-output .pytest_cache .hypothesis
