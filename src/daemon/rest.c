/* rest.c - the REST API (rest.h): one route table, from which the server
 * dispatches, each route's role is checked, and /api/v1/openapi.json is
 * written; a handler parses its path and query, calls a tool (or, where no
 * tool fits people, the store and view directly: the quarantine's cursor
 * paging, one proposal, one run), and answers the tool's JSON.
 *
 * The route is one prefix route of the HTTP server; in its headers
 * callback (before a body is read) the request is matched against the
 * table (404, 405) and the caller's role against the route's need (403),
 * so that a refused request costs nothing. Handlers share one warehouse
 * connection of their own (not MCP's), one at a time. */
#include "daemon/rest.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "daemon/users.h"
#include "drift/drift.h"
#include "store/proposal.h"
#include "tools/tools.h"
#include "view/view.h"

#define MAX_BODY 65536
#define MAX_PARAMS 6
#define MAX_PATH_ARGS 2
#define PAGE_MAX 1000
#define PACKET_SAMPLES 5
#define RAW_MAX 65536

typedef enum rest_need { NEED_READ, NEED_ACT, NEED_DECIDE } rest_need;
static const char *const need_roles[][4] = {
    [NEED_READ] = {"viewer", "operator", "agent", "server token"},
    [NEED_ACT] = {"operator", "agent", "server token", NULL},
    [NEED_DECIDE] = {"operator", NULL, NULL, NULL},
};

typedef enum ptype { P_INT, P_STR, P_BOOL } ptype;

typedef struct rest_param {
    const char *name; /* NULL ends the list */
    ptype type;
    const char *description;
} rest_param;

typedef struct rest rest;

/* One request while its handler runs. */
typedef struct rest_q {
    rest *r;
    tools_ctx *t; /* the warehouse connection this handler holds (NULL: no_store) */
    http_req *rq;
    const char *args[MAX_PATH_ARGS]; /* the {...} segments, in order (copies) */
    char argbuf[MAX_PATH_ARGS][256];
    const users_user *user; /* NULL: the server's token */
    char actor[96];
    unsigned status; /* of the error, when failed */
    bool failed;
    char msg[1024], detail[512], hint[512];
} rest_q;

typedef struct rest_route {
    const char *method;
    const char *pattern; /* below REST_PREFIX; {id} an integer, {name} a string */
    const char *operation_id;
    const char *tag;
    rest_need need;
    const char *summary;
    rest_param params[MAX_PARAMS];
    json_t *(*fn)(rest_q *q);
    bool no_store; /* needs no warehouse (openapi.json) */
    bool cache;    /* the answer depends on the warehouse, the configuration and the
                      parameters only (no clock): kept under the warehouse's data token */
} rest_route;

/* Handlers at once, each with its own connection to the warehouse (a
 * connection runs one statement at a time). Reads do not wait for each
 * other on either backend (SQLite's WAL, PostgreSQL's MVCC); decisions
 * serialise in the warehouse as they do between processes. More than
 * the cores gains little, and each is a server process on PostgreSQL. */
#define REST_STORES 4

/* Answers kept per connection: a dashboard, or many people, asking the
 * same page again while the warehouse did not change get the same bytes
 * without a query. An answer is kept with the warehouse's data token when
 * it was made (store_data_token: any commit, by anyone, changes it) and
 * the configuration it was made under, and is given again only while both
 * are the same, so it is never stale. */
#define REST_CACHE 16
#define REST_CACHE_BODY_MAX (1u << 20)

typedef struct rest_cached {
    char *key; /* path and parameters; NULL: empty */
    char token[STORE_DATA_TOKEN_MAX];
    const pm_config *cfg;
    char *body;
    size_t len;
} rest_cached;

typedef struct rest_slot {
    pthread_mutex_t mu; /* held by the one handler using t */
    tools_ctx t;        /* t.cfg: *cfg at each request; t.store opened at first use */
    rest_cached cache[REST_CACHE];
    unsigned next; /* the entry the next new answer replaces */
} rest_slot;

struct rest {
    rest_slot slots[REST_STORES];
    atomic_uint next;      /* where the next handler starts looking for a free slot */
    pm_config *const *cfg; /* where serve keeps its configuration */
    const char *version;
};

/* ---- errors ------------------------------------------------------------------ */

static void fail(rest_q *q, unsigned status, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(rest_q *q, unsigned status, const char *hint, const char *fmt, ...)
{
    if (q->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->msg, sizeof q->msg, fmt, ap);
    va_end(ap);
    snprintf(q->hint, sizeof q->hint, "%s", hint ? hint : "");
    q->status = status;
    q->failed = true;
}

static void fail_err(rest_q *q, unsigned status, const pm_err *err)
{
    if (q->failed)
        return;
    snprintf(q->msg, sizeof q->msg, "%s", err->msg[0] ? err->msg : pm_code_name(err->code));
    snprintf(q->detail, sizeof q->detail, "%s", err->detail);
    snprintf(q->hint, sizeof q->hint, "%s", err->hint);
    q->status = status;
    q->failed = true;
}

/* A decision refused by the state of things (409), or the warehouse's
 * failure (500). */
static unsigned refusal_status(const pm_err *err)
{
    bool server = err->code == PM_ERR_DB || err->code == PM_ERR_IO || err->code == PM_ERR_NOMEM ||
                  err->code == PM_ERR_INTERNAL;
    return server ? 500 : 409;
}

/* A message may quote what the request sent (a path segment, a
 * parameter), which need not be UTF-8: view_text makes any bytes a JSON
 * string. */
static json_t *str_or_null(const char *s)
{
    bool cut;
    return s && *s ? view_text(s, strlen(s), 4096, &cut) : json_null();
}

static void answer_json(http_req *rq, unsigned status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!text) {
        http_answer_error(rq, 500, "Internal error: cannot write the answer");
        return;
    }
    http_answer(rq, status, "application/json", text, strlen(text));
    free(text);
}

static void answer_error(http_req *rq, unsigned status, const char *msg, const char *detail,
                         const char *hint)
{
    answer_json(rq, status,
                json_pack("{s:{s:o, s:o, s:o}}", "error", "message", str_or_null(msg), "detail",
                          str_or_null(detail), "hint", str_or_null(hint)));
}

/* ---- calling a tool --------------------------------------------------------------- */

static void call_fail(void *face, const char *msg)
{
    rest_q *q = face;
    fail(q, 0, NULL, "%s", msg);
}

static void call_not_found(void *face, const char *msg)
{
    rest_q *q = face;
    fail(q, 404, NULL, "%s", msg);
}

static const tool_call_ops rest_call_ops = {.fail = call_fail, .not_found = call_not_found};

static const tool_def *find_tool(const char *name)
{
    for (size_t i = 0; i < tools_read_n; i++)
        if (strcmp(tools_read_table[i].name, name) == 0)
            return &tools_read_table[i];
    for (size_t i = 0; i < tools_act_n; i++)
        if (strcmp(tools_act_table[i].name, name) == 0)
            return &tools_act_table[i];
    return NULL;
}

/* The tool's result; its failure answered with fail_status (args stolen). */
static json_t *call_tool(rest_q *q, const char *name, json_t *args, unsigned fail_status)
{
    const tool_def *d = find_tool(name);
    tool_call c = {.ops = &rest_call_ops, .face = q, .actor = q->actor};
    json_t *out = d ? d->call(q->t, args, &c) : NULL;
    json_decref(args);
    if (!out) {
        if (!q->failed)
            fail(q, 500, NULL, "the tool %s gave no answer", name);
        if (!q->status)
            q->status = fail_status;
    }
    return out;
}

/* ---- parameters --------------------------------------------------------------------- */

static bool parse_i64(const char *s, long long min, long long max, long long *out)
{
    char *end;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* ?name as an integer in [min, max], def when absent; 400 when bad. */
static bool q_int(rest_q *q, const char *name, long long min, long long max, long long def,
                  long long *out)
{
    const char *v = http_req_arg(q->rq, name);
    *out = def;
    if (!v)
        return true;
    if (!parse_i64(v, min, max, out)) {
        fail(q, 400, NULL, "%s must be an integer from %lld to %lld, got \"%.64s\"", name, min, max,
             v);
        return false;
    }
    return true;
}

static bool q_bool(rest_q *q, const char *name, bool def, bool *out)
{
    const char *v = http_req_arg(q->rq, name);
    *out = def;
    if (!v)
        return true;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else {
        fail(q, 400, NULL, "%s must be true or false, got \"%.64s\"", name, v);
        return false;
    }
    return true;
}

static const char *q_str(rest_q *q, const char *name)
{
    const char *v = http_req_arg(q->rq, name);
    return v && *v ? v : NULL;
}

/* The path's {id} as a positive integer; 404 when it is not one (no such
 * thing can have it). */
static bool path_id(rest_q *q, int i, const char *what, long long *out)
{
    if (!parse_i64(q->args[i], 1, INT64_MAX, out)) {
        fail(q, 404, NULL, "no %s \"%.64s\" (ids are positive integers)", what, q->args[i]);
        return false;
    }
    return true;
}

/* ---- pipelines ------------------------------------------------------------------------ */

static bool pipeline_known(rest_q *q)
{
    if (q->t->cfg && config_pipeline(q->t->cfg, q->args[0]))
        return true;
    fail(q, 404, "GET " REST_PREFIX "/pipelines lists the pipelines pipemend.yaml defines",
         "no pipeline \"%.100s\"", q->args[0]);
    return false;
}

static json_t *h_pipelines(rest_q *q)
{
    return call_tool(q, "list_pipelines", json_object(), 500);
}

static json_t *h_pipeline(rest_q *q)
{
    if (!pipeline_known(q))
        return NULL;
    return call_tool(q, "get_pipeline_status", json_pack("{s:s}", "pipeline", q->args[0]), 500);
}

static json_t *h_pipeline_history(rest_q *q)
{
    long long limit;
    if (!pipeline_known(q) || !q_int(q, "limit", 1, PAGE_MAX, 20, &limit))
        return NULL;
    return call_tool(q, "get_pipeline_history",
                     json_pack("{s:s, s:I}", "pipeline", q->args[0], "limit", (json_int_t)limit),
                     500);
}

/* A run refused (running, started too recently) or failed is the state of
 * things, not a fault of the server. */
static json_t *h_pipeline_trigger(rest_q *q)
{
    if (!pipeline_known(q))
        return NULL;
    return call_tool(q, "trigger_pipeline", json_pack("{s:s}", "pipeline", q->args[0]), 409);
}

/* ---- runs ------------------------------------------------------------------------------ */

static json_t *h_runs(rest_q *q)
{
    long long limit;
    if (!q_int(q, "limit", 1, PAGE_MAX, 50, &limit))
        return NULL;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_run *runs;
    size_t n;
    if (store_runs_list(q->t->store, q_str(q, "pipeline"), q_str(q, "table"), (int)limit + 1, a,
                        &runs, &n, &err) != PM_OK) {
        fail_err(q, 500, &err);
        pm_arena_free(a);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && (long long)i < limit; i++)
        json_array_append_new(arr, view_run(&runs[i]));
    pm_arena_free(a);
    return json_pack("{s:o, s:b}", "runs", arr, "more", (long long)n > limit);
}

static bool run_known(rest_q *q, long long *id)
{
    if (!path_id(q, 0, "run", id))
        return false;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_run run;
    bool found = false;
    if (store_run_get(q->t->store, *id, a, &run, &found, &err) != PM_OK)
        fail_err(q, 500, &err);
    else if (!found)
        fail(q, 404, "GET " REST_PREFIX "/runs lists the runs", "no run %lld", *id);
    pm_arena_free(a);
    return !q->failed;
}

static json_t *h_run_log(rest_q *q)
{
    long long id;
    if (!run_known(q, &id))
        return NULL;
    return call_tool(q, "get_run_log", json_pack("{s:I}", "run_id", (json_int_t)id), 500);
}

/* ---- tables ------------------------------------------------------------------------------- */

static json_t *h_tables(rest_q *q)
{
    return call_tool(q, "list_tables", json_object(), 500);
}

static json_t *h_table(rest_q *q)
{
    return call_tool(q, "inspect_table_schema", json_pack("{s:s}", "table", q->args[0]), 404);
}

static json_t *h_table_replay(rest_q *q)
{
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_table *t = NULL;
    if (store_table_load(q->t->store, q->args[0], a, &t, &err) != PM_OK)
        fail_err(q, 500, &err);
    else if (!t)
        fail(q, 404, "GET " REST_PREFIX "/tables lists them", "no table \"%.100s\"", q->args[0]);
    pm_arena_free(a);
    if (q->failed)
        return NULL;
    return call_tool(q, "replay_quarantine", json_pack("{s:s}", "table", q->args[0]), 409);
}

/* ---- incidents ------------------------------------------------------------------------------ */

static json_t *h_incidents(rest_q *q)
{
    long long limit;
    bool active;
    if (!q_int(q, "limit", 1, PAGE_MAX, 50, &limit) || !q_bool(q, "active_only", true, &active))
        return NULL;
    json_t *args = json_pack("{s:b, s:I}", "active_only", active, "limit", (json_int_t)limit);
    if (q_str(q, "table"))
        json_object_set_new(args, "table", json_string(q_str(q, "table")));
    return call_tool(q, "list_incidents", args, 500);
}

/* The packet with the rows' bytes exact (people and programs read it,
 * where MCP labels them for models). */
static json_t *h_incident(rest_q *q)
{
    long long id;
    if (!path_id(q, 0, "incident", &id))
        return NULL;
    pm_incident_filter f = {.id = id};
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_incident *ins;
    size_t n;
    json_t *p = NULL;
    if (store_incidents_list(q->t->store, &f, a, &ins, &n, &err) != PM_OK)
        fail_err(q, 500, &err);
    else if (!n)
        fail(q, 404, "GET " REST_PREFIX "/incidents?active_only=false lists them all",
             "no incident %lld", id);
    else if (!(p = view_incident_packet(q->t->store, &ins[0], PACKET_SAMPLES, VIEW_RAW_EXACT,
                                        &err)))
        fail_err(q, 500, &err);
    pm_arena_free(a);
    return p;
}

/* The body may give a reason ({"reason": "..."}); who dismisses is the
 * authenticated user, whatever else the body says. */
static json_t *h_incident_dismiss(rest_q *q)
{
    long long id;
    if (!path_id(q, 0, "incident", &id))
        return NULL;
    size_t len;
    const char *body = http_req_body(q->rq, &len);
    json_t *b = NULL;
    const char *reason = NULL;
    if (len) {
        json_error_t je;
        b = json_loadb(body, len, 0, &je);
        const json_t *r = json_object_get(b, "reason");
        if (!json_is_object(b) || (r && !json_is_string(r))) {
            json_decref(b);
            fail(q, 400, "send {\"reason\": \"...\"} or no body",
                 "the body is not a JSON object with a string reason");
            return NULL;
        }
        reason = json_string_value(r);
    }
    pm_incident_filter f = {.id = id};
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_incident *ins;
    size_t n;
    json_t *o = NULL;
    if (store_incidents_list(q->t->store, &f, a, &ins, &n, &err) != PM_OK)
        fail_err(q, 500, &err);
    else if (!n)
        fail(q, 404, "GET " REST_PREFIX "/incidents?active_only=false lists them all",
             "no incident %lld", id);
    else if (tools_dismiss(q->t, &ins[0], q->actor, reason, &err) != PM_OK)
        fail_err(q, refusal_status(&err), &err);
    else if (store_incidents_list(q->t->store, &f, a, &ins, &n, &err) != PM_OK || !n)
        fail_err(q, 500, &err);
    else
        o = json_pack("{s:o, s:s}", "incident", view_incident(&ins[0]), "dismissed_by", q->actor);
    json_decref(b);
    pm_arena_free(a);
    return o;
}

/* ---- proposals ------------------------------------------------------------------------------ */

static json_t *h_proposals(rest_q *q)
{
    json_t *args = json_object();
    const char *state = q_str(q, "state");
    pm_proposal_state st;
    if (state && !proposal_state_parse(state, &st)) {
        json_decref(args);
        fail(q, 400, "pending, approved, applied, rejected or failed",
             "state \"%.64s\" is not a proposal state", state);
        return NULL;
    }
    if (state)
        json_object_set_new(args, "state", json_string(state));
    if (q_str(q, "table"))
        json_object_set_new(args, "table", json_string(q_str(q, "table")));
    return call_tool(q, "list_proposals", args, 500);
}

/* The proposal of the path (in a), or NULL after failing. */
static pm_proposal *proposal_of(rest_q *q, pm_arena *a)
{
    long long id;
    if (!path_id(q, 0, "proposal", &id))
        return NULL;
    pm_err err = {0};
    pm_proposal *ps;
    size_t n;
    if (store_proposals_list(q->t->store, NULL, NULL, id, a, &ps, &n, &err) != PM_OK) {
        fail_err(q, 500, &err);
        return NULL;
    }
    if (!n) {
        fail(q, 404, "GET " REST_PREFIX "/proposals lists them", "no proposal %lld", id);
        return NULL;
    }
    return &ps[0];
}

static json_t *h_proposal(rest_q *q)
{
    pm_arena *a = pm_arena_new(0);
    pm_proposal *p = proposal_of(q, a);
    json_t *o = p ? view_proposal(p) : NULL;
    pm_arena_free(a);
    return o;
}

/* The actor is the authenticated user's name, and nothing in the request
 * (its body is not even read). */
static json_t *decide(rest_q *q, bool approve)
{
    pm_arena *a = pm_arena_new(0);
    pm_proposal *p = proposal_of(q, a);
    json_t *o = NULL;
    heal_outcome out;
    pm_err err = {0};
    if (p && tools_decide(q->t, p, approve, q->actor, &out, &err) != PM_OK) {
        fail_err(q, refusal_status(&err), &err);
    } else if (p) {
        pm_proposal *now;
        size_t n;
        if (store_proposals_list(q->t->store, NULL, NULL, p->id, a, &now, &n, &err) != PM_OK ||
            !n) {
            fail_err(q, 500, &err);
        } else {
            o = json_pack("{s:o, s:s}", "proposal", view_proposal(&now[0]), "decided_by", q->actor);
            if (approve)
                json_object_update_new(o, json_pack("{s:i, s:i, s:I, s:I}", "from_version",
                                                    out.from_version, "to_version", out.to_version,
                                                    "replayed", (json_int_t)out.replayed, "waiting",
                                                    (json_int_t)out.waiting));
        }
    }
    pm_arena_free(a);
    return o;
}

static json_t *h_approve(rest_q *q)
{
    return decide(q, true);
}

static json_t *h_reject(rest_q *q)
{
    return decide(q, false);
}

/* ---- quarantine ------------------------------------------------------------------------------ */

/* Newest first; next_cursor (null on the last page) gives the next. */
static json_t *h_quarantine(rest_q *q)
{
    long long limit, run, cursor;
    if (!q_int(q, "limit", 1, PAGE_MAX, 50, &limit) || !q_int(q, "run", 1, INT64_MAX, 0, &run) ||
        !q_int(q, "cursor", 1, INT64_MAX, 0, &cursor))
        return NULL;
    const char *kind = q_str(q, "kind");
    pm_finding_kind k;
    if (kind && !drift_kind_parse(kind, &k)) {
        fail(q, 400,
             "new_field, widen, type_conflict, null_violation, nested, rename, format, contract, "
             "malformed, volume or out_of_band",
             "kind \"%.64s\" is not a finding kind", kind);
        return NULL;
    }
    pm_qrow_filter f = {.table = q_str(q, "table"), .run_id = run, .kind = kind, .before = cursor};
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    pm_qrow *rows;
    size_t n;
    if (store_quarantine_browse(q->t->store, &f, (int)limit + 1, a, &rows, &n, &err) != PM_OK) {
        fail_err(q, 500, &err);
        pm_arena_free(a);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && (long long)i < limit; i++)
        json_array_append_new(arr, view_qrow(&rows[i], VIEW_RAW_EXACT, RAW_MAX));
    bool more = (long long)n > limit;
    json_t *o = json_pack("{s:o, s:o}", "rows", arr, "next_cursor",
                          more ? json_sprintf("%lld", (long long)rows[limit - 1].id) : json_null());
    pm_arena_free(a);
    return o;
}

/* ---- audit, metrics ------------------------------------------------------------------------- */

static json_t *h_audit(rest_q *q)
{
    long long after, limit;
    if (!q_int(q, "after", 0, INT64_MAX, 0, &after) || !q_int(q, "limit", 1, PAGE_MAX, 50, &limit))
        return NULL;
    return call_tool(
        q, "read_audit_log",
        json_pack("{s:I, s:I}", "after_seq", (json_int_t)after, "limit", (json_int_t)limit), 500);
}

static json_t *h_audit_verify(rest_q *q)
{
    return call_tool(q, "verify_audit_log", json_object(), 500);
}

/* ---- the agent's sessions ------------------------------------------------------------------ */

static json_t *h_agent_sessions(rest_q *q)
{
    long long limit, incident;
    if (!q_int(q, "limit", 1, 500, 50, &limit) || !q_int(q, "incident", 0, INT64_MAX, 0, &incident))
        return NULL;
    json_t *args = json_pack("{s:I}", "limit", (json_int_t)limit);
    if (incident)
        json_object_set_new(args, "incident", json_integer(incident));
    return call_tool(q, "list_agent_sessions", args, 500);
}

static json_t *h_agent_session(rest_q *q)
{
    long long id;
    if (!path_id(q, 0, "agent session", &id))
        return NULL;
    return call_tool(q, "get_agent_session", json_pack("{s:I}", "id", (json_int_t)id), 404);
}

static json_t *h_metrics(rest_q *q)
{
    return call_tool(q, "get_metrics", json_object(), 500);
}

static json_t *h_openapi(rest_q *q);

/* ---- the table ---------------------------------------------------------------------------- */

#define P_LIMIT(def)                                                                               \
    {                                                                                              \
        "limit", P_INT, "at most this many (1-1000; default " #def ")"                             \
    }

static const rest_route routes[] = {
    {.method = "GET",
     .pattern = "/agent/sessions",
     .cache = true,
     .operation_id = "listAgentSessions",
     .tag = "agent",
     .need = NEED_READ,
     .fn = h_agent_sessions,
     .summary = "The reasoning agent's sessions, newest first, with how each ended",
     .params = {{"incident", P_INT, "only the sessions on this incident"}, P_LIMIT(50)}},
    {.method = "GET",
     .pattern = "/agent/sessions/{id}",
     .cache = true,
     .operation_id = "getAgentSession",
     .tag = "agent",
     .need = NEED_READ,
     .fn = h_agent_session,
     .summary = "One agent session with every model call and tool call in order"},
    {.method = "GET",
     .pattern = "/pipelines",
     .operation_id = "listPipelines",
     .tag = "pipelines",
     .need = NEED_READ,
     .fn = h_pipelines,
     .summary = "The pipelines of pipemend.yaml with their tables, sources and policies"},
    {.method = "GET",
     .pattern = "/pipelines/{name}",
     .operation_id = "getPipelineStatus",
     .tag = "pipelines",
     .need = NEED_READ,
     .fn = h_pipeline,
     .summary = "A pipeline's status: its last run, rows, quarantined rows, active incidents"},
    {.method = "GET",
     .pattern = "/pipelines/{name}/history",
     .operation_id = "getPipelineHistory",
     .tag = "pipelines",
     .need = NEED_READ,
     .fn = h_pipeline_history,
     .summary = "A pipeline's recent runs, newest first",
     .params = {P_LIMIT(20)}},
    {.method = "POST",
     .pattern = "/pipelines/{name}/trigger",
     .operation_id = "triggerPipeline",
     .tag = "pipelines",
     .need = NEED_ACT,
     .fn = h_pipeline_trigger,
     .summary =
         "Run a pipeline now (refused while it runs, and within 60 s of its last start: 409)"},
    {.method = "GET",
     .pattern = "/runs",
     .cache = true,
     .operation_id = "listRuns",
     .tag = "runs",
     .need = NEED_READ,
     .fn = h_runs,
     .summary = "Recent runs, newest first",
     .params = {{"pipeline", P_STR, "only this pipeline's"},
                {"table", P_STR, "only runs into this table"},
                P_LIMIT(50)}},
    {.method = "GET",
     .pattern = "/runs/{id}/log",
     .operation_id = "getRunLog",
     .tag = "runs",
     .need = NEED_READ,
     .fn = h_run_log,
     .summary = "A run with its counts, its quarantined rows by kind and its audit events"},
    {.method = "GET",
     .pattern = "/tables",
     .cache = true,
     .operation_id = "listTables",
     .tag = "tables",
     .need = NEED_READ,
     .fn = h_tables,
     .summary = "The tables pipemend manages, with rows and quarantined rows"},
    {.method = "GET",
     .pattern = "/tables/{name}",
     .cache = true,
     .operation_id = "getTableSchema",
     .tag = "tables",
     .need = NEED_READ,
     .fn = h_table,
     .summary = "A table's logical schema: columns, types, nullability, version"},
    {.method = "POST",
     .pattern = "/tables/{name}/replay",
     .operation_id = "replayQuarantine",
     .tag = "tables",
     .need = NEED_ACT,
     .fn = h_table_replay,
     .summary = "Replay a table's quarantine: rows that fit now load and leave it"},
    {.method = "GET",
     .pattern = "/incidents",
     .cache = true,
     .operation_id = "listIncidents",
     .tag = "incidents",
     .need = NEED_READ,
     .fn = h_incidents,
     .summary = "Incidents, newest first",
     .params = {{"table", P_STR, "only this table's"},
                {"active_only", P_BOOL, "skip resolved and dismissed ones (default true)"},
                P_LIMIT(50)}},
    {.method = "GET",
     .pattern = "/incidents/{id}",
     .cache = true,
     .operation_id = "getIncident",
     .tag = "incidents",
     .need = NEED_READ,
     .fn = h_incident,
     .summary = "An incident's diagnostic packet: findings, samples (exact bytes), sources, run, "
                "proposals"},
    {.method = "POST",
     .pattern = "/incidents/{id}/dismiss",
     .operation_id = "dismissIncident",
     .tag = "incidents",
     .need = NEED_DECIDE,
     .fn = h_incident_dismiss,
     .summary = "Dismiss an active incident as the authenticated operator (body: optional "
                "{\"reason\": ...}); its rows stay in quarantine"},
    {.method = "GET",
     .pattern = "/proposals",
     .cache = true,
     .operation_id = "listProposals",
     .tag = "proposals",
     .need = NEED_READ,
     .fn = h_proposals,
     .summary = "Proposals, newest first",
     .params = {{"table", P_STR, "only this table's"},
                {"state", P_STR, "pending, approved, applied, rejected or failed"}}},
    {.method = "GET",
     .pattern = "/proposals/{id}",
     .cache = true,
     .operation_id = "getProposal",
     .tag = "proposals",
     .need = NEED_READ,
     .fn = h_proposal,
     .summary = "A proposal: its typed ops, reasons, policy class and dry run"},
    {.method = "POST",
     .pattern = "/proposals/{id}/approve",
     .operation_id = "approveProposal",
     .tag = "proposals",
     .need = NEED_DECIDE,
     .fn = h_approve,
     .summary =
         "Approve a pending proposal as the authenticated operator: the guard, the policy and a "
         "dry run check it again, then it is applied and the table's quarantine replayed"},
    {.method = "POST",
     .pattern = "/proposals/{id}/reject",
     .operation_id = "rejectProposal",
     .tag = "proposals",
     .need = NEED_DECIDE,
     .fn = h_reject,
     .summary = "Reject a pending proposal as the authenticated operator"},
    {.method = "GET",
     .pattern = "/quarantine",
     .cache = true,
     .operation_id = "listQuarantine",
     .tag = "quarantine",
     .need = NEED_READ,
     .fn = h_quarantine,
     .summary = "Quarantined rows, newest first, a page at a time (next_cursor gives the next)",
     .params = {{"table", P_STR, "only this table's"},
                {"kind", P_STR, "only rows with a finding of this kind"},
                {"run", P_INT, "only rows of this run"},
                {"cursor", P_INT, "the next_cursor of the page before"},
                P_LIMIT(50)}},
    {.method = "GET",
     .pattern = "/audit",
     .cache = true,
     .operation_id = "listAuditEvents",
     .tag = "audit",
     .need = NEED_READ,
     .fn = h_audit,
     .summary = "Audit events, oldest first, a page at a time (next_after_seq gives the next)",
     .params = {{"after", P_INT, "events after this seq (default 0)"}, P_LIMIT(50)}},
    {.method = "GET",
     .pattern = "/audit/verify",
     .operation_id = "verifyAudit",
     .tag = "audit",
     .need = NEED_READ,
     .fn = h_audit_verify,
     .summary = "Verify the audit hash chain (and the anchor file, if configured)"},
    {.method = "GET",
     .pattern = "/metrics",
     .operation_id = "getMetrics",
     .tag = "metrics",
     .need = NEED_READ,
     .fn = h_metrics,
     .summary = "Metrics as JSON: incidents and time to recovery, runs, the server's tool calls"},
    {.method = "GET",
     .pattern = "/openapi.json",
     .operation_id = "getOpenAPI",
     .tag = "meta",
     .need = NEED_READ,
     .fn = h_openapi,
     .summary = "This API as an OpenAPI 3.1 document, made from the route table that serves it",
     .no_store = true},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* Does path (below the prefix) fit pattern? Captures the {...} segments
 * into q (may be NULL). */
static bool fits(const char *pattern, const char *path, rest_q *q)
{
    int nargs = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        const char *pe = strchr(pattern, '/'), *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pattern[0] == '{') {
            if (sl == 0 || sl >= sizeof q->argbuf[0] || nargs == MAX_PATH_ARGS ||
                !pm_utf8_valid(path, sl))
                return false;
            if (q) {
                memcpy(q->argbuf[nargs], path, sl);
                q->argbuf[nargs][sl] = 0;
                q->args[nargs] = q->argbuf[nargs];
            }
            nargs++;
        } else if (pl != sl || strncmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl, path += sl;
    }
    return !*pattern && !*path;
}

/* The route for the request, else NULL after answering 404 or 405. */
static const rest_route *route_of(http_req *rq, rest_q *q)
{
    const char *path = http_req_path(rq) + strlen(REST_PREFIX);
    const char *method = http_req_method(rq);
    char allow[64] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        if (!fits(routes[i].pattern, path, NULL))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            fits(routes[i].pattern, path, q);
            return &routes[i];
        }
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", routes[i].method);
    }
    if (allow[0]) {
        static __thread char allow_kept[64]; /* the header is borrowed until the answer */
        snprintf(allow_kept, sizeof allow_kept, "%s", allow);
        http_add_header(rq, "Allow", allow_kept);
        char msg[160];
        snprintf(msg, sizeof msg, "Method Not Allowed: %s takes %s", http_req_path(rq), allow);
        answer_error(rq, 405, msg, NULL, NULL);
    } else {
        answer_error(rq, 404, "Not Found: no such REST route", NULL,
                     "GET " REST_PREFIX "/openapi.json lists the routes");
    }
    return NULL;
}

static bool may(const rest_route *r, const users_user *u)
{
    switch (r->need) {
    case NEED_READ:
        return true;
    case NEED_ACT:
        return !u || u->role != USERS_VIEWER;
    case NEED_DECIDE:
        return u && u->role == USERS_OPERATOR;
    }
    return false;
}

/* Steps 2-3 of server.h for this prefix: route and role, before the body. */
static void rest_headers(void *arg, http_req *rq)
{
    rest_q q = {0};
    const rest_route *r = route_of(rq, &q);
    if (!r)
        return;
    const users_user *u = http_req_user(rq);
    if (may(r, u))
        return;
    char msg[256];
    if (u)
        snprintf(msg, sizeof msg, "Forbidden: %s is %s %s, and %s %s needs the role %s", u->name,
                 u->role == USERS_AGENT ? "an" : "a", users_role_name(u->role), r->method,
                 http_req_path(rq), r->need == NEED_DECIDE ? "operator" : "operator or agent");
    else
        snprintf(msg, sizeof msg,
                 "Forbidden: %s %s needs a named operator; the server's token names no one",
                 r->method, http_req_path(rq));
    answer_error(rq, 403, msg,
                 r->need == NEED_DECIDE ? "approving, rejecting and dismissing are a person's "
                                          "acts, recorded under their name"
                                        : NULL,
                 r->need == NEED_DECIDE
                     ? "pipemend users add NAME --role operator gives a person a token; or "
                       "pipemend proposals approve|reject ID on the command line"
                     : NULL);
}

/* The cache's key of a request: its path and the route's parameters it
 * sent, in the route's order. false when it does not fit (not kept). */
static bool cache_key(http_req *rq, const rest_route *r, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s", http_req_path(rq));
    for (const rest_param *p = r->params; p->name && n >= 0 && (size_t)n < cap; p++) {
        const char *v = http_req_arg(rq, p->name);
        if (v)
            n += snprintf(out + n, cap - (size_t)n, "\x1f%s=%s", p->name, v);
    }
    return n >= 0 && (size_t)n < cap;
}

/* Answers from the slot's cache when it holds key under token and cfg. */
static bool cache_answer(rest_slot *slot, http_req *rq, const char *key, const char *token,
                         const pm_config *cfg)
{
    for (int i = 0; i < REST_CACHE; i++) {
        rest_cached *e = &slot->cache[i];
        if (e->key && e->cfg == cfg && strcmp(e->key, key) == 0 && strcmp(e->token, token) == 0) {
            http_answer(rq, 200, "application/json", e->body, e->len);
            return true;
        }
    }
    return false;
}

static void cache_drop(rest_cached *e)
{
    free(e->key);
    free(e->body);
    *e = (rest_cached){0};
}

/* Answers out (stolen) and keeps its bytes under key, token and cfg. */
static void cache_keep(rest_slot *slot, http_req *rq, const char *key, const char *token,
                       const pm_config *cfg, json_t *out)
{
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text) {
        http_answer_error(rq, 500, "Internal error: cannot write the answer");
        return;
    }
    size_t len = strlen(text);
    http_answer(rq, 200, "application/json", text, len);
    rest_cached *e = NULL;
    for (int i = 0; i < REST_CACHE && !e; i++) /* the same page, made again */
        if (slot->cache[i].key && strcmp(slot->cache[i].key, key) == 0)
            e = &slot->cache[i];
    if (!e)
        e = &slot->cache[slot->next++ % REST_CACHE];
    cache_drop(e);
    if (len > REST_CACHE_BODY_MAX || !(e->key = strdup(key))) {
        free(text);
        return;
    }
    snprintf(e->token, sizeof e->token, "%s", token);
    e->cfg = cfg;
    e->body = text;
    e->len = len;
}

/* A free slot, locked; when all are busy, waits for one (in turn). */
static rest_slot *take_slot(rest *R)
{
    unsigned start = atomic_fetch_add(&R->next, 1u);
    for (unsigned i = 0; i < REST_STORES; i++) {
        rest_slot *slot = &R->slots[(start + i) % REST_STORES];
        if (pthread_mutex_trylock(&slot->mu) == 0)
            return slot;
    }
    rest_slot *slot = &R->slots[start % REST_STORES];
    pthread_mutex_lock(&slot->mu);
    return slot;
}

static void rest_handle(void *arg, http_req *rq)
{
    rest *R = arg;
    rest_q q = {.r = R, .rq = rq, .user = http_req_user(rq)};
    const rest_route *r = route_of(rq, &q);
    if (!r)
        return;
    if (!q.user)
        snprintf(q.actor, sizeof q.actor, "agent:serve-token");
    else
        snprintf(q.actor, sizeof q.actor, "%s:%s", q.user->role == USERS_AGENT ? "agent" : "human",
                 q.user->name);
    /* names and values go into JSON and SQL as text: UTF-8 only */
    for (const rest_param *p = r->params; p->name; p++) {
        const char *v = http_req_arg(rq, p->name);
        if (v && !pm_utf8_valid(v, strlen(v))) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is not UTF-8", p->name);
            answer_error(rq, 400, msg, NULL, NULL);
            return;
        }
    }
    json_t *out;
    if (r->no_store) {
        out = r->fn(&q);
    } else {
        rest_slot *slot = take_slot(R);
        q.t = &slot->t;
        q.t->cfg = *R->cfg; /* a reload (SIGHUP) replaces it; the old one stays alive */
        tool_call c = {.ops = &rest_call_ops, .face = &q, .actor = q.actor};
        char key[1024], token[STORE_DATA_TOKEN_MAX];
        bool keep = false;
        if (tools_store(q.t, &c)) {
            pm_err err = {0};
            keep = r->cache && cache_key(rq, r, key, sizeof key) &&
                   store_data_token(q.t->store, token, sizeof token, &err) == PM_OK;
            if (keep && cache_answer(slot, rq, key, token, q.t->cfg)) {
                pthread_mutex_unlock(&slot->mu);
                return;
            }
            out = r->fn(&q);
        } else {
            out = NULL;
        }
        if (!out && q.failed && !q.status)
            q.status = 500;
        if (out && keep) {
            cache_keep(slot, rq, key, token, q.t->cfg, out);
            pthread_mutex_unlock(&slot->mu);
            return;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    if (out) {
        answer_json(rq, 200, out);
        return;
    }
    if (!q.failed)
        fail(&q, 500, NULL, "%s %s gave no answer", r->method, http_req_path(rq));
    answer_error(rq, q.status ? q.status : 500, q.msg, q.detail, q.hint);
}

/* ---- OpenAPI ------------------------------------------------------------------------------- */

static json_t *schema_of(ptype t)
{
    return json_pack("{s:s}", "type", t == P_INT ? "integer" : t == P_BOOL ? "boolean" : "string");
}

static json_t *error_response(const char *why)
{
    return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", why, "content", "application/json",
                     "schema", "$ref", "#/components/schemas/Error");
}

static json_t *operation(const rest_route *r)
{
    json_t *params = json_array(), *roles = json_array();
    bool has_id = false, has_path = false;
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
        bool is_id = strcmp(name, "id") == 0;
        has_id |= is_id;
        has_path = true;
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}", "name", name, "in", "path",
                                                "required", true, "schema",
                                                schema_of(is_id ? P_INT : P_STR)));
    }
    for (const rest_param *p = r->params; p->name; p++)
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", p->name, "in",
                                                "query", "required", false, "description",
                                                p->description, "schema", schema_of(p->type)));
    for (int i = 0; i < 4 && need_roles[r->need][i]; i++)
        json_array_append_new(roles, json_string(need_roles[r->need][i]));
    json_t *resp = json_pack("{s:{s:s, s:{s:{s:{s:s}}}}, s:o, s:o}", "200", "description", "OK",
                             "content", "application/json", "schema", "type", "object", "401",
                             error_response("no token, or one this server does not know"), "500",
                             error_response("the warehouse failed"));
    if (r->params[0].name || has_id)
        json_object_set_new(resp, "400", error_response("a parameter is not valid"));
    if (r->need != NEED_READ) {
        json_object_set_new(resp, "403", error_response("the caller's role may not"));
        json_object_set_new(resp, "409", error_response("the state forbids it now"));
    }
    if (has_path)
        json_object_set_new(resp, "404", error_response("no such thing"));
    return json_pack("{s:s, s:s, s:[s], s:o, s:o, s:o}", "operationId", r->operation_id, "summary",
                     r->summary, "tags", r->tag, "parameters", params, "x-pipemend-roles", roles,
                     "responses", resp);
}

static json_t *h_openapi(rest_q *q)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < NROUTES; i++) {
        json_t *item = json_object_get(paths, routes[i].pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, routes[i].pattern, item);
        }
        char method[8];
        size_t k = 0;
        for (; routes[i].method[k] && k < sizeof method - 1; k++)
            method[k] = (char)(routes[i].method[k] | 0x20);
        method[k] = 0;
        json_object_set_new(item, method, operation(&routes[i]));
    }
    json_t *error =
        json_pack("{s:s, s:[s], s:{s:{s:s, s:[s,s,s], s:{s:{s:s}, s:{s:[s,s]}, s:{s:[s,s]}}}}}",
                  "type", "object", "required", "error", "properties", "error", "type", "object",
                  "required", "message", "detail", "hint", "properties", "message", "type",
                  "string", "detail", "type", "string", "null", "hint", "type", "string", "null");
    return json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:[{s:[]}], s:{s:{s:{s:s, s:s}}, s:{s:o}}, s:o}",
        "openapi", "3.1.0", "info", "title", "pipemend REST API", "version", q->r->version,
        "description",
        "pipemend's pipelines, runs, tables, incidents, proposals, quarantine, audit log and "
        "metrics. Every request sends \"Authorization: Bearer TOKEN\": a user's token (pipemend "
        "users add NAME --role viewer|operator|agent) or the server's. x-pipemend-roles names "
        "who may call each operation.",
        "servers", "url", REST_PREFIX, "security", "bearer", "components", "securitySchemes",
        "bearer", "type", "http", "scheme", "bearer", "schemas", "Error", error, "paths", paths);
}

/* ---- mounting ------------------------------------------------------------------------------ */

static void rest_free(void *arg)
{
    rest *R = arg;
    for (int i = 0; i < REST_STORES; i++) {
        for (int k = 0; k < REST_CACHE; k++)
            cache_drop(&R->slots[i].cache[k]);
        if (R->slots[i].t.store)
            store_close(R->slots[i].t.store);
        pthread_mutex_destroy(&R->slots[i].mu);
    }
    free(R);
}

pm_code rest_mount(http_server *srv, const char *db, pm_config *const *cfg, const char *version,
                   pm_err *err)
{
    rest *R = calloc(1, sizeof *R);
    if (!R)
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < REST_STORES; i++) {
        R->slots[i].t = (tools_ctx){.db = db, .cfg = *cfg};
        pthread_mutex_init(&R->slots[i].mu, NULL);
    }
    R->cfg = cfg;
    R->version = version;
    http_route r = {.path = REST_PREFIX,
                    .prefix = true,
                    .max_body = MAX_BODY,
                    .headers = rest_headers,
                    .handle = rest_handle,
                    .free = rest_free,
                    .arg = R};
    pm_code rc = http_server_mount(srv, &r, err);
    if (rc != PM_OK)
        rest_free(R);
    return rc;
}
