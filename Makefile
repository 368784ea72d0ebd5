# The front door. `make run` and `make test` work on a fresh Debian machine.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 15
CONF ?= conf/cairn.conf

.PHONY: all deps test-deps build run test unit bench bench-scale bench-outage bench-types compat fuzz fuzz-build clean

all: build

deps:
	@sh scripts/install-deps.sh

test-deps:
	@sh scripts/install-deps.sh --with-tests

# Optimised build used by `make run` and `make bench`.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@mkdir -p data
	./$(BUILD)/cairn-server $(CONF)

# Test build: AddressSanitizer + UndefinedBehaviorSanitizer; any report fails.
test: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@$(MAKE) --no-print-directory fuzz-build
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (tests/fuzz), built with clang in their own tree. `make
# test` runs each for FUZZ_SECONDS; `make fuzz` for FUZZ_LONG seconds each.
fuzz-build: test-deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCAIRN_FUZZ=ON -DCAIRN_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

FUZZ_LONG ?= 3600
fuzz:
	@$(MAKE) --no-print-directory fuzz-build FUZZ_SECONDS=$(FUZZ_LONG)
	@cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build test-deps
	@sh tests/bench/run.sh $(BUILD)
	@sh tests/bench/collections.sh $(BUILD)

# cairn and redis-server (appendfsync always) at 10M keys: load, kill -9 and
# restart, space per key. Knobs SCALE_*: tests/bench/README.md. Long (minutes).
bench-scale: build test-deps
	@sh tests/bench/scale.sh $(BUILD)

# A day-long replica outage in compressed time: cairn master, a cairn and a
# redis-server replica stopped while the master writes RATE x 86400 bytes,
# then restarted under load (tests/bench/README.md). OUTAGE_ARGS=--small for
# a quick ~200 MB run; e.g. OUTAGE_ARGS="--resync partial" for +CONTINUE.
OUTAGE_ARGS ?=
bench-outage: build
	@python3 tests/bench/outage.py $(BUILD) $(OUTAGE_ARGS)

# Write throughput per command type (the outage mix's commands one type at
# a time), cairn against redis-server appendfsync always in the same run.
TYPES_ARGS ?=
bench-types: build test-deps
	@python3 tests/bench/per_type.py $(BUILD) $(TYPES_ARGS)

# Redis 7.0.15's own test suite (../shared/redis-suite) against a fresh cairn,
# each unit's count next to real Redis's. UNITS=@core, @extra or unit names.
UNITS ?= @all
compat: build
	@sh scripts/install-deps.sh --with-compat
	@sh tests/compat/run.sh $(BUILD) $(UNITS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
