/* ready.c - the /readyz route (ready.h): the warehouse probed with its own
 * connection, the scheduler asked whether it schedules. */
#include "daemon/ready.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

typedef struct ready {
    char *db;
    const sched *sched;
    pthread_mutex_t mu; /* requests are served on several threads; one connection */
    pm_store *store;    /* NULL until the first probe, and after a failed one */
} ready;

/* Whether the warehouse answers; detail says why not. Under r->mu. */
static bool probe(ready *r, char *detail, size_t n)
{
    pm_err err = {0};
    if (!r->db || !*r->db) {
        snprintf(detail, n, "no warehouse: give --db, PIPEMEND_DB or db: in pipemend.yaml");
        return false;
    }
    if (!r->store && store_open(r->db, &r->store, &err) != PM_OK) {
        r->store = NULL;
        snprintf(detail, n, "%s", err.msg);
        return false;
    }
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t nr;
    pm_code rc = store_runs_list(r->store, NULL, NULL, 1, a, &runs, &nr, &err);
    pm_arena_free(a);
    if (rc != PM_OK) {
        /* a broken connection is opened again at the next probe */
        store_close(r->store);
        r->store = NULL;
        snprintf(detail, n, "%s", err.msg);
        return false;
    }
    return true;
}

static void ready_headers(void *arg, http_req *rq)
{
    const char *method = http_req_method(rq);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_add_header(rq, "Allow", "GET, HEAD");
        http_answer_error(rq, 405, "Method Not Allowed: " READY_PATH " takes GET");
    }
}

static void ready_handle(void *arg, http_req *rq)
{
    ready *r = arg;
    char detail[512] = "";
    pthread_mutex_lock(&r->mu);
    bool wh = probe(r, detail, sizeof detail);
    pthread_mutex_unlock(&r->mu);
    const char *sc = !r->sched ? "off" : sched_active(r->sched) ? "active" : "standby";
    bool ok = wh && strcmp(sc, "active") == 0;
    if (wh && !ok)
        snprintf(detail, sizeof detail, "%s",
                 r->sched ? "another pipemend serve schedules this SQLite warehouse, or the "
                            "scheduler has not taken it yet"
                          : "no scheduler: serve runs without a warehouse");
    json_t *o = json_pack("{s:s, s:s, s:s}", "status", ok ? "ready" : "not ready", "warehouse",
                          wh ? "ok" : "unreachable", "scheduler", sc);
    if (!ok)
        json_object_set_new(o, "detail", json_string(detail));
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        http_answer_error(rq, 500, "out of memory");
        return;
    }
    http_add_header(rq, "Cache-Control", "no-store");
    http_answer(rq, ok ? 200 : 503, "application/json", body, strlen(body));
    free(body);
}

static void ready_free(void *arg)
{
    ready *r = arg;
    if (r->store)
        store_close(r->store);
    pthread_mutex_destroy(&r->mu);
    free(r->db);
    free(r);
}

pm_code ready_mount(http_server *srv, const char *db, const sched *s, pm_err *err)
{
    ready *r = calloc(1, sizeof *r);
    if (!r || (db && !(r->db = strdup(db)))) {
        free(r);
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    }
    r->sched = s;
    pthread_mutex_init(&r->mu, NULL);
    http_route rt = {.path = READY_PATH,
                     .headers = ready_headers,
                     .handle = ready_handle,
                     .free = ready_free,
                     .arg = r};
    pm_code rc = http_server_mount(srv, &rt, err);
    if (rc != PM_OK)
        ready_free(r);
    return rc;
}
