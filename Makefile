# flowbus: `make dev` runs it locally, `make test` tests it. Both start the
# local AWS engines (kinesis-mock and dynalite, from localstack/) themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
FUNCTIONS := publish consume replay metrics deadletter subscriptions route deliver
ENGINES   := ./localstack/engines.sh
# What the Lambda runtime needs: provided.al2023 on arm64, no RPC, stripped.
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w -buildid='
MAX_BOOTSTRAP_BYTES := 10485760
# Fuzz budgets are counts of executions, not durations: a duration races Go
# 1.26's fuzz coordinator (golang/go#75804), which then fails a healthy target
# with "context deadline exceeded" on a loaded machine. Each is about 10 s here.
FUZZTIME ?= 100000x
FUZZTIME_MATCHER ?= 3000x
# The Lambda Runtime Interface Emulator, the one SAM runs in its containers.
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
# Every target builds and tests with this toolchain (the go command fetches it from
# the module proxy once): govulncheck finds standard library vulnerabilities in
# net/http, crypto/tls and crypto/x509 of go1.26.8, fixed by go1.26.10.
export GOTOOLCHAIN := go1.26.11
# make lint: pinned linters, and the Go vulnerability database as the
# golang.org/x/vulndb module holds it (its data/osv, as of that version's date),
# because vuln.go.dev is not reachable from here or CI. VULN_DB=https://vuln.go.dev
# uses the live database where it is reachable.
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION      := v0.0.0-20261105234957-e22db6528018

.PHONY: lint load faults faults-short parked test-external all build test unit integration fuzz sizes bench dev invoke metrics rie engines engines-stop provision clean \
	$(addprefix build-,PublishFunction ConsumeFunction ReplayFunction MetricsFunction DeadLetterFunction)

all: build

## build: one arm64 bootstrap per function in bin/<function>/bootstrap
build:
	@for fn in $(FUNCTIONS); do \
		$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o bin/$$fn/bootstrap ./functions/$$fn; \
	done

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-PublishFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/publish
build-ConsumeFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/consume
build-RouteFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/route
build-DeliverFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/deliver
build-ReplayFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/replay
build-MetricsFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/metrics
build-SubscriptionsFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/subscriptions
build-DeadLetterFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/deadletter

## rie: install the pinned Lambda Runtime Interface Emulator
rie:
	@$(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

## test: unit and integration tests against the local engines, fuzzing, binary sizes, and the
## short fault suite (engines and runtime of its own in a temporary dir; about 2 min, at most 8)
test: rie
	@FLOWBUS_ENGINES_PERSIST=0 $(ENGINES) start >/dev/null
	@trap '$(ENGINES) stop >/dev/null' EXIT; \
	. localstack/.run/env; \
	export FLOWBUS_REQUIRE_ENGINES=1; \
	$(MAKE) --no-print-directory lint; \
	$(GO) test -count=1 -timeout 10m ./...; \
	$(MAKE) --no-print-directory fuzz sizes
	@$(MAKE) --no-print-directory faults-short

## lint: go vet, staticcheck and govulncheck at pinned versions, clean on the whole tree
lint:
	@$(GO) vet ./...
	@GOBIN=$(CURDIR)/.run/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@GOBIN=$(CURDIR)/.run/bin $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	.run/bin/staticcheck ./...
	@db='$(VULN_DB)'; \
	if [ -z "$$db" ]; then \
		dir=.run/vulndb/$(VULNDB_VERSION); \
		if [ ! -f $$dir/index/db.json ]; then \
			GOBIN=$(CURDIR)/.run/bin $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION); \
			src=$$(cd / && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
			rm -rf $$dir.tmp; .run/bin/indexdb -vulns "$$src/data/osv" -out $$dir.tmp; mv $$dir.tmp $$dir; \
		fi; \
		db=file://$(CURDIR)/$$dir; \
		echo "govulncheck: the Go vulnerability database as of $$(echo $(VULNDB_VERSION) | sed -E 's/^v0\.0\.0-([0-9]{4})([0-9]{2})([0-9]{2}).*/\1-\2-\3/') (golang.org/x/vulndb@$(VULNDB_VERSION)), not the live one (VULN_DB=https://vuln.go.dev for it)"; \
	fi; \
	.run/bin/govulncheck -db "$$db" ./...

## faults-short: the short fault suite, bounded: -timeout stops everything it started and fails
## after 8 min; timeout(1) is the backstop (TERM, which it handles the same way, then KILL)
faults-short: rie
	@$(GO) build -o .run/bin/faults ./infra/cmd/faults
	@timeout -k 60s 9m .run/bin/faults -short -timeout 8m

## test-external: the same tests against endpoints already in the environment,
## e.g. real LocalStack: AWS_ENDPOINT_URL=http://127.0.0.1:4566 make test-external
test-external: rie
	@test -n "$${AWS_ENDPOINT_URL:-}$${AWS_ENDPOINT_URL_KINESIS:-}" || { echo "set AWS_ENDPOINT_URL (LocalStack) or the per-service endpoint variables first" >&2; exit 2; }
	FLOWBUS_REQUIRE_ENGINES=1 $(GO) test -count=1 -timeout 10m ./...

## fuzz: a short run of every fuzz target (FUZZTIME executions each; FuzzMatcher, which builds an index per input, FUZZTIME_MATCHER)
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzScanner -fuzztime=$(FUZZTIME) ./shared/jsonscan/
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./shared/event/
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./shared/kinesisevent/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeBase64 -fuzztime=$(FUZZTIME) ./shared/kinesisevent/
	$(GO) test -run='^$$' -fuzz=FuzzSketchUnmarshal -fuzztime=$(FUZZTIME) ./shared/metrics/
	$(GO) test -run='^$$' -fuzz=FuzzParseBody -fuzztime=$(FUZZTIME) ./shared/delivery/
	$(GO) test -run='^$$' -fuzz=FuzzCompile -fuzztime=$(FUZZTIME) ./shared/pattern/
	$(GO) test -run='^$$' -fuzz=FuzzMatcher -fuzztime=$(FUZZTIME_MATCHER) ./shared/pattern/

## sizes: every bootstrap must stay under 10 MiB
sizes: build
	@for fn in $(FUNCTIONS); do \
		size=$$(stat -c %s bin/$$fn/bootstrap); \
		printf '%-10s %9d bytes (%s MiB)\n' $$fn $$size $$(awk "BEGIN{printf \"%.2f\", $$size/1048576}"); \
		if [ $$size -gt $(MAX_BOOTSTRAP_BYTES) ]; then echo "$$fn bootstrap is over 10 MiB" >&2; exit 1; fi; \
	done

## bench: the benchmarks docs/benchmarks.md records
bench:
	@FLOWBUS_ENGINES_PERSIST=0 $(ENGINES) start >/dev/null
	@trap '$(ENGINES) stop >/dev/null' EXIT; \
	. localstack/.run/env; \
	export FLOWBUS_REQUIRE_ENGINES=1; \
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 -timeout 20m ./...

## engines / engines-stop: start or stop kinesis-mock and dynalite on loopback
engines:
	@$(ENGINES) start
engines-stop:
	@$(ENGINES) stop

## provision: create the stream and table on the engines (idempotent)
provision:
	@. localstack/.run/env; $(GO) run ./infra/provision

## dev: run flowbus locally from template.yaml (engines, functions under RIE, HTTP API on :3000, Kinesis mappings)
dev: rie
	@$(GO) build -o .run/bin/dev ./infra/cmd/dev
	@if $(ENGINES) status >/dev/null 2>&1; then started=; else $(ENGINES) start >/dev/null; started=1; fi; \
	trap 'if [ -n "$$started" ]; then $(ENGINES) stop >/dev/null; fi' EXIT; \
	. localstack/.run/env; \
	.run/bin/dev $(DEV_FLAGS) || [ $$? -eq 130 ]

## load: N publishers over M workflows for a fixed time through the HTTP API, then every
## acknowledged event checked in the store; throughput and latencies. Starts its own engines
## and runtime on free ports; LOAD_URL=http://127.0.0.1:3000 loads a running make dev instead.
PUBLISHERS ?= 4
WORKFLOWS  ?= 20
DURATION   ?= 30s
BATCH      ?= 100
load: rie
	@$(GO) build -o .run/bin/load ./infra/cmd/load
	@if [ -n "$(LOAD_URL)" ]; then . localstack/.run/env; fi; \
	.run/bin/load -publishers $(PUBLISHERS) -workflows $(WORKFLOWS) -duration $(DURATION) -batch $(BATCH) $(if $(LOAD_URL),-url $(LOAD_URL)) $(LOAD_FLAGS)

## faults: every fault of docs/reliability.md against engines and a runtime of its own, publishers
## running, then the store checked against every acknowledged event; one PASS/FAIL line per fault.
## FAULTS_FLAGS=-short for a few seconds per fault, -run=poison,consume for some of them.
faults: rie
	@$(GO) build -o .run/bin/faults ./infra/cmd/faults
	@.run/bin/faults $(FAULTS_FLAGS)

## token: mint a token of make dev's local JWT issuer and print only it (default sub=flowbus-dev, the admin):
## make -s token ARGS="sub=alice groups=ops,dev scope='flowbus/publish flowbus/read' ttl=1h aud=flowbus"
.PHONY: token
token:
	@$(GO) run ./infra/cmd/token $(ARGS)

## metrics: the figures of a running make dev (add ACCEPT=text/plain for Prometheus text)
metrics:
	@tok=$${FLOWBUS_TOKEN:-$$($(GO) run ./infra/cmd/token)}; \
	curl -sf -H "Authorization: Bearer $$tok" -H 'Accept: $(or $(ACCEPT),application/json)' 'http://127.0.0.1:3000/metrics?fresh=true' || { echo "is make dev running?" >&2; exit 1; }
	@echo

## parked: list, show and resume parked workflows: make parked ARGS="list" | ARGS="show wf-1" | ARGS="resume wf-1 -skip 1"
## (against the local engines when they run, else the endpoint in the environment; FLOWBUS_TABLE defaults to flowbus-events)
parked:
	@if [ -f localstack/.run/env ] && $(ENGINES) status >/dev/null 2>&1; then . localstack/.run/env; fi; \
	FLOWBUS_TABLE=$${FLOWBUS_TABLE:-flowbus-events} $(GO) run ./infra/cmd/parked $(ARGS)

## invoke: run one function once, as sam local invoke does: make invoke FN=publish EVENT=events/publish.json
## (starts the engines for the call unless they already run)
invoke: rie
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=<file>" >&2; exit 2; }
	@$(GO) build -o .run/bin/invoke ./infra/cmd/invoke
	@if $(ENGINES) status >/dev/null 2>&1; then started=; else $(ENGINES) start >/dev/null; started=1; fi; \
	trap 'if [ -n "$$started" ]; then $(ENGINES) stop >/dev/null; fi' EXIT; \
	. localstack/.run/env; \
	.run/bin/invoke -fn $(FN) -event $(EVENT)

clean:
	rm -rf bin .aws-sam
