# eJournal: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := identity journal messaging reports backup
PROTOS := $(wildcard proto/ejournal/*/v1/*.proto)

.PHONY: run test test-lane-platform test-lane-services test-fuzz test-faults venv proto browser-deps migrate reports-rebuild services-up test-services test-platform test-sqlite bench bench-diary bench-marks bench-reports bench-notifications bench-login bench-portal bench-backup bench-grid bench-scale clean

## make run: set up, migrate, start every service and the gateway, seed the demo school
run: venv proto
	bash deploy/local/ensure-services.sh rabbitmq
	$(PY) -m localrun run

## make test: set up, start RabbitMQ/PostgreSQL if down (promtool for the alert rules), run the whole suite:
## two lanes side by side (the platform tests wait on processes and the browser more than they compute),
## each suite's output printed whole when it ends; the first failure fails the run
test: venv proto browser-deps
	bash deploy/local/ensure-services.sh rabbitmq postgresql promtool sshd
	$(MAKE) --no-print-directory -j2 --output-sync=recurse test-lane-platform test-lane-services

test-lane-platform:
	$(MAKE) --no-print-directory test-platform

test-lane-services:
	$(MAKE) --no-print-directory test-services
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-faults

# nameko services run their tests under eventlet's monkey patching...
test-services:
	EJOURNAL_TEST_EVENTLET=1 $(PY) -m pytest -q -p no:cacheprovider $(wildcard libs/tests $(addprefix services/,$(addsuffix /tests,$(SERVICES))))

# ...the gateway, the kernel and the cross-service tests without it (gRPC clients)...
test-platform:
	$(PY) -m pytest -q -p no:cacheprovider $(wildcard services/gateway/tests tests)

# ...and the end-to-end slice, the access attacks and the access matrix once more on
# a platform on SQLite files in its data dir, the way `make run` starts it.
SQLITE_E2E := tests/test_e2e_slice.py tests/test_e2e_access.py tests/test_access_matrix.py
test-sqlite:
	EJOURNAL_E2E_BACKEND=sqlite $(PY) -m pytest -q -p no:cacheprovider $(SQLITE_E2E)

## make test-fuzz: a bounded schemathesis run against /api/v1/openapi.json of a platform on PostgreSQL
## (every role's token; no 5xx, every answer as documented). EJOURNAL_FUZZ_EXAMPLES=20 per operation, about 3 minutes.
test-fuzz: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m pytest -q -p no:cacheprovider tests/fuzz_api.py

## make test-faults: the platform on its own RabbitMQ node and PostgreSQL cluster (temporary, own ports)
## under a careful client posting 3,000+ marks, through broker and database restarts, kill -9 of every
## process and a consumer's queue filled while it is down; prints the fault table. About 5 minutes.
test-faults: venv proto
	$(PY) -m pytest -q -p no:cacheprovider tests/faults/faults_suite.py

venv: $(VENV)/.installed

# The browser tests: Debian's Chromium (Playwright drives it; no browser download)
# and axe-core from the npm registry for the accessibility checks.
AXE_VERSION := 4.14.1
AXE := build/node/node_modules/axe-core/axe.min.js
browser-deps: $(AXE)
	bash deploy/local/ensure-services.sh chromium

$(AXE):
	bash deploy/local/ensure-services.sh chromium
	mkdir -p build/node
	npm install --prefix build/node --no-audit --no-fund --no-package-lock --silent axe-core@$(AXE_VERSION)
	test -f $@

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools<82' wheel
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/ejournal.pth", "w").write("\n".join(sys.argv[1:]) + "\n")' \
	  $(CURDIR)/libs $(CURDIR)/build/gen $(CURDIR)/deploy $(addprefix $(CURDIR)/services/,$(SERVICES) gateway)
	touch $@

proto: build/gen/.stamp

build/gen/.stamp: $(PROTOS) $(VENV)/.installed
	rm -rf build/gen && mkdir -p build/gen
	$(PY) -m grpc_tools.protoc -Iproto --python_out=build/gen --grpc_python_out=build/gen $(PROTOS)
	touch $@

migrate: venv proto
	$(PY) -m kernel.migrate

## make reports-rebuild: empty reports' projections and refill them from journal's and identity's
## Export streams (their gRPC processes must run: `make run`); settings from the environment as `make run`
reports-rebuild: venv proto
	$(PY) -m reports.rebuild

bench: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.diary

bench-marks: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.marks

## make bench-scale: one instance against two of the write path (gateway, journal) and of the consumers (messaging, reports)
bench-scale: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.scale

## make bench-reports: R-R6 progress sheet (JSON vs one SQL GROUP BY), a class's PDF, the school's XLSX (time, peak memory), mark_posted projection vs raw inserts
bench-reports: venv proto
	bash deploy/local/ensure-services.sh postgresql
	$(PY) -m bench.reports

## make bench-backup: backup and restore of a generated school (1,000 students, a year of marks) vs tar | zstd
bench-backup: venv proto
	$(PY) -m bench.backup

## make bench-notifications: mark posted -> notification stored through RabbitMQ vs the broker's own rate
bench-notifications: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.notifications

bench-login: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.login

## make bench-portal: the journal grid and diary pages against the API calls serving the same data
bench-portal: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.portal

## make bench-grid: the class journal grid (30 x 40 and 8 x 22) against a bare Flask+SQLAlchemy endpoint
bench-grid: venv proto
	bash deploy/local/ensure-services.sh rabbitmq postgresql
	$(PY) -m bench.grid

clean:
	rm -rf build .venv
