# SyncWell Sim. Two commands set everything up on a fresh machine:
#   make demo   -- install, bring the embedded stack up, replay a short Nominal slice with Locust, print the gates
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

# About two minutes: stack up, 90 s of Nominal traffic at 2,000 DAU compressed 144x (~30 API requests/s; on 2 quiet
# cores api_p99 ~20 ms, manual sync p95 ~1.0 s), drain, gates, reports in runs/demo. Exit 1 means a gate failed (the
# table says which). 'swsim capacity validate runs/demo' then checks the queueing simulator against this run.
demo: $(STAMP)
	swsim load --model nominal --dau 2000 --compress 144 --duration 90 --users 50 --out runs/demo

# About 9 minutes on 2 quiet cores (the chaos catalog's short forms and the region rehearsal included).
test: $(STAMP)
	$(PYTHON) -m pytest -n auto -q

bench: $(STAMP)
	$(PYTHON) -m bench $(BENCH)

clean:
	rm -rf .swsim runs out .pytest_cache
