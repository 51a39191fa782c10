# SyncWell Sim. Two commands set everything up on a fresh machine:
#   make demo   -- install, bring the embedded stack up, drive a short burst of real syncs, print what happened
#   make test   -- install, run the whole test suite in parallel
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
STAMP := .swsim/installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	@mkdir -p .swsim
	$(PIP) install -q -e '.[test]'
	@command -v redis-server >/dev/null 2>&1 || echo "note: redis-server not on PATH; fakeredis's TCP server will be used (apt-get install redis-server for the real one)"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	swsim demo

test: $(STAMP)
	$(PYTHON) -m pytest -n auto -q

bench: $(STAMP)
	$(PYTHON) -m bench $(BENCH)

clean:
	rm -rf .swsim runs out .pytest_cache
