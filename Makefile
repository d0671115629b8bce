# halo-forge: `make quickstart` runs the offline demo, `make test` runs the tests.
VENV ?= .venv
STAMP := $(VENV)/.halo-forge-installed

.PHONY: install quickstart test bench schema clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)
	touch $(STAMP)

quickstart: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/halo-forge quickstart

test: install
	VENV=$(VENV) bash scripts/test.sh

bench: install
	$(VENV)/bin/python bench/sft_overhead.py

schema: install
	$(VENV)/bin/python -m halo_forge.summary

clean:
	rm -rf $(VENV) outputs .pytest_cache
