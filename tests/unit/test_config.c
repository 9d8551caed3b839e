/* test_config.c - pipemend.yaml as a user writes it: a full file parses into
 * the right structs, and each mistake a person can make is refused with the
 * exact message (file:line:col) and hint they will read.
 *
 * Every test runs in a fresh temporary directory, so "pipemend.yaml" in the
 * messages is the file the test just wrote there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "pipeline/config.h"

static char tmpdir[64];
static char olddir[4096];

static int enter_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pm_config_XXXXXX");
    if (!mkdtemp(tmpdir) || !getcwd(olddir, sizeof olddir) || chdir(tmpdir) != 0)
        return -1;
    return 0;
}

static int leave_tmpdir(void **state)
{
    unlink("pipemend.yaml");
    unlink("other.yaml");
    if (chdir(olddir) != 0)
        return -1;
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static pm_config *load_ok(const char *yaml)
{
    write_file("pipemend.yaml", yaml);
    pm_config *cfg = NULL;
    pm_err err = {0};
    pm_code rc = config_load("pipemend.yaml", &cfg, &err);
    if (rc != PM_OK)
        fail_msg("config_load failed: %s (hint: %s)", err.msg, err.hint);
    assert_non_null(cfg);
    return cfg;
}

/* Loads yaml, expects PM_ERR_CONFIG with exactly msg (and hint, when not
 * NULL). */
static void expect_error(const char *yaml, const char *msg, const char *hint)
{
    write_file("pipemend.yaml", yaml);
    pm_config *cfg = (pm_config *)1;
    pm_err err = {0};
    assert_int_equal(config_load("pipemend.yaml", &cfg, &err), PM_ERR_CONFIG);
    assert_null(cfg);
    assert_int_equal(err.code, PM_ERR_CONFIG);
    assert_string_equal(err.msg, msg);
    if (hint)
        assert_string_equal(err.hint, hint);
}

static const contract_rule *rule(const pm_contract *c, const char *name)
{
    for (size_t i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].name, name) == 0)
            return &c->rules[i];
    fail_msg("no rule %s", name);
    return NULL;
}

static const char sample[] = "db: sqlite:warehouse.db\n"
                             "defaults:\n"
                             "  batch_size: 500\n"
                             "  sample_size: 50\n"
                             "  max_line_bytes: 1048576\n"
                             "  max_depth: 32\n"
                             "  volume_window: 5\n"
                             "  volume_ratio: 0.5\n"
                             "pipelines:\n"
                             "  - name: orders\n"
                             "    source: data/orders/*.ndjson\n"
                             "    format: ndjson\n"
                             "    table: orders\n"
                             "    owner: data-platform@example.com\n"
                             "    policy: review\n"
                             "    contract:\n"
                             "      unique: [order_id]\n"
                             "      columns:\n"
                             "        amount: {min: 0, max: 100000.5}\n"
                             "        status: {allowed: [new, paid, shipped], not_null: true}\n"
                             "        Customer Email: {regex: '^[^@]+@[^@]+$', max_length: 254}\n"
                             "        created: {min: 2020-01-01, not_null: false}\n"
                             "  - name: users\n"
                             "    source: \"-\"\n"
                             "    table: users\n"
                             "    format: csv\n"
                             "tables:\n"
                             "  events:\n"
                             "    contract:\n"
                             "      unique: Event ID\n"
                             "      columns:\n"
                             "        kind: {allowed: [1, 2.5, click]}\n"
                             "  orders:\n"
                             "    contract: {columns: {x: {not_null: true}}}\n"
                             "  audit_copy:\n";

static void test_full_sample(void **state)
{
    pm_config *cfg = load_ok(sample);
    assert_string_equal(cfg->path, "pipemend.yaml");
    assert_string_equal(cfg->db, "sqlite:warehouse.db");
    assert_int_equal(cfg->batch_size, 500);
    assert_int_equal(cfg->sample_size, 50);
    assert_int_equal(cfg->max_line_bytes, 1048576);
    assert_int_equal(cfg->max_depth, 32);
    assert_int_equal(cfg->volume_window, 5);
    assert_true(cfg->volume_ratio == 0.5);

    assert_int_equal(cfg->npipelines, 2);
    const pm_pipeline_cfg *o = &cfg->pipelines[0];
    assert_string_equal(o->name, "orders");
    assert_string_equal(o->source, "data/orders/*.ndjson");
    assert_string_equal(o->table, "orders");
    assert_string_equal(o->owner, "data-platform@example.com");
    assert_true(o->has_policy);
    assert_int_equal(o->policy.mode, MODE_REVIEW);
    assert_int_equal(o->policy.on_incident, ON_INCIDENT_CONTINUE);
    for (int k = 0; k < OP_KIND_COUNT; k++)
        assert_int_equal(o->policy.override[k], -1);
    assert_true(o->has_format);
    assert_int_equal(o->format, PM_FMT_NDJSON);

    const pm_contract *c = o->contract;
    assert_non_null(c);
    assert_string_equal(c->table, "orders");
    /* In the order written; not_null: false adds no rule. */
    static const char *const names[] = {"unique",
                                        "amount.min",
                                        "amount.max",
                                        "status.allowed",
                                        "status.not_null",
                                        "customer_email.regex",
                                        "customer_email.max_length",
                                        "created.min"};
    assert_int_equal(c->nrules, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(c->rules[i].name, names[i]);

    const contract_rule *u = contract_unique(c);
    assert_ptr_equal(u, &c->rules[0]);
    assert_int_equal(u->kind, RULE_UNIQUE);
    assert_null(u->column);
    assert_int_equal(u->nkey, 1);
    assert_string_equal(u->key[0], "order_id");

    const contract_rule *r = rule(c, "amount.min");
    assert_int_equal(r->kind, RULE_MIN);
    assert_string_equal(r->column, "amount");
    assert_string_equal(r->text, "0");
    assert_true(r->num == 0);
    r = rule(c, "amount.max");
    assert_int_equal(r->kind, RULE_MAX);
    assert_string_equal(r->text, "100000.5");
    assert_true(r->num == 100000.5);
    r = rule(c, "created.min");
    assert_string_equal(r->text, "2020-01-01");
    assert_true(isnan(r->num));

    r = rule(c, "status.allowed");
    assert_int_equal(r->kind, RULE_ALLOWED);
    assert_int_equal(r->nallowed, 3);
    assert_string_equal(r->allowed[0], "new");
    assert_string_equal(r->allowed[2], "shipped");
    assert_int_equal(rule(c, "status.not_null")->kind, RULE_NOT_NULL);

    r = rule(c, "customer_email.regex");
    assert_int_equal(r->kind, RULE_REGEX);
    assert_string_equal(r->column, "customer_email");
    assert_string_equal(r->text, "^[^@]+@[^@]+$");
    assert_true(
        contract_rule_holds(r, &(pm_cell){.kind = PM_CELL_TEXT, .s = "a@b", .len = 3}, NULL, 0));
    assert_false(
        contract_rule_holds(r, &(pm_cell){.kind = PM_CELL_TEXT, .s = "ab", .len = 2}, NULL, 0));
    r = rule(c, "customer_email.max_length");
    assert_int_equal(r->kind, RULE_MAX_LENGTH);
    assert_int_equal(r->max_length, 254);

    const pm_pipeline_cfg *us = config_pipeline(cfg, "users");
    assert_ptr_equal(us, &cfg->pipelines[1]);
    assert_string_equal(us->source, "-");
    assert_false(us->has_policy);
    assert_int_equal(us->policy.mode, MODE_AUTO);
    assert_int_equal(us->policy.override[OP_ADD_COLUMN], -1);
    assert_null(us->owner);
    assert_null(us->contract);
    assert_true(us->has_format);
    assert_int_equal(us->format, PM_FMT_CSV);
    assert_null(config_pipeline(cfg, "nope"));

    /* tables: section; an entry with nothing under it has no contract, and
     * the pipeline's contract for orders wins over the tables: one. */
    assert_int_equal(cfg->ncontracts, 2);
    assert_string_equal(cfg->contracts[1].table, "orders");
    assert_string_equal(cfg->contracts[1].rules[0].name, "x.not_null");
    const pm_contract *ev = config_contract(cfg, "events");
    assert_ptr_equal(ev, &cfg->contracts[0]);
    assert_string_equal(ev->table, "events");
    assert_int_equal(ev->nrules, 2);
    assert_string_equal(contract_unique(ev)->key[0], "event_id");
    r = rule(ev, "kind.allowed");
    assert_int_equal(r->nallowed, 3);
    assert_string_equal(r->allowed[1], "2.5");
    assert_ptr_equal(config_contract(cfg, "orders"), o->contract);
    assert_null(config_contract(cfg, "users"));
    assert_null(config_contract(cfg, "audit_copy"));
    config_free(cfg);
}

static void test_defaults(void **state)
{
    pm_config *cfg = load_ok("pipelines:\n  - {name: a, source: a.csv, table: a}\n");
    assert_null(cfg->db);
    assert_int_equal(cfg->batch_size, 5000);
    assert_int_equal(cfg->sample_size, 1000);
    assert_int_equal(cfg->max_line_bytes, 16 * 1024 * 1024);
    assert_int_equal(cfg->max_depth, 64);
    assert_int_equal(cfg->volume_window, 10);
    assert_true(cfg->volume_ratio == 0.2);
    assert_false(cfg->pipelines[0].has_format);
    assert_null(cfg->pipelines[0].contract);
    config_free(cfg);

    /* An empty file (or one of comments) is all defaults, from that file. */
    cfg = load_ok("# nothing yet\n");
    assert_string_equal(cfg->path, "pipemend.yaml");
    assert_int_equal(cfg->npipelines, 0);
    assert_int_equal(cfg->batch_size, 5000);
    assert_int_equal(cfg->pg_reconnect_seconds, 60);
    config_free(cfg);

    cfg = load_ok("postgres:\n  reconnect_seconds: 300\n");
    assert_int_equal(cfg->pg_reconnect_seconds, 300);
    config_free(cfg);
}

static void test_jsonl_and_quoted_numbers(void **state)
{
    pm_config *cfg = load_ok("defaults: {batch_size: \"2000\"}\n"
                             "pipelines:\n"
                             "  - {name: a, source: a.log, table: a, format: jsonl}\n");
    assert_int_equal(cfg->batch_size, 2000);
    assert_true(cfg->pipelines[0].has_format);
    assert_int_equal(cfg->pipelines[0].format, PM_FMT_NDJSON);
    config_free(cfg);
}

static void test_default_path(void **state)
{
    pm_config *cfg = NULL;
    pm_err err = {0};
    unlink("pipemend.yaml");
    assert_int_equal(config_load(NULL, &cfg, &err), PM_OK);
    assert_null(cfg->path);
    assert_int_equal(cfg->batch_size, 5000);
    assert_int_equal(cfg->npipelines, 0);
    assert_null(config_contract(cfg, "orders"));
    config_free(cfg);

    write_file("pipemend.yaml", "db: sqlite:here.db\n");
    assert_int_equal(config_load(NULL, &cfg, &err), PM_OK);
    assert_string_equal(cfg->path, "pipemend.yaml");
    assert_string_equal(cfg->db, "sqlite:here.db");
    config_free(cfg);

    /* A file the user named must exist. */
    cfg = (pm_config *)1;
    assert_int_equal(config_load("other.yaml", &cfg, &err), PM_ERR_CONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "other.yaml: cannot open: No such file or directory");
    config_free(NULL);
}

static void test_unknown_keys(void **state)
{
    expect_error("pipelines:\n"
                 "  - name: orders\n"
                 "    source: o.ndjson\n"
                 "    table: orders\n"
                 "    contract:\n"
                 "      colums:\n"
                 "        amount: {min: 0}\n",
                 "pipemend.yaml:6:7: unknown key \"colums\" in contract of pipeline \"orders\"",
                 "did you mean \"columns\"? valid keys: unique, columns");
    /* The pipeline is named even when name: comes after the bad key. */
    expect_error("pipelines:\n"
                 "  - tabel: orders\n"
                 "    name: orders\n",
                 "pipemend.yaml:2:5: unknown key \"tabel\" in pipeline \"orders\"",
                 "did you mean \"table\"? valid keys: name, source, format, table, owner, "
                 "policy, contract, agent, schedule, timezone, every, watch, review, delimiter, "
                 "encoding, on_rewrite");
    expect_error("pipelines:\n"
                 "  - source: x\n"
                 "  - bogus: 1\n",
                 "pipemend.yaml:2:5: missing key \"name\" in pipeline #1",
                 "every pipeline needs name, source and table");
    expect_error(
        "pipeline:\n  - name: x\n", "pipemend.yaml:1:1: unknown key \"pipeline\" at the top level",
        "did you mean \"pipelines\"? valid keys: db, defaults, pipelines, tables, audit_anchor, "
        "agent, serve, notify, audit_key_env, users_file, postgres");
    expect_error(
        "defaults:\n  batchsize: 5\n", "pipemend.yaml:2:3: unknown key \"batchsize\" in defaults",
        "did you mean \"batch_size\"? valid keys: batch_size, sample_size, "
        "max_line_bytes, max_depth, volume_window, volume_ratio, promote_after, last_line_wait");
    expect_error("tables:\n"
                 "  events:\n"
                 "    contract:\n"
                 "      columns:\n"
                 "        amount: {mn: 0}\n",
                 "pipemend.yaml:5:18: unknown key \"mn\" in column \"amount\" of contract of "
                 "table \"events\"",
                 "did you mean \"min\"? valid keys: not_null, min, max, regex, allowed, "
                 "max_length");
    expect_error("tables:\n  events:\n    contracts: {}\n",
                 "pipemend.yaml:3:5: unknown key \"contracts\" in table \"events\"",
                 "did you mean \"contract\"? valid keys: contract, policy");
    expect_error("db: a\nxyz: 1\n", "pipemend.yaml:2:1: unknown key \"xyz\" at the top level",
                 "valid keys: db, defaults, pipelines, tables, audit_anchor, agent, serve, notify, "
                 "audit_key_env, users_file, postgres");
    expect_error("postgres:\n  reconect_seconds: 5\n",
                 "pipemend.yaml:2:3: unknown key \"reconect_seconds\" in postgres",
                 "did you mean \"reconnect_seconds\"? valid keys: reconnect_seconds");
}

static void test_wrong_types(void **state)
{
    expect_error(
        "defaults:\n  batch_size: abc\n",
        "pipemend.yaml:2:15: batch_size in defaults must be a positive integer up to 1000000, got "
        "\"abc\"",
        NULL);
    expect_error(
        "defaults:\n  batch_size: -5\n",
        "pipemend.yaml:2:15: batch_size in defaults must be a positive integer up to 1000000, got "
        "\"-5\"",
        NULL);
    expect_error(
        "defaults:\n  batch_size: 0\n",
        "pipemend.yaml:2:15: batch_size in defaults must be a positive integer up to 1000000, got "
        "\"0\"",
        NULL);
    expect_error(
        "defaults:\n  max_depth: [1]\n",
        "pipemend.yaml:2:14: max_depth in defaults must be a positive integer up to 10000, got a "
        "list",
        NULL);
    expect_error("defaults:\n  volume_ratio: 2\n",
                 "pipemend.yaml:2:17: volume_ratio in defaults must be a number between 0 and "
                 "1, got \"2\"",
                 NULL);
    expect_error("defaults: 5\n", "pipemend.yaml:1:11: defaults must be a mapping, got \"5\"",
                 NULL);
    expect_error("db: [a]\n", "pipemend.yaml:1:5: db must be a non-empty string, got a list", NULL);
    expect_error("- a\n- b\n", "pipemend.yaml:1:1: the file must be a mapping, got a list",
                 "valid top-level keys: db, defaults, pipelines, tables, audit_anchor, agent, "
                 "serve, notify, audit_key_env, users_file, postgres");
    expect_error("postgres:\n  reconnect_seconds: soon\n",
                 "pipemend.yaml:2:22: reconnect_seconds in postgres must be a positive integer up "
                 "to 86400, got \"soon\"",
                 NULL);
    expect_error("postgres: 60\n", "pipemend.yaml:1:11: postgres must be a mapping, got \"60\"",
                 NULL);
    expect_error("pipelines: {name: a}\n",
                 "pipemend.yaml:1:12: pipelines must be a list, got a mapping",
                 "start each pipeline with \"- name: ...\"");
    expect_error("pipelines:\n  - orders\n",
                 "pipemend.yaml:2:5: pipeline #1 must be a mapping, got \"orders\"", NULL);
    expect_error("pipelines:\n  - {name: a, source: a, table: a, policy: yolo}\n",
                 "pipemend.yaml:2:44: policy in pipeline \"a\" must be auto, review or frozen, "
                 "got \"yolo\"",
                 NULL);
    expect_error("pipelines:\n  - {name: a, source: a, table: a, format: xml}\n",
                 "pipemend.yaml:2:44: format in pipeline \"a\" must be ndjson, jsonl, json, csv "
                 "or tsv, got \"xml\"",
                 "leave format out to decide from each file's extension");
    expect_error("pipelines:\n  - {name: a, source: '', table: a}\n",
                 "pipemend.yaml:2:23: source in pipeline \"a\" must be a non-empty string, got "
                 "\"\"",
                 NULL);
}

static void test_pipeline_errors(void **state)
{
    expect_error("pipelines:\n"
                 "  - name: orders\n"
                 "    source: o.ndjson\n",
                 "pipemend.yaml:2:5: missing key \"table\" in pipeline \"orders\"",
                 "every pipeline needs name, source and table");
    expect_error("pipelines:\n"
                 "  - {name: orders, source: a, table: orders}\n"
                 "  - {name: orders, source: b, table: orders2}\n",
                 "pipemend.yaml:3:12: duplicate pipeline name \"orders\" (first at line 2)", NULL);
    expect_error("pipelines:\n"
                 "  - {name: a, source: a, table: t, contract: {unique: id}}\n"
                 "  - {name: b, source: b, table: t, contract: {unique: id}}\n",
                 "pipemend.yaml:3:46: table \"t\" already has a contract in pipeline \"a\" (line "
                 "2)",
                 NULL);
    expect_error("pipelines:\n"
                 "  - name: a\n"
                 "    name: b\n",
                 "pipemend.yaml:3:5: duplicate key \"name\" in pipeline \"a\" (first at line 2)",
                 NULL);
}

static void test_contract_errors(void **state)
{
    const char *head = "tables:\n"
                       "  t:\n"
                       "    contract:\n"
                       "      columns:\n";
    char yaml[1024];

    snprintf(yaml, sizeof yaml, "%s        email: {regex: 'a(b'}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:24: regex \"a(b\" in column \"email\" of contract of table \"t\" "
                 "does not compile: missing closing parenthesis at offset 3",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        status: {not_null: yes}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:28: not_null in column \"status\" of contract of table \"t\" "
                 "must be true or false, got \"yes\"",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        status: {allowed: new, paid}\n", head);
    /* A flow mapping cannot hold "new, paid" unbracketed: libyaml reads
     * `paid` as a second key, so the error is the missing list. */
    expect_error(yaml,
                 "pipemend.yaml:5:27: allowed in column \"status\" of contract of table \"t\" "
                 "must be a non-empty list of values, got \"new\"",
                 "write allowed: [value, value, ...]");

    snprintf(yaml, sizeof yaml, "%s        status: {allowed: [a, ~]}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:31: allowed values in column \"status\" of contract of table "
                 "\"t\" must be strings or numbers, got nothing",
                 "null always passes allowed; use not_null: true to refuse it");

    snprintf(yaml, sizeof yaml, "%s        amount: {min: 10, max: 5}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:32: max 5 is below min 10 in column \"amount\" of contract of "
                 "table \"t\": no value could pass",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        amount: {min: [1]}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:23: min in column \"amount\" of contract of table \"t\" must "
                 "be a number or a date, got a list",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        note: {max_length: -1}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:28: max_length in column \"note\" of contract of table \"t\" "
                 "must be a positive integer, got \"-1\"",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        Amount: {min: 0}\n        amount: {max: 1}\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:9: columns \"Amount\" and \"amount\" in contract of table "
                 "\"t\" are the same column \"amount\" once normalised",
                 NULL);

    snprintf(yaml, sizeof yaml, "%s        amount: 5\n", head);
    expect_error(yaml,
                 "pipemend.yaml:5:17: rules in column \"amount\" of contract of table \"t\" must "
                 "be a mapping, got \"5\"",
                 "for example: amount: {not_null: true, min: 0}");

    expect_error("tables:\n  t:\n    contract:\n      unique: []\n",
                 "pipemend.yaml:4:15: unique in contract of table \"t\" must be a column or a "
                 "list of columns, got a list",
                 NULL);
    expect_error("tables:\n  t:\n    contract:\n      unique: [id, ID]\n",
                 "pipemend.yaml:4:20: column \"id\" appears twice in unique in contract of table "
                 "\"t\"",
                 NULL);
    expect_error("tables:\n  t:\n    contract: [unique]\n",
                 "pipemend.yaml:3:15: contract of table \"t\" must be a mapping with unique "
                 "and/or columns, got a list",
                 NULL);
}

static void test_yaml_errors(void **state)
{
    pm_err err = {0};
    pm_config *cfg = NULL;
    write_file("pipemend.yaml", "db: 'unterminated\n");
    assert_int_equal(config_load("pipemend.yaml", &cfg, &err), PM_ERR_CONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "pipemend.yaml:2:1: found unexpected end of stream");
    assert_string_equal(err.detail, "while scanning a quoted scalar (line 1, column 5)");

    /* libyaml's reader gives a byte offset; the message still has a line. */
    expect_error("db: a\nowner: caf\xc3\xa9 \xff\n",
                 "pipemend.yaml:2:13: invalid leading UTF-8 octet (0xff)", NULL);

    expect_error("db: a\n---\ndb: b\n", "pipemend.yaml:3:1: only one YAML document is allowed",
                 NULL);
    expect_error("db: a\ndb: b\n",
                 "pipemend.yaml:2:1: duplicate key \"db\" at the top level (first at line 1)",
                 NULL);
}

/* A failure after some regexes compiled must still release them (the
 * sanitizer build checks for the leak), and regexes of a good config are
 * released by config_free. */
static void test_partial_failure_releases(void **state)
{
    expect_error("tables:\n"
                 "  a:\n"
                 "    contract:\n"
                 "      columns:\n"
                 "        x: {regex: '^a$'}\n"
                 "        y: {regex: '^b$', min: [oops]}\n",
                 "pipemend.yaml:6:32: min in column \"y\" of contract of table \"a\" must be a "
                 "number or a date, got a list",
                 NULL);
    pm_config *cfg = load_ok("tables:\n  a:\n    contract:\n      columns:\n"
                             "        x: {regex: '^a$'}\n");
    config_free(cfg);
}

/* ---- policy ------------------------------------------------------------- */

static void assert_no_overrides(const pm_policy *p, int except)
{
    for (int k = 0; k < OP_KIND_COUNT; k++)
        if (k != except && p->override[k] != -1)
            fail_msg("override of %s is %d, expected none", op_kind_name((pm_op_kind)k),
                     p->override[k]);
}

static void test_policy_forms(void **state)
{
    pm_config *cfg = load_ok("pipelines:\n"
                             "  - name: plain\n"
                             "    source: a.ndjson\n"
                             "    table: a\n"
                             "    policy: frozen\n"
                             "  - name: full\n"
                             "    source: b.ndjson\n"
                             "    table: b\n"
                             "    policy:\n"
                             "      mode: review\n"
                             "      on_incident: halt\n"
                             "      overrides:\n"
                             "        add_column: review\n"
                             "        widen_column: auto\n"
                             "        drop_not_null: auto\n"
                             "        create_table: forbidden\n"
                             "  - name: flow\n"
                             "    source: c.ndjson\n"
                             "    table: c\n"
                             "    policy: {on_incident: continue, overrides: {add_coercion: "
                             "forbidden}}\n"
                             "  - {name: empty, source: d.ndjson, table: d, policy: {}}\n"
                             "  - name: nulls\n"
                             "    source: e.ndjson\n"
                             "    table: e\n"
                             "    policy:\n"
                             "      overrides:\n"
                             "tables:\n"
                             "  events:\n"
                             "    policy:\n"
                             "      mode: frozen\n"
                             "      on_incident: halt\n"
                             "      overrides: {add_field_mapping: auto}\n"
                             "  clicks:\n"
                             "    contract: {unique: id}\n"
                             "    policy: review\n");
    const pm_pipeline_cfg *p = config_pipeline(cfg, "plain");
    assert_true(p->has_policy);
    assert_int_equal(p->policy.mode, MODE_FROZEN);
    assert_int_equal(p->policy.on_incident, ON_INCIDENT_CONTINUE);
    assert_no_overrides(&p->policy, -1);

    p = config_pipeline(cfg, "full");
    assert_true(p->has_policy);
    assert_int_equal(p->policy.mode, MODE_REVIEW);
    assert_int_equal(p->policy.on_incident, ON_INCIDENT_HALT);
    assert_int_equal(p->policy.override[OP_ADD_COLUMN], CLASS_REVIEW);
    assert_int_equal(p->policy.override[OP_WIDEN_COLUMN], CLASS_AUTO);
    assert_int_equal(p->policy.override[OP_DROP_NOT_NULL], CLASS_AUTO);
    assert_int_equal(p->policy.override[OP_CREATE_TABLE], CLASS_FORBIDDEN);
    assert_int_equal(p->policy.override[OP_ADD_FIELD_MAPPING], -1);
    assert_int_equal(p->policy.override[OP_ADD_COERCION], -1);

    /* Settings left out keep their defaults. */
    p = config_pipeline(cfg, "flow");
    assert_true(p->has_policy);
    assert_int_equal(p->policy.mode, MODE_AUTO);
    assert_int_equal(p->policy.on_incident, ON_INCIDENT_CONTINUE);
    assert_int_equal(p->policy.override[OP_ADD_COERCION], CLASS_FORBIDDEN);
    assert_no_overrides(&p->policy, OP_ADD_COERCION);

    /* An empty policy is a policy: the default, set on purpose. */
    for (int i = 0; i < 2; i++) {
        p = config_pipeline(cfg, i ? "nulls" : "empty");
        assert_true(p->has_policy);
        assert_int_equal(p->policy.mode, MODE_AUTO);
        assert_int_equal(p->policy.on_incident, ON_INCIDENT_CONTINUE);
        assert_no_overrides(&p->policy, -1);
    }

    /* tables:, alone or next to a contract. */
    assert_int_equal(cfg->ntable_policies, 2);
    const pm_table_policy *t = &cfg->table_policies[0];
    assert_string_equal(t->table, "events");
    assert_int_equal(t->policy.mode, MODE_FROZEN);
    assert_int_equal(t->policy.on_incident, ON_INCIDENT_HALT);
    assert_int_equal(t->policy.override[OP_ADD_FIELD_MAPPING], CLASS_AUTO);
    assert_no_overrides(&t->policy, OP_ADD_FIELD_MAPPING);
    t = &cfg->table_policies[1];
    assert_string_equal(t->table, "clicks");
    assert_int_equal(t->policy.mode, MODE_REVIEW);
    assert_no_overrides(&t->policy, -1);
    assert_int_equal(cfg->ncontracts, 1);
    assert_string_equal(config_contract(cfg, "clicks")->table, "clicks");
    config_free(cfg);
}

static void test_policy_resolution(void **state)
{
    pm_config *cfg = load_ok("pipelines:\n"
                             "  - {name: own, source: a, table: orders, policy: {mode: frozen}}\n"
                             "  - {name: none, source: b, table: orders}\n"
                             "  - {name: lone, source: c, table: lonely}\n"
                             "tables:\n"
                             "  orders:\n"
                             "    policy: {mode: review, on_incident: halt}\n");
    pm_policy p;
    /* The pipeline's own policy wins for its runs into its table. */
    config_policy(cfg, "own", "orders", &p);
    assert_int_equal(p.mode, MODE_FROZEN);
    assert_int_equal(p.on_incident, ON_INCIDENT_CONTINUE);
    config_policy(cfg, "own", NULL, &p);
    assert_int_equal(p.mode, MODE_FROZEN);
    /* A pipeline without one, or no pipeline: the tables: section's. */
    config_policy(cfg, "none", "orders", &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    assert_int_equal(p.on_incident, ON_INCIDENT_HALT);
    config_policy(cfg, "none", NULL, &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    config_policy(cfg, NULL, "orders", &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    config_policy(cfg, "no-such-pipeline", "orders", &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    /* A pipeline's policy is for its own table only. */
    config_policy(cfg, "own", "elsewhere", &p);
    assert_int_equal(p.mode, MODE_AUTO);
    /* Neither: the default. */
    p.mode = MODE_FROZEN;
    config_policy(cfg, "lone", NULL, &p);
    assert_int_equal(p.mode, MODE_AUTO);
    assert_int_equal(p.on_incident, ON_INCIDENT_CONTINUE);
    assert_no_overrides(&p, -1);
    config_policy(cfg, NULL, NULL, &p);
    assert_int_equal(p.mode, MODE_AUTO);
    config_free(cfg);

    /* With no file at all. */
    unlink("pipemend.yaml");
    pm_err err = {0};
    assert_int_equal(config_load(NULL, &cfg, &err), PM_OK);
    p.mode = MODE_REVIEW;
    config_policy(cfg, "x", "orders", &p);
    assert_int_equal(p.mode, MODE_AUTO);
    assert_no_overrides(&p, -1);
    config_free(cfg);
}

/* Decisions outside a run take the strictest policy of the table's
 * pipelines and of a run without one. */
static void test_table_policy(void **state)
{
    pm_config *cfg = load_ok(
        "pipelines:\n"
        "  - {name: a, source: a, table: orders, policy: {mode: auto, overrides: {add_column: "
        "auto, widen_column: auto, drop_not_null: review}}}\n"
        "  - {name: b, source: b, table: orders, policy: {mode: review, on_incident: halt, "
        "overrides: {add_column: forbidden}}}\n"
        "  - {name: c, source: c, table: lonely, policy: {overrides: {widen_column: auto}}}\n"
        "  - {name: d, source: d, table: free}\n"
        "tables:\n"
        "  lonely:\n"
        "    policy: {mode: frozen}\n");
    pm_policy p;
    config_table_policy(cfg, "orders", &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    assert_int_equal(p.on_incident, ON_INCIDENT_HALT);
    assert_int_equal(p.override[OP_ADD_COLUMN], CLASS_FORBIDDEN);
    /* an explicit auto beside the inherent class adds nothing: -1 */
    assert_int_equal(p.override[OP_WIDEN_COLUMN], -1);
    assert_int_equal(p.override[OP_DROP_NOT_NULL], CLASS_REVIEW);
    assert_int_equal(p.override[OP_ADD_COERCION], -1);
    /* the pipeline's explicit auto and the tables: section's frozen mode */
    config_table_policy(cfg, "lonely", &p);
    assert_int_equal(p.mode, MODE_FROZEN);
    assert_int_equal(p.override[OP_WIDEN_COLUMN], -1);
    /* no policy anywhere: the default; no pipeline: config_policy's */
    config_table_policy(cfg, "free", &p);
    assert_int_equal(p.mode, MODE_AUTO);
    assert_no_overrides(&p, -1);
    config_table_policy(cfg, "nowhere", &p);
    assert_int_equal(p.mode, MODE_AUTO);
    config_free(cfg);
}

static void test_policy_errors(void **state)
{
    const char *head = "pipelines:\n"
                       "  - name: a\n"
                       "    source: a\n"
                       "    table: a\n"
                       "    policy:\n";
    char yaml[1024];

    snprintf(yaml, sizeof yaml, "%s      mod: review\n", head);
    expect_error(
        yaml, "pipemend.yaml:6:7: unknown key \"mod\" in policy of pipeline \"a\"",
        "did you mean \"mode\"? valid keys: mode, on_incident, overrides, auto_columns_per_day");
    snprintf(yaml, sizeof yaml, "%s      mode: manual\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:13: mode in policy of pipeline \"a\" must be auto, review or "
                 "frozen, got \"manual\"",
                 "auto applies safe changes, review waits for a person for all of them, frozen "
                 "changes nothing");
    snprintf(yaml, sizeof yaml, "%s      mode:\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:12: mode in policy of pipeline \"a\" must be auto, review or "
                 "frozen, got nothing",
                 NULL);
    snprintf(yaml, sizeof yaml, "%s      on_incident: stop\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:20: on_incident in policy of pipeline \"a\" must be continue "
                 "or halt, got \"stop\"",
                 "continue keeps clean rows flowing; halt holds back every later row of the "
                 "source until the incident is resolved");
    snprintf(yaml, sizeof yaml, "%s      on_incident: [halt]\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:20: on_incident in policy of pipeline \"a\" must be continue "
                 "or halt, got a list",
                 NULL);
    snprintf(yaml, sizeof yaml, "%s      overrides: [add_column]\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:18: overrides in policy of pipeline \"a\" must be a mapping of "
                 "op kinds to classes, got a list",
                 "for example: overrides: {add_column: review, drop_not_null: auto}");
    snprintf(yaml, sizeof yaml, "%s      overrides:\n        add_colum: review\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:9: unknown op kind \"add_colum\" in overrides of policy of "
                 "pipeline \"a\"",
                 "did you mean \"add_column\"? op kinds: create_table, add_column, "
                 "widen_column, drop_not_null, add_field_mapping, add_coercion, retype_column, "
                 "merge_column");
    snprintf(yaml, sizeof yaml, "%s      overrides:\n        drop_table: forbidden\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:9: unknown op kind \"drop_table\" in overrides of policy of "
                 "pipeline \"a\"",
                 "op kinds: create_table, add_column, widen_column, drop_not_null, "
                 "add_field_mapping, add_coercion, retype_column, merge_column");
    snprintf(yaml, sizeof yaml, "%s      overrides:\n        widen_column: yes\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:23: widen_column in overrides of policy of pipeline \"a\" must "
                 "be auto, review or forbidden, got \"yes\"",
                 NULL);
    /* frozen is a mode, not a class */
    snprintf(yaml, sizeof yaml, "%s      overrides:\n        add_column: frozen\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:21: add_column in overrides of policy of pipeline \"a\" must "
                 "be auto, review or forbidden, got \"frozen\"",
                 NULL);
    snprintf(yaml, sizeof yaml, "%s      overrides:\n        add_column:\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:20: add_column in overrides of policy of pipeline \"a\" must "
                 "be auto, review or forbidden, got nothing",
                 NULL);
    snprintf(yaml, sizeof yaml,
             "%s      overrides:\n        add_column: auto\n        add_column: review\n", head);
    expect_error(yaml,
                 "pipemend.yaml:8:9: duplicate key \"add_column\" in overrides of policy of "
                 "pipeline \"a\" (first at line 7)",
                 NULL);
    snprintf(yaml, sizeof yaml, "%s      mode: auto\n      mode: review\n", head);
    expect_error(yaml,
                 "pipemend.yaml:7:7: duplicate key \"mode\" in policy of pipeline \"a\" (first "
                 "at line 6)",
                 NULL);
    snprintf(yaml, sizeof yaml, "%s      - review\n", head);
    expect_error(yaml,
                 "pipemend.yaml:6:7: policy in pipeline \"a\" must be auto, review, frozen or a "
                 "mapping, got a list",
                 "for example: policy: {mode: review, on_incident: halt}");
    /* The plain form keeps its message; null is not a policy. */
    expect_error("pipelines:\n  - {name: a, source: a, table: a, policy: ~}\n",
                 "pipemend.yaml:2:44: policy in pipeline \"a\" must be auto, review or frozen, "
                 "got nothing",
                 NULL);
    /* A NUL inside a value is not a prefix match. */
    expect_error("pipelines:\n  - {name: a, source: a, table: a, policy: \"auto\\0x\"}\n",
                 "pipemend.yaml:2:44: policy in pipeline \"a\" must be auto, review or frozen, "
                 "got \"auto\\x00x\"",
                 NULL);

    /* The same checks under tables:, named by the table. */
    expect_error("tables:\n  events:\n    policy: {mode: auto, halt: true}\n",
                 "pipemend.yaml:3:26: unknown key \"halt\" in policy of table \"events\"",
                 "valid keys: mode, on_incident, overrides, auto_columns_per_day");
    expect_error("tables:\n  events:\n    policy: yolo\n",
                 "pipemend.yaml:3:13: policy in table \"events\" must be auto, review or frozen, "
                 "got \"yolo\"",
                 NULL);
    expect_error("tables:\n  events:\n    policy:\n      overrides: {add_column: never}\n",
                 "pipemend.yaml:4:31: add_column in overrides of policy of table \"events\" must "
                 "be auto, review or forbidden, got \"never\"",
                 NULL);
    expect_error("tables:\n  events:\n    policy: review\n    policy: auto\n",
                 "pipemend.yaml:4:5: duplicate key \"policy\" in table \"events\" (first at line "
                 "3)",
                 NULL);
    expect_error("tables:\n  events: frozen\n",
                 "pipemend.yaml:2:11: table \"events\" in tables must be a mapping with a "
                 "contract and/or a policy, got \"frozen\"",
                 NULL);
}

/* A growing text for the generated configs below. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        t->cap = (t->cap ? t->cap * 2 : 4096) + (size_t)k;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
}

/* Loads t, expects a config error whose message contains want. */
static void expect_error_containing(const text *t, const char *want)
{
    write_file("pipemend.yaml", t->s);
    pm_config *cfg = (pm_config *)1;
    pm_err err = {0};
    assert_int_equal(config_load("pipemend.yaml", &cfg, &err), PM_ERR_CONFIG);
    assert_null(cfg);
    if (!strstr(err.msg, want))
        fail_msg("expected \"%s\" in: %s", want, err.msg);
}

/* Anchors and aliases within the budget: written once, used twice. */
static void test_aliases_within_budget(void **state)
{
    pm_config *cfg = load_ok("tables:\n"
                             "  a:\n"
                             "    policy: &strict {mode: review, on_incident: halt}\n"
                             "    contract:\n"
                             "      columns:\n"
                             "        email: &email {regex: '^[^@]+@[^@]+$', max_length: 254}\n"
                             "        backup_email: *email\n"
                             "  b:\n"
                             "    policy: *strict\n");
    pm_policy p;
    config_policy(cfg, NULL, "b", &p);
    assert_int_equal(p.mode, MODE_REVIEW);
    assert_int_equal(p.on_incident, ON_INCIDENT_HALT);
    const pm_contract *c = config_contract(cfg, "a");
    assert_non_null(rule(c, "backup_email.regex"));
    config_free(cfg);
}

/* Billion laughs: nine levels of ten aliases of the level below would walk
 * as 10^9 values. Refused at the alias that crosses the budget, at once. */
static void test_alias_bomb(void **state)
{
    text t = {0};
    put(&t, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int k = 1; k < 10; k++) {
        put(&t, "a%d: &a%d [", k, k);
        for (int i = 0; i < 10; i++)
            put(&t, "%s*a%d", i ? ", " : "", k - 1);
        put(&t, "]\n");
    }
    expect_error_containing(&t, "pipemend.yaml:4:");
    expect_error_containing(&t, "the aliases up to here expand to more than 10000 nodes");

    /* The same amplification through the loader's own walk: one column's
     * rules with a long allowed list, named by thousands of columns. */
    t.n = 0;
    put(&t, "tables:\n  t:\n    contract:\n      columns:\n        c0: &r {allowed: [");
    for (int i = 0; i < 1000; i++)
        put(&t, "%sv%d", i ? ", " : "", i);
    put(&t, "]}\n");
    for (int i = 1; i < 5000; i++)
        put(&t, "        c%d: *r\n", i);
    expect_error_containing(&t, "pipemend.yaml:15:14: the aliases up to here expand");

    /* and many small aliases */
    t.n = 0;
    put(&t, "tables:\n  t:\n    contract:\n      columns:\n        c0: &r {not_null: true}\n");
    for (int i = 1; i < 200; i++)
        put(&t, "        c%d: *r\n", i);
    expect_error_containing(&t, "pipemend.yaml:106:15: more than 100 aliases");
    free(t.s);
}

static void test_deep_nesting(void **state)
{
    text t = {0};
    put(&t, "db: ");
    for (int i = 0; i < 100000; i++)
        put(&t, "[");
    for (int i = 0; i < 100000; i++)
        put(&t, "]");
    put(&t, "\n");
    expect_error_containing(&t, "pipemend.yaml:1:36: nested more than 32 levels deep");

    t.n = 0;
    for (int i = 0; i < 1000; i++)
        put(&t, "%*sk:\n", i, "");
    expect_error_containing(&t, "pipemend.yaml:33:33: nested more than 32 levels deep");
    free(t.s);
}

static void test_size_limit(void **state)
{
    text t = {0};
    put(&t, "# padding\n");
    while (t.n <= (1 << 20))
        put(&t, "# %0100d\n", 0);
    write_file("pipemend.yaml", t.s);
    pm_config *cfg = NULL;
    pm_err err = {0};
    assert_int_equal(config_load("pipemend.yaml", &cfg, &err), PM_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "a config file is at most 1048576"));
    free(t.s);
}

/* Every "seen before?" check of a contract is a hash lookup: a contract
 * of 30,000 columns (most of the megabyte a config may be) loads in well
 * under a second, where comparing each key with every earlier one took
 * far longer. The last one
 * repeats the first once normalised, which the check still finds. */
/* The anchor file: the environment, else audit_anchor: relative to the
 * file, else the default next to the file; verify skips only an absent
 * default. */
static void test_audit_anchor(void **state)
{
    (void)state;
    char buf[256];
    bool dflt;
    unsetenv("PIPEMEND_AUDIT_ANCHOR");
    assert_string_equal(config_audit_anchor(NULL, buf, sizeof buf, &dflt), "pipemend-audit.anchor");
    assert_true(dflt);
    assert_null(config_audit_anchor_to_verify(NULL, buf, sizeof buf));

    pm_config *cfg = load_ok("db: sqlite:w.db\n");
    pm_config moved = *cfg;
    moved.path = "/etc/pipemend/pipemend.yaml";
    assert_string_equal(config_audit_anchor(&moved, buf, sizeof buf, &dflt),
                        "/etc/pipemend/pipemend-audit.anchor");
    assert_true(dflt);
    moved.audit_anchor = "keep/a.anchor";
    assert_string_equal(config_audit_anchor(&moved, buf, sizeof buf, &dflt),
                        "/etc/pipemend/keep/a.anchor");
    assert_false(dflt);
    /* a configured file is checked even when it is missing (verify says so) */
    assert_non_null(config_audit_anchor_to_verify(&moved, buf, sizeof buf));
    moved.audit_anchor = "/var/a.anchor";
    assert_string_equal(config_audit_anchor(&moved, buf, sizeof buf, &dflt), "/var/a.anchor");
    setenv("PIPEMEND_AUDIT_ANCHOR", "/srv/env.anchor", 1);
    assert_string_equal(config_audit_anchor(&moved, buf, sizeof buf, &dflt), "/srv/env.anchor");
    assert_false(dflt);
    unsetenv("PIPEMEND_AUDIT_ANCHOR");
    config_free(cfg);

    cfg = load_ok("audit_anchor: a.anchor\n");
    assert_string_equal(cfg->audit_anchor, "a.anchor");
    assert_string_equal(config_audit_anchor(cfg, buf, sizeof buf, &dflt), "a.anchor");
    config_free(cfg);
    expect_error("audit_anchor: [a]\n",
                 "pipemend.yaml:1:15: audit_anchor must be a non-empty string, got a list", NULL);
}

static void test_wide_contract_is_linear(void **state)
{
    text t = {0};
    put(&t, "tables:\n  t:\n    contract:\n      unique: [");
    for (int i = 0; i < 2000; i++)
        put(&t, "%sc%d", i ? ", " : "", i);
    put(&t, "]\n      columns:\n");
    for (int i = 0; i < 30000; i++)
        put(&t, "        c%d: {min: 0}\n", i);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pm_config *cfg = load_ok(t.s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(config_contract(cfg, "t")->nrules, 30001);
    config_free(cfg);
    if (took > 10)
        fail_msg("a 30,000-column contract took %.1f s to load", took);

    put(&t, "        C0: {min: 1}\n");
    expect_error_containing(&t, "columns \"c0\" and \"C0\"");
    t.n = 0;
    put(&t, "tables:\n");
    for (int i = 0; i < 20000; i++)
        put(&t, "  t%d: {policy: review}\n", i);
    put(&t, "  t0: {policy: auto}\n");
    expect_error_containing(&t, "pipemend.yaml:20002:3: duplicate key \"t0\" in tables (first at "
                                "line 2)");
    free(t.s);
}

int main(void)
{
    /* The precedence warning of the full sample is expected; keep the
     * test output to cmocka's lines. */
    pm_log_set_level(PM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_sample, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_defaults, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_jsonl_and_quoted_numbers, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_default_path, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_unknown_keys, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_wrong_types, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_pipeline_errors, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_contract_errors, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_yaml_errors, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_partial_failure_releases, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_policy_forms, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_policy_resolution, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_table_policy, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_policy_errors, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_aliases_within_budget, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_alias_bomb, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_deep_nesting, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_size_limit, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_wide_contract_is_linear, enter_tmpdir, leave_tmpdir),
        cmocka_unit_test_setup_teardown(test_audit_anchor, enter_tmpdir, leave_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
