/* cmd_demo.c - `pipemend demo`: a feed that drifts, loaded twice, with the
 * engine explaining what it does. It writes everything it uses into one
 * directory (a config, two days of order events, a SQLite warehouse) so a
 * person can poke at the result with the other commands afterwards. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/log.h"

static const char demo_yaml[] = "# pipemend demo configuration: one pipeline with a contract\n"
                                "db: sqlite:warehouse.db\n"
                                "defaults:\n"
                                "  batch_size: 500\n"
                                "  sample_size: 100\n"
                                "pipelines:\n"
                                "  - name: orders\n"
                                "    source: feed/*.ndjson\n"
                                "    format: ndjson\n"
                                "    table: orders\n"
                                "    owner: data-platform@example.com\n"
                                "    contract:\n"
                                "      unique: [order_id]\n"
                                "      columns:\n"
                                "        amount: {min: 0}\n"
                                "        status: {allowed: [new, paid, shipped, refunded]}\n"
                                "        customer_email: {regex: '^[^@ ]+@[^@ ]+$'}\n";

static const char *const statuses[] = {"new", "paid", "shipped", "refunded"};

static void order(FILE *f, int id, const char *extra)
{
    fprintf(f,
            "{\"order_id\":%d,\"customer_email\":\"user%d@example.com\",\"status\":\"%s\","
            "\"amount\":%d.%02d,\"quantity\":%d,\"created_at\":\"2026-11-%02dT%02d:%02d:00Z\","
            "\"shipping\":{\"country\":\"%s\",\"city\":\"%s\"}%s}\n",
            id, id % 97, statuses[id % 4], 10 + id % 300, id % 100, 1 + id % 5, 1 + id % 20,
            id % 24, id % 60, id % 3 ? "DE" : "FR", id % 3 ? "Berlin" : "Paris", extra);
}

static int write_feed(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/feed", dir);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return -1;
    if (mkdir(path, 0755) && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s/pipemend.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(demo_yaml, f);
    fclose(f);

    snprintf(path, sizeof path, "%s/feed/day1.ndjson", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    for (int id = 1; id <= 400; id++)
        order(f, id, "");
    fclose(f);

    /* Day 2: the producer shipped a new version. Most rows are fine. */
    snprintf(path, sizeof path, "%s/feed/day2.ndjson", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    for (int id = 401; id <= 800; id++) {
        switch (id % 50) {
        case 1:
            order(f, id, ",\"coupon\":\"WINTER26\"");
            break; /* new field */
        case 2:    /* a quantity too large for its column */
            fprintf(f,
                    "{\"order_id\":%d,\"customer_email\":\"big@example.com\",\"status\":"
                    "\"paid\",\"amount\":12.5,\"quantity\":3000000000,\"created_at\":"
                    "\"2026-11-21T10:00:00Z\",\"shipping\":{\"country\":\"DE\",\"city\":"
                    "\"Bonn\"}}\n",
                    id);
            break;
        case 3: /* not a number at all */
            fprintf(f,
                    "{\"order_id\":%d,\"customer_email\":\"x@example.com\",\"status\":"
                    "\"paid\",\"amount\":9.99,\"quantity\":\"two\",\"created_at\":"
                    "\"2026-11-21T10:00:00Z\",\"shipping\":{\"country\":\"DE\",\"city\":"
                    "\"Kiel\"}}\n",
                    id);
            break;
        case 4:
        case 5: /* the field was renamed */
            fprintf(f,
                    "{\"order_id\":%d,\"email\":\"renamed%d@example.com\",\"status\":\"new\","
                    "\"amount\":5.00,\"quantity\":1,\"created_at\":\"2026-11-21T10:00:00Z\","
                    "\"shipping\":{\"country\":\"FR\",\"city\":\"Nice\"}}\n",
                    id, id);
            break;
        case 6: /* a new date format */
            fprintf(f,
                    "{\"order_id\":%d,\"customer_email\":\"fmt@example.com\",\"status\":"
                    "\"new\",\"amount\":5.00,\"quantity\":1,\"created_at\":\"Sat, 21 Nov 2026 "
                    "10:00:00 +0100\",\"shipping\":{\"country\":\"FR\",\"city\":\"Nantes\"}}\n",
                    id);
            break;
        case 7: /* breaks the contract */
            fprintf(f,
                    "{\"order_id\":%d,\"customer_email\":\"neg@example.com\",\"status\":"
                    "\"lost\",\"amount\":-3.50,\"quantity\":1,\"created_at\":"
                    "\"2026-11-21T10:00:00Z\",\"shipping\":{\"country\":\"DE\",\"city\":"
                    "\"Ulm\"}}\n",
                    id);
            break;
        case 8:
            fputs("{\"order_id\": 9999, \"status\": \"paid\", \"amount\": 1.0,\n", f);
            break;
        case 9:
            order(f, id - 400, "");
            break; /* a duplicate of a day-1 order */
        default:
            order(f, id, "");
        }
    }
    fclose(f);
    return 0;
}

static void say(const char *s)
{
    printf("\n== %s\n", s);
    fflush(stdout);
}

/* The ids of the pending proposals for orders, in id order, as text. */
static size_t pending_ids(const char *db, char ids[][32], size_t max)
{
    pm_store *s;
    pm_err err;
    size_t k = 0;
    if (store_open(db, &s, &err) != PM_OK)
        return 0;
    pm_arena *a = pm_arena_new(0);
    pm_proposal *ps;
    size_t n;
    if (store_proposals_list(s, "orders", &(pm_proposal_state){PROP_PENDING}, 0, a, &ps, &n,
                             NULL) == PM_OK)
        for (size_t i = n; i-- > 0 && k < max;)
            snprintf(ids[k++], 32, "%lld", (long long)ps[i].id);
    pm_arena_free(a);
    store_close(s);
    return k;
}

/* The id of the active incident of kind on orders, as text ("" if none). */
static void incident_id(const char *db, const char *kind, char out[32])
{
    pm_store *s;
    pm_err err;
    out[0] = '\0';
    if (store_open(db, &s, &err) != PM_OK)
        return;
    pm_arena *a = pm_arena_new(0);
    pm_incident *in;
    size_t n;
    pm_incident_filter f = {.table = "orders", .active_only = true};
    if (store_incidents_list(s, &f, a, &in, &n, NULL) == PM_OK)
        for (size_t i = 0; i < n; i++)
            if (strcmp(in[i].kind, kind) == 0)
                snprintf(out, 32, "%lld", (long long)in[i].id);
    pm_arena_free(a);
    store_close(s);
}

int cmd_demo(cli_ctx *ctx)
{
    const char *dir = ctx->dir ? ctx->dir : "pipemend-demo";
    if (write_feed(dir) != 0) {
        return cli_error(EXIT_FAILED, NULL, "cannot write the demo into %s: %s", dir,
                         strerror(errno));
    }
    char cfgpath[4096], db[4096], day1[4096], day2[4096];
    snprintf(cfgpath, sizeof cfgpath, "%s/pipemend.yaml", dir);
    snprintf(db, sizeof db, "sqlite:%s/warehouse.db", dir);
    snprintf(day1, sizeof day1, "%s/feed/day1.ndjson", dir);
    snprintf(day2, sizeof day2, "%s/feed/day2.ndjson", dir);
    remove(db + 7);
    pm_err err = {0};
    pm_config *cfg;
    if (config_load(cfgpath, &cfg, &err) != PM_OK)
        return cli_fail(&err);

    cli_ctx c = {.db = db, .cfg = cfg, .table = "orders", .pipeline = "orders"};
    char *files1[] = {day1}, *files2[] = {day2}, *show[] = {"show"}, *list[] = {"list"};
    printf("pipemend demo in %s: order events from a producer that changes its format.\n", dir);

    say("Day 1: 400 clean order events. The table does not exist yet, so pipemend infers it.");
    c.argc = 1, c.argv = files1;
    int rc = cmd_ingest(&c);
    c.argv = show;
    cmd_schema(&c);

    say("Day 2: the producer shipped a new version: a new field (coupon), bigger numbers "
        "(quantity), a renamed field (customer_email is now email), a new date format "
        "(created_at), and some plainly bad rows. Under the default policy (auto) pipemend "
        "heals what is safe - a new nullable column, a lossless widening - tried in a sandbox "
        "first, and quarantines the rest with a diagnosis.");
    c.argc = 1, c.argv = files2;
    rc = cmd_ingest(&c);
    printf("exit code %d: the run finished; clean and healed rows are in, the rest waits in "
           "quarantine\n",
           rc);
    c.argc = 1, c.argv = show;
    cmd_schema(&c);

    say("The drift, grouped into incidents (pipemend incidents list):");
    c.argc = 1, c.argv = list;
    cmd_incidents(&c);

    char rename[32];
    incident_id(db, "rename", rename);
    if (rename[0]) {
        say("The diagnostic packet of the rename (pipemend incidents show ID):");
        char *ishow[] = {"show", rename};
        c.argc = 2, c.argv = ishow;
        cmd_incidents(&c);
    }

    say("What waits for a person, each already tried in the sandbox (pipemend proposals "
        "list):");
    c.argc = 1, c.argv = list;
    cmd_proposals(&c);

    char ids[8][32];
    size_t nids = pending_ids(db, ids, 8);
    for (size_t i = 0; i < nids; i++) {
        printf("\n== A person approves proposal %s (pipemend proposals approve %s --actor "
               "demo-operator): guard, policy and sandbox again, then apply and replay:\n",
               ids[i], ids[i]);
        fflush(stdout);
        char *approve[] = {"approve", ids[i]};
        c.argc = 2, c.argv = approve;
        c.actor = "demo-operator";
        cmd_proposals(&c);
    }

    say("What is still in quarantine cannot be fixed by a schema change: a word where a number "
        "belongs, a broken line, contract breaks, a duplicate order (pipemend quarantine list):");
    c.argc = 1, c.argv = list;
    c.limit = 6;
    cmd_quarantine(&c);
    c.limit = 0;

    say("Day 2 again: checkpoints make a re-run load nothing twice.");
    c.argc = 1, c.argv = files2;
    cmd_ingest(&c);

    say("Where things stand (pipemend status):");
    c.argc = 0;
    c.table = NULL;
    cmd_status(&c);

    say("Every decision is in the hash-chained audit log (pipemend audit verify):");
    char *verify[] = {"verify"};
    c.argc = 1, c.argv = verify;
    cmd_audit(&c);

    printf("\nLook around: cd %s && pipemend incidents list, pipemend audit log, "
           "pipemend quarantine show ID, pipemend schema show --table orders\n",
           dir);
    config_free(cfg);
    return 0;
}
