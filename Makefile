# memori — GNU Make + pkg-config. `make` builds build/memori; see README.md.
CC ?= cc
PKGS := jansson sqlite3 libpq libcurl hiredis libjwt libcrypto
TEST_PKGS := libcurl libcrypto
BUILD ?= build

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-missing-field-initializers -Iinclude -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined
ifeq ($(TSAN),1)
  # ThreadSanitizer for the concurrent parts (index, caches, store pool): `make test TSAN=1`.
  BUILD := build-tsan
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
  LDFLAGS += -fsanitize=thread
else ifeq ($(SANITIZE),1)
  BUILD := build-san
  OPT := -O1 -g -fno-omit-frame-pointer $(SAN_FLAGS) -fno-sanitize-recover=all
  LDFLAGS += $(SAN_FLAGS)
else
  OPT := -O2 -g
endif
CFLAGS += $(CFLAGS_BASE) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libstemmer (Snowball) and libpg_query (Debian's libpg-query-dev) ship no pkg-config file:
# linked by name. libpg_query's protobuf-c tree needs libprotobuf-c-dev's header only (the
# code is inside libpg_query).
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstemmer -lpg_query -lpthread -lm

LIB_SRC := $(wildcard src/util/*.c src/config/*.c src/store/*.c src/embed/*.c src/index/*.c \
	src/lexical/*.c src/core/*.c src/api/*.c src/http/*.c src/auth/*.c src/sql/*.c src/context/*.c \
	src/obs/*.c src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/main.o

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
E2E_SRC := $(wildcard tests/e2e/test_*.c)
E2E_BIN := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(BUILD)/tests/support/test.o $(BUILD)/tests/support/fake_openai.o \
	$(BUILD)/tests/support/redis_server.o $(BUILD)/tests/support/pg_server.o \
	$(BUILD)/tests/support/faulty_store.o
E2E_SUPPORT := $(BUILD)/tests/support/http_client.o

# The built-in model (docs/embeddings.md): made once from Debian's WordNet and
# FOLDOC, deterministically from MODEL_SEED; shared by every build flavour.
MODEL := models/memori-wordnet-v1.bin
MODEL_SEED := 20261125
TOOLS := build-tools
TOOL_FLAGS := -std=c11 -D_DEFAULT_SOURCE -O3 -Wall -Wextra -Werror -Iinclude
TOOL_DEPS := src/embed/tokenize.c src/util/util.c src/util/err.c
WORDNET_DIR := /usr/share/wordnet
FOLDOC := /usr/share/dictd/foldoc.dict.dz

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all run test bench clean distclean deps deps-check test-deps-check bench-deps-check \
	format format-check model fuzz docs npm
.SECONDARY:
all: deps-check $(BUILD)/memori $(MODEL) docs

# GET /docs: npm's swagger-ui-dist (and, for the tests, playwright-core for the browser and
# @modelcontextprotocol/sdk, the MCP client tests/mcp/ drives POST /mcp with) pinned by
# package-lock.json, installed with `npm ci` into build/npm (scripts stay off: swagger-ui-dist's
# @scarf/scarf would only report the install), then Swagger UI's two files and ours (web/)
# copied beside the binary, where `memori serve` looks (MEMORI_DOCS_DIR overrides).
NPM_DIR := build/npm
NPM_STAMP := $(NPM_DIR)/node_modules/.package-lock.json
DOCS_DIR := $(BUILD)/docs
DOCS_FILES := $(DOCS_DIR)/index.html $(DOCS_DIR)/init.js $(DOCS_DIR)/swagger-ui.css \
	$(DOCS_DIR)/swagger-ui-bundle.js
# GET /ui: the dashboard's own files (web/ui/, no npm package), under the same directory.
UI_FILES := $(patsubst web/%,$(DOCS_DIR)/%,$(wildcard web/ui/*))

docs: $(DOCS_FILES) $(UI_FILES)
npm: $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || scripts/install-deps.sh
	@mkdir -p $(NPM_DIR)
	cp package.json package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(DOCS_DIR)/%: web/%
	@mkdir -p $(@D)
	cp $< $@

$(DOCS_DIR)/swagger-ui%: $(NPM_STAMP)
	@mkdir -p $(@D)
	cp $(NPM_DIR)/node_modules/swagger-ui-dist/swagger-ui$* $@

# Installs missing Debian packages (build and tests) once; a stamp avoids re-checking.
deps-check:
	@scripts/install-deps.sh --check-only >/dev/null 2>&1 || scripts/install-deps.sh

deps:
	scripts/install-deps.sh

# FAISS, for bench_scan's comparison only.
bench-deps-check:
	@dpkg-query -W -f='$${Status}' libfaiss-dev 2>/dev/null | grep -q "install ok installed" || \
		scripts/install-test-deps.sh --with-faiss

# The PostgreSQL server and pgvector, for the tests and benchmarks only.
test-deps-check:
	@scripts/install-test-deps.sh --check-only >/dev/null 2>&1 || scripts/install-test-deps.sh

$(BUILD)/memori: $(MAIN_OBJ) $(BUILD)/libmemori.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libmemori.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/support/%.o: tests/support/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags $(TEST_PKGS)) -Itests/support -c -o $@ $<

$(BUILD)/tests/test_%: tests/unit/test_%.c $(TEST_SUPPORT) $(BUILD)/libmemori.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/support -Itests/unit $(LDFLAGS) -o $@ $< $(TEST_SUPPORT) \
		$(BUILD)/libmemori.a $(LDLIBS)

$(BUILD)/tests/test_e2e_%: tests/e2e/test_e2e_%.c $(TEST_SUPPORT) $(E2E_SUPPORT) $(BUILD)/libmemori.a | $(BUILD)/memori
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(TEST_SUPPORT) $(E2E_SUPPORT) \
		$(BUILD)/libmemori.a $(LDLIBS) $(shell pkg-config --libs $(TEST_PKGS))

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmemori.a $(TEST_SUPPORT) $(E2E_SUPPORT)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(TEST_SUPPORT) $(E2E_SUPPORT) \
		$(BUILD)/libmemori.a $(LDLIBS) \
		$(shell pkg-config --libs $(TEST_PKGS))

# bench_scan also measures FAISS's IndexFlatIP when libfaiss-dev is installed
# (`make bench` installs it): a C++ shim, the benchmark's only C++.
ifneq ($(wildcard /usr/include/faiss/IndexFlat.h),)
$(BUILD)/bench/faiss_flat.o: bench/faiss_flat.cpp bench/faiss_flat.h
	@mkdir -p $(@D)
	g++ -O2 -g -Wall -Wextra -Werror -fopenmp -c -o $@ $<

$(BUILD)/bench/bench_scan: bench/bench_scan.c $(BUILD)/bench/faiss_flat.o $(BUILD)/libmemori.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DMEMORI_BENCH_FAISS $(LDFLAGS) -o $@ $< $(BUILD)/bench/faiss_flat.o \
		$(BUILD)/libmemori.a $(LDLIBS) -lfaiss -lblas -llapack -fopenmp -lstdc++
endif

$(TOOLS)/%: tools/%.c $(TOOL_DEPS) include/memori/model_file.h
	@mkdir -p $(@D)
	$(CC) $(TOOL_FLAGS) -o $@ $< $(TOOL_DEPS) -lm

model: $(MODEL)

$(MODEL): $(TOOLS)/mkcorpus $(TOOLS)/mkmodel
	@mkdir -p $(@D)
	@echo "building the embedding model (a few minutes, once)"
	zcat $(FOLDOC) > $@.foldoc.txt
	$(TOOLS)/mkcorpus $(WORDNET_DIR) $(MODEL_SEED) $@.foldoc.txt > $@.corpus.txt
	$(TOOLS)/mkmodel $@.corpus.txt $@.tmp $(MODEL_SEED)
	rm -f $@.foldoc.txt $@.corpus.txt
	mv $@.tmp $@

# libFuzzer targets (clang): each runs FUZZ_SECONDS over its seed corpus in
# tests/fuzz/corpus/; a crash fails the run and leaves its input in build-fuzz/.
FUZZ_DIR := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -std=c11 -D_DEFAULT_SOURCE -O1 -g -Iinclude -Wall -Wextra -Werror \
	-Wno-missing-field-initializers \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

# One rule per target, so `make -j2 fuzz` runs two at once (each single-threaded, on a core of
# its own: the same FUZZ_SECONDS of fuzzing each; five targets take three rounds, not five). Each
# prints its lines when done, so parallel runs do not interleave.
FUZZ_RUNS := $(FUZZ_BIN:$(FUZZ_DIR)/%=fuzz-run-%)
.PHONY: $(FUZZ_RUNS)
fuzz: deps-check $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-run-%: $(FUZZ_DIR)/%
	@n=$*; t=$(FUZZ_DIR)/$$n; mkdir -p $(FUZZ_DIR)/corpus/$$n; \
	if ! $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -timeout=10 \
		-artifact_prefix=$(FUZZ_DIR)/$$n- $(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n \
		> $(FUZZ_DIR)/$$n.log 2>&1; then \
		tail -40 $(FUZZ_DIR)/$$n.log; echo "fuzz: $$n FAILED"; exit 1; fi; \
	echo "== $$n: $(FUZZ_SECONDS) s"; \
	grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_DIR)/$$n.log

run: all
	./$(BUILD)/memori serve

# The e2e suites that run a second time against PostgreSQL (crash is SQLite's own).
E2E_PG_BIN := $(BUILD)/tests/test_e2e_api $(BUILD)/tests/test_e2e_auth $(BUILD)/tests/test_e2e_limits \
	$(BUILD)/tests/test_e2e_metrics \
	$(BUILD)/tests/test_e2e_schema $(BUILD)/tests/test_e2e_introspect $(BUILD)/tests/test_e2e_ranking \
	$(BUILD)/tests/test_e2e_context $(BUILD)/tests/test_e2e_ui \
	$(BUILD)/tests/test_e2e_hygiene $(BUILD)/tests/test_e2e_mcp
TSAN_TESTS := $(BUILD)/tests/test_index $(BUILD)/tests/test_snapshot $(BUILD)/tests/test_cache $(BUILD)/tests/test_store_sqlite \
	$(BUILD)/tests/test_group_commit \
	$(BUILD)/tests/test_store_postgres $(BUILD)/tests/test_contract_cache \
	$(BUILD)/tests/test_contract_embed $(BUILD)/tests/test_metrics $(BUILD)/tests/test_access

# Seconds one test binary may run before scripts/run-tests.sh kills it and counts it failed:
# the slowest takes ~10 s plain; the sanitizers are several times slower.
ifneq ($(TSAN)$(SANITIZE),)
TEST_TIMEOUT ?= 900
else
TEST_TIMEOUT ?= 300
endif

ifeq ($(TSAN),1)
test: all test-deps-check $(TSAN_TESTS)
	@TSAN_OPTIONS=halt_on_error=1 TEST_TIMEOUT=$(TEST_TIMEOUT) scripts/run-tests.sh $(BUILD) \
		$(TSAN_TESTS)
else
test: all test-deps-check $(UNIT_BIN) $(E2E_BIN)
	@TEST_TIMEOUT=$(TEST_TIMEOUT) scripts/run-tests.sh $(BUILD) $(UNIT_BIN) $(E2E_BIN) \
		$(addprefix postgres:,$(E2E_PG_BIN))
endif

bench: all test-deps-check bench-deps-check $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# clang-format 14 (Debian 12's), the version the tree is formatted with: others differ in details.
CLANG_FORMAT ?= $(shell command -v clang-format-14 2>/dev/null || echo clang-format)

format:
	$(CLANG_FORMAT) -i $$(git ls-files '*.c' '*.h')

# Fails, listing them, when clang-format (the repo's .clang-format) would change tracked C files.
format-check:
	@$(CLANG_FORMAT) --version 2>/dev/null | grep -q 'version 14\.' || \
		{ echo "format-check: needs clang-format 14 (apt-get install clang-format-14)"; exit 1; }
	@files=$$(git ls-files '*.c' '*.h'); \
	out=$$($(CLANG_FORMAT) --dry-run --Werror $$files 2>&1); rc=$$?; \
	bad=$$(echo "$$out" | sed -nE 's/^([^:]+):[0-9]+:[0-9]+: (warning|error): .*/\1/p' | sort -u); \
	if [ -n "$$bad" ]; then \
		echo "format-check: $$(echo "$$bad" | wc -l) of $$(echo "$$files" | wc -w) files differ" \
			"from .clang-format (make format fixes them):"; \
		echo "$$bad" | sed 's/^/    /'; exit 1; \
	elif [ $$rc -ne 0 ]; then \
		echo "$$out"; echo "format-check: clang-format failed ($$rc)"; exit 1; \
	fi; \
	echo "format-check: $$(echo "$$files" | wc -w) files formatted"

clean:
	rm -rf build build-san build-tsan build-tools build-fuzz

# Also removes the model, which takes minutes to rebuild.
distclean: clean
	rm -rf models

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
