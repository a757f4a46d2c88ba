# memori — GNU Make + pkg-config. `make` builds build/memori; see README.md.
CC ?= cc
PKGS := libmicrohttpd jansson sqlite3
TEST_PKGS := libcurl
BUILD ?= build

CFLAGS_BASE := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-missing-field-initializers -Iinclude -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined
ifeq ($(SANITIZE),1)
  BUILD := build-san
  OPT := -O1 -g -fno-omit-frame-pointer $(SAN_FLAGS) -fno-sanitize-recover=all
  LDFLAGS += $(SAN_FLAGS)
else
  OPT := -O2 -g
endif
CFLAGS += $(CFLAGS_BASE) $(OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

LIB_SRC := $(wildcard src/util/*.c src/config/*.c src/store/*.c src/embed/*.c src/index/*.c \
	src/core/*.c src/api/*.c src/http/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/main.o

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
E2E_SRC := $(wildcard tests/e2e/test_*.c)
E2E_BIN := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(BUILD)/tests/support/test.o
E2E_SUPPORT := $(BUILD)/tests/support/http_client.o

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all run test bench clean deps deps-check format
.SECONDARY:
all: deps-check $(BUILD)/memori

# Installs missing Debian packages (build and tests) once; a stamp avoids re-checking.
deps-check:
	@scripts/install-deps.sh --check-only >/dev/null 2>&1 || scripts/install-deps.sh

deps:
	scripts/install-deps.sh

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

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmemori.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libmemori.a $(LDLIBS) \
		$(shell pkg-config --libs $(TEST_PKGS))

run: all
	./$(BUILD)/memori serve

test: all $(UNIT_BIN) $(E2E_BIN)
	@scripts/run-tests.sh $(BUILD) $(UNIT_BIN) $(E2E_BIN)

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
