# racecast's everyday commands. `make help` lists them.
#
#   make run     the pipeline on the built-in race simulator into ./data
#   make test    installs what the tests need when missing, then runs them all
#   make lint    formatting, clippy, module layout, crate graph, Prometheus files
#   make bench   the end-to-end throughput harness (figures: bench/README.md)
#   make dbt     dbt build of queries/dbt over the tables under RACECAST_DATA (./data)
#
#   make up      the local stack: tansu, racecast run -n 2, Prometheus (logs under .stack/)
#   make wait    until every part of the stack is healthy (timeout STACK_TIMEOUT, 120 s)
#   make init    create the topics and feed a simulated race to Kafka
#   make logs    the last lines of every log of the stack
#   make down    stop exactly the stack's processes
#   make clean   delete the stack's data and logs
#   make reset   down, then clean

CARGO ?= cargo

.PHONY: help run test test-deps lint bench dbt up wait init logs status down clean reset

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

dbt:
	scripts/dbt.sh build

dbt:
	scripts/dbt.sh build

up wait init logs status down clean reset:
	scripts/stack.sh $@
