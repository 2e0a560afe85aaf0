# edgebench: make install && make bench ; make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEVICE ?= host
SUITE ?=
OUT ?= out
QUIET_WAIT ?= 60
ARCH := $(shell uname -m)
EXTRAS := onnxruntime,openvino,litert,parquet,quality,fleet,dev
ifeq ($(ARCH),x86_64)
EXTRAS := $(EXTRAS),convert
endif

.PHONY: install system-deps bench bench-pytest report test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

bench: install
	@# edgebench run exits 1 when some runs failed: those are results (with reasons in the table and the
	@# report), not a broken bench. Bad input (2), a wrong DEVICE (2) or Ctrl-C (130) still stop make.
	@# Like the thermal cool-down: wait (at most QUIET_WAIT s) for other processes to go idle, then list
	@# what is still there that would make the numbers unreliable (advice only; the bench goes on).
	@$(BIN)/edgebench doctor --wait-quiet $(QUIET_WAIT) --out $(OUT)
	@$(BIN)/edgebench run $(if $(SUITE),$(SUITE),suites/default.yaml) --device $(DEVICE) --out $(OUT) \
		--report $(OUT)/report.html; rc=$$?; \
	if [ $$rc -eq 1 ]; then echo "make bench: some runs failed; see their reasons above and in the report" >&2; exit 0; fi; \
	exit $$rc

bench-pytest: install
	@# the zoo through pytest-benchmark (quick suite; EDGEBENCH_FULL=1 for the full one); extra flags in PYTEST_ARGS
	EDGEBENCH_OUT=$(OUT) EDGEBENCH_DEVICE=$(DEVICE) $(BIN)/python -m pytest benchmarks --benchmark-only $(PYTEST_ARGS)

report: install
	$(BIN)/edgebench report --out $(OUT) -o $(OUT)/report.html

test: install
	@# pytest exits 5 when it collects nothing: that is a broken suite, not a pass.
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): the suite is broken" >&2; fi; exit $$rc

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(OUT) .pytest_cache
