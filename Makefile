# Klaxon. `make run` starts it on SQLite; `make test` runs every test.
# The SQLite driver is built with FTS5 for fast alert search.
GO      ?= go
TAGS    := sqlite_fts5
GOFLAGS := -tags=$(TAGS)
export GOFLAGS

.PHONY: run build test generate check-generated vet fuzz bench chromium icons clean

run: build
	./bin/klaxon

build: generate
	$(GO) build -o bin/klaxon ./cmd/klaxon

generate:
	$(GO) tool templ generate -log-level error

# check-generated fails when the committed *_templ.go files do not match
# their .templ sources.
check-generated:
	@$(GO) tool templ generate -log-level error
	@git diff --quiet -- '*_templ.go' || { echo "templ generate changed *_templ.go: commit the generated files"; git diff --stat -- '*_templ.go'; exit 1; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); exit 1; }
	$(GO) vet ./...

# test runs every test: unit, router, intake, and real-browser tests (which
# need Chromium: installed here when missing). Set KLAXON_TEST_POSTGRES_URL
# to run the database tests against PostgreSQL as well.
test: generate chromium vet
	$(GO) test -count=1 -timeout 30m ./...

chromium:
	@sh .ci/ensure-chromium.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseJSON -fuzztime 30s ./web/mattermost
	$(GO) test -run '^$$' -fuzz FuzzParseForm -fuzztime 30s ./web/mattermost
	$(GO) test -run '^$$' -fuzz FuzzMaskToken -fuzztime 30s ./models
	$(GO) test -run '^$$' -fuzz FuzzUrgencyFromText -fuzztime 30s ./models

# bench prints the figures: the writer, the intake on SQLite, PostgreSQL
# and two nodes (a throwaway PostgreSQL is started when one is installed),
# and the alert list at 1,000 and 1,000,000 alerts.
bench: generate
	$(GO) test -run '^$$' -bench 'Writer$$' -benchtime 5s ./models
	$(GO) test -run '^$$' -bench WriteBatch -benchtime 400x ./models
	bash .ci/with-postgres.sh $(GO) run ./cmd/klaxon-bench

icons:
	cd $$(mktemp -d) && npm pack simple-icons@16.37.0 >/dev/null && tar xzf simple-icons-*.tgz && \
	  sed 's|<svg role="img" |<svg role="img" fill="#0058CC" |' package/icons/mattermost.svg > $(CURDIR)/static/mattermost.svg

clean:
	rm -rf bin data
