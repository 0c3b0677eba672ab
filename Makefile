# racecast's everyday commands. `make help` lists them.
#
#   make run     the pipeline on the built-in race simulator into ./data
#   make test    installs what the tests need when missing, then runs them all
#   make lint    formatting, clippy, module layout, crate graph, Prometheus files
#   make bench   the end-to-end throughput harness (figures: bench/README.md)

CARGO ?= cargo

.PHONY: help run test test-deps lint bench

help:
	@sed -n 's/^#   //p' Makefile

run:
	$(CARGO) run --release -- run

test-deps:
	scripts/test-deps.sh

test: test-deps
	$(CARGO) test --workspace --locked

lint:
	scripts/lint.sh

bench:
	$(CARGO) run --release -p racecast-bench --bin throughput -- --events 1000000 --workers 2
	$(CARGO) run --release -p racecast-bench --bin throughput -- --mode delta --events 1000000 --workers 2
