/* scheduler.c - pipelines run by schedule, interval and file watch, shared
 * between replicas through leases (scheduler.h). */
#include "daemon/scheduler.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/log.h"
#include "daemon/review.h"
#include "pipeline/metrics.h"
#include "pipeline/pipeline.h"

/* Pipelines the scheduler keeps state for. */
#define SCHED_MAX 256
/* A watched file must be quiet this long before its run (ms). */
#define WATCH_DEBOUNCE_MS 1000
/* How often the loop looks (ms), and how often it reaps dead runs (s). */
#define TICK_MS 250
#define REAP_EVERY_S 10
/* How often waiting proposals are handed to review (s). */
#define REVIEW_EVERY_S 3
/* While a pipeline's last run is `running` in another process (a replica,
 * or one that died), the loop reaps this often (ms): a replica killed
 * mid-run must hand its pipelines over within lease_seconds, not within
 * REAP_EVERY_S. */
#define REAP_BUSY_MS 1000

typedef struct pipe_state {
    char name[128];
    bool running;
    bool joinable;
    pthread_t worker;
    double dirty_at;            /* ms (monotonic) of the last watched event, 0: none */
    double lease_renewed;       /* ms of the last renewal while running */
    const pm_pipeline_cfg *cfg; /* for the worker: from the config it started under */
    struct sched *owner;
} pipe_state;

typedef struct watch_dir {
    int wd;
    char dir[PATH_MAX];
} watch_dir;

/* Configurations loaded by SIGHUP, kept until sched_free (runs in
 * progress and other faces may still read an older one). */
#define SCHED_RELOADS_MAX 64

struct sched {
    char *db;
    sched_opts o;
    pm_config *loaded[SCHED_RELOADS_MAX];
    size_t nloaded;
    pm_config *cfg; /* current; guarded by mu */
    bool cfg_changed;
    pthread_mutex_t mu;
    pthread_t thread;
    volatile int stopping;
    /* scheduling (holds the SQLite scheduler lease, or PostgreSQL); read by
     * /readyz on the HTTP server's threads */
    _Atomic bool active;
    bool refused_said;
    bool foreign_running;       /* a due() saw a run of another process in progress */
    double sched_lease_renewed; /* ms of the last renewal of the SQLite scheduler's lease */
    char replica[200];
    time_t started;
    pipe_state pipes[SCHED_MAX];
    size_t npipes;
    size_t running;
    int ifd; /* inotify, -1: none */
    watch_dir dirs[64];
    size_t ndirs;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static pipe_state *state_of(sched *s, const char *name)
{
    for (size_t i = 0; i < s->npipes; i++)
        if (strcmp(s->pipes[i].name, name) == 0)
            return &s->pipes[i];
    if (s->npipes == SCHED_MAX)
        return NULL;
    pipe_state *p = &s->pipes[s->npipes++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->owner = s;
    return p;
}

static bool has_trigger(const pm_pipeline_cfg *p)
{
    return p->has_cron || p->every > 0 || p->watch;
}

/* ---- watching ------------------------------------------------------------------ */

/* The directory and file pattern of a source glob (dir and pattern point
 * into buf). */
static void split_source(const char *source, char *buf, size_t n, const char **dir,
                         const char **pattern)
{
    snprintf(buf, n, "%s", source);
    char *slash = strrchr(buf, '/');
    if (!slash) {
        *dir = ".";
        *pattern = buf;
    } else {
        *slash = '\0';
        *dir = slash == buf ? "/" : buf;
        *pattern = slash + 1;
    }
}

static void watch_all(sched *s, const pm_config *cfg)
{
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const pm_pipeline_cfg *p = &cfg->pipelines[i];
        if (!p->watch || strcmp(p->source, "-") == 0 || s->ifd < 0)
            continue;
        char buf[PATH_MAX];
        const char *dir, *pattern;
        split_source(p->source, buf, sizeof buf, &dir, &pattern);
        bool known = false;
        for (size_t k = 0; k < s->ndirs; k++)
            known |= strcmp(s->dirs[k].dir, dir) == 0;
        if (known || s->ndirs == sizeof s->dirs / sizeof s->dirs[0])
            continue;
        int wd =
            inotify_add_watch(s->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY | IN_CREATE);
        if (wd < 0) {
            pm_warn("serve: cannot watch %s for pipeline %s: %s", dir, p->name, strerror(errno));
            continue;
        }
        s->dirs[s->ndirs].wd = wd;
        snprintf(s->dirs[s->ndirs].dir, sizeof s->dirs[s->ndirs].dir, "%s", dir);
        s->ndirs++;
    }
}

/* Reads what inotify has and marks the pipelines whose files moved. */
static void drain_watch(sched *s, const pm_config *cfg)
{
    if (s->ifd < 0)
        return;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(s->ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (!ev->len)
                continue;
            const char *dir = NULL;
            for (size_t k = 0; k < s->ndirs; k++)
                if (s->dirs[k].wd == ev->wd)
                    dir = s->dirs[k].dir;
            for (size_t i = 0; dir && i < cfg->npipelines; i++) {
                const pm_pipeline_cfg *pc = &cfg->pipelines[i];
                if (!pc->watch)
                    continue;
                char sb[PATH_MAX];
                const char *pdir, *pattern;
                split_source(pc->source, sb, sizeof sb, &pdir, &pattern);
                if (strcmp(pdir, dir) == 0 && fnmatch(pattern, ev->name, 0) == 0) {
                    pipe_state *st = state_of(s, pc->name);
                    if (st)
                        st->dirty_at = now_ms();
                }
            }
        }
    }
}

/* ---- when a pipeline is due ------------------------------------------------------- */

/* Whether p is due now, from its last run in the warehouse; why names the
 * trigger. */
static bool due(sched *s, pm_store *st, const pm_pipeline_cfg *p, pipe_state *ps, time_t now,
                const char **why)
{
    pm_arena *a = pm_arena_new(0);
    pm_run *runs;
    size_t n;
    pm_err err = {0};
    bool is_due = false;
    if (store_runs_list(st, p->name, NULL, 1, a, &runs, &n, &err)) {
        pm_warn("serve: cannot read the runs of %s: %s", p->name, err.msg);
        pm_arena_free(a);
        return false;
    }
    double last = 0;
    bool has_last = n == 1 && metrics_parse_time(runs[0].started_at, &last);
    if (has_last && runs[0].status == RUN_RUNNING) {
        if (!ps->running)
            s->foreign_running = true; /* perhaps of a process that died: reap soon */
        pm_arena_free(a);
        return false; /* running here or elsewhere */
    }
    if (has_last && (runs[0].status == RUN_STOPPED || runs[0].status == RUN_ABORTED)) {
        is_due = true;
        *why = "resume";
    }
    if (!is_due && p->every > 0 && (!has_last || (double)now >= last + (double)p->every)) {
        is_due = true;
        *why = "every";
    }
    if (!is_due && p->has_cron) {
        time_t next;
        time_t base = has_last ? (time_t)last : s->started;
        if (cron_next(&p->cron, base, &next) && next <= now) {
            is_due = true;
            *why = "schedule";
        }
    }
    if (!is_due && p->watch && ps->dirty_at > 0 && now_ms() - ps->dirty_at >= WATCH_DEBOUNCE_MS) {
        is_due = true;
        *why = "watch";
    }
    pm_arena_free(a);
    return is_due;
}

/* ---- a run ------------------------------------------------------------------------- */

static bool worker_should_stop(void *arg)
{
    return ((sched *)arg)->stopping != 0;
}

static void *worker(void *arg)
{
    pipe_state *ps = arg;
    sched *s = ps->owner;
    const pm_pipeline_cfg *p = ps->cfg;
    pm_err err = {0};
    pm_store *st = NULL;
    if (store_open_existing(s->db, &st, &err) != PM_OK) {
        pm_error("serve: %s: cannot open the warehouse: %s", p->name, err.msg);
    } else {
        pipeline_request req = {
            .pipeline = p, .exclusive = true, .should_stop = worker_should_stop, .stop_arg = s};
        ingest_result r;
        pthread_mutex_lock(&s->mu);
        pm_config *cfg = s->cfg;
        pthread_mutex_unlock(&s->mu);
        if (pipeline_run(st, cfg, &req, &r, &err) != PM_OK) {
            if (err.code == PM_ERR_BUSY)
                pm_info("serve: %s: %s", p->name, err.msg);
            else
                pm_error("serve: %s: %s", p->name, err.msg);
        } else {
            pm_info("serve: %s: run %lld %s: %lld read, %lld loaded, %lld quarantined", p->name,
                    (long long)r.run_id, run_status_name(r.status), (long long)r.read,
                    (long long)r.loaded, (long long)r.quarantined);
            /* the incidents the rules left, to the agent */
            if (p->agent_on_incident && cfg->agent.set && (r.quarantined || r.held) &&
                !s->stopping) {
                tools_ctx t = {.db = s->db, .cfg = cfg, .store = st};
                agent_opts o = {.tools = &t, .cfg = &cfg->agent};
                int64_t ids[64];
                size_t n = 0;
                if (agent_pending(&o, p->table, ids, 64, &n, &err) == PM_OK)
                    for (size_t i = 0; i < n && !s->stopping; i++) {
                        agent_outcome out;
                        if (agent_run(&o, ids[i], &out, &err) != PM_OK)
                            pm_warn("serve: agent on incident %lld: %s", (long long)ids[i],
                                    err.msg);
                        else
                            pm_info("serve: agent session %lld on incident %lld: %s",
                                    (long long)out.session, (long long)ids[i], out.outcome);
                    }
            }
        }
        char lease[160];
        snprintf(lease, sizeof lease, "pipeline:%s", p->name);
        store_lease_release(st, lease, s->replica, &err);
        store_close(st);
    }
    pthread_mutex_lock(&s->mu);
    ps->running = false;
    s->running--;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Takes p's lease, checks it is still due, and starts its run. */
static void start(sched *s, pm_store *st, const pm_pipeline_cfg *p, pipe_state *ps, time_t now,
                  int lease_s)
{
    char lease[160];
    snprintf(lease, sizeof lease, "pipeline:%s", p->name);
    bool got;
    const char *other;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    const char *why = "";
    if (store_lease_take(st, lease, s->replica, (int64_t)now, lease_s, &got, &other, a, &err)) {
        pm_warn("serve: cannot take the lease of %s: %s", p->name, err.msg);
        got = false;
    }
    pm_arena_free(a);
    if (!got)
        return; /* another replica runs it */
    /* another replica may have run it between our look and the lease */
    if (!due(s, st, p, ps, now, &why)) {
        store_lease_release(st, lease, s->replica, &err);
        return;
    }
    if (ps->joinable) {
        pthread_join(ps->worker, NULL);
        ps->joinable = false;
    }
    ps->cfg = p;
    pthread_mutex_lock(&s->mu);
    ps->running = true;
    s->running++;
    pthread_mutex_unlock(&s->mu);
    ps->dirty_at = 0; /* events from now on mark it again */
    ps->lease_renewed = now_ms();
    pm_info("serve: starting %s (%s)", p->name, why);
    if (pthread_create(&ps->worker, NULL, worker, ps) != 0) {
        pm_error("serve: cannot start a thread for %s", p->name);
        pthread_mutex_lock(&s->mu);
        ps->running = false;
        s->running--;
        pthread_mutex_unlock(&s->mu);
        store_lease_release(st, lease, s->replica, &err);
        return;
    }
    ps->joinable = true;
}

/* SQLite: one process schedules; the others serve only. */
static bool hold_scheduler_lease(sched *s, pm_store *st, time_t now, int lease_s)
{
    if (store_shared(st))
        return true;
    /* renewed every third of the lease, not at every tick: each write to a
     * SQLite file makes every other connection (REST's, MCP's) read its
     * pages again */
    if (s->active && now_ms() - s->sched_lease_renewed < lease_s * 1000.0 / 3)
        return true;
    bool got;
    const char *other;
    pm_arena *a = pm_arena_new(0);
    pm_err err = {0};
    if (store_lease_take(st, "scheduler", s->replica, (int64_t)now, lease_s, &got, &other, a,
                         &err)) {
        pm_warn("serve: cannot take the scheduler's lease: %s", err.msg);
        got = false;
    }
    if (!got && !s->refused_said) {
        pm_warn("serve: another pipemend serve (%s) schedules this SQLite warehouse; this one "
                "serves MCP but schedules nothing (a SQLite warehouse is one process's: use "
                "PostgreSQL for several replicas)",
                other ? other : "?");
        s->refused_said = true;
    }
    if (got)
        s->sched_lease_renewed = now_ms();
    if (got && s->refused_said) {
        pm_info("serve: the other scheduler is gone; this one schedules now");
        s->refused_said = false;
    }
    pm_arena_free(a);
    return got;
}

/* Whether a pipeline exports its proposals for review (review:). */
static bool wants_review(const pm_config *cfg)
{
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (cfg->pipelines[i].review_dir)
            return true;
    return false;
}

static void *loop(void *arg)
{
    sched *s = arg;
    pm_store *st = NULL;
    pm_err err = {0};
    double last_reap = 0, last_open_try = 0, last_review = 0;
    pm_config *watched = NULL;
    while (!s->stopping) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
        if (!st) {
            if (now_ms() - last_open_try < 5000)
                continue;
            last_open_try = now_ms();
            /* pipelines to run may create the warehouse, as `pipemend run` does;
             * without any, a mistyped path stays a mistake the tools report */
            size_t ntrig = 0;
            pthread_mutex_lock(&s->mu);
            for (size_t i = 0; i < s->cfg->npipelines; i++)
                ntrig += has_trigger(&s->cfg->pipelines[i]);
            pthread_mutex_unlock(&s->mu);
            if ((ntrig ? store_open : store_open_existing)(s->db, &st, &err) != PM_OK) {
                pm_warn("serve: the scheduler cannot open the warehouse (retrying): %s", err.msg);
                st = NULL;
                continue;
            }
        }
        if (s->o.reload && *s->o.reload) {
            *s->o.reload = 0;
            pm_config *fresh = NULL;
            if (s->nloaded == SCHED_RELOADS_MAX) {
                pm_warn("serve: pipemend.yaml not reloaded: %d reloads already; restart the "
                        "service",
                        SCHED_RELOADS_MAX);
            } else if (config_load(s->o.config_path, &fresh, &err) != PM_OK) {
                pm_error(
                    "serve: pipemend.yaml not reloaded, the configuration in use stays: %s%s%s%s",
                    err.msg, *err.hint ? " (" : "", err.hint, *err.hint ? ")" : "");
            } else {
                s->loaded[s->nloaded++] = fresh;
                pthread_mutex_lock(&s->mu);
                s->cfg = fresh;
                pthread_mutex_unlock(&s->mu);
                if (s->o.on_reload)
                    s->o.on_reload(s->o.reload_arg, fresh);
                size_t n = 0;
                for (size_t i = 0; i < fresh->npipelines; i++)
                    n += has_trigger(&fresh->pipelines[i]);
                pm_info("serve: configuration reloaded: scheduling %zu of %zu pipelines", n,
                        fresh->npipelines);
            }
        }
        pthread_mutex_lock(&s->mu);
        pm_config *cfg = s->cfg;
        pthread_mutex_unlock(&s->mu);
        if (cfg != watched) {
            watch_all(s, cfg);
            watched = cfg;
        }
        drain_watch(s, cfg);
        time_t now = time(NULL);
        int lease_s = cfg->serve.lease_seconds;
        s->active = hold_scheduler_lease(s, st, now, lease_s);
        if (!s->active)
            continue;
        if (now_ms() - last_review > REVIEW_EVERY_S * 1000.0 && wants_review(cfg)) {
            /* waiting proposals to the team's review, by one replica at a time */
            last_review = now_ms();
            bool got;
            const char *other;
            pm_arena *ra = pm_arena_new(0);
            if (store_lease_take(st, "review", s->replica, (int64_t)now, lease_s, &got, &other, ra,
                                 &err) == PM_OK &&
                got) {
                review_pass(st, cfg);
                store_lease_release(st, "review", s->replica, &err);
            }
            pm_arena_free(ra);
        }
        if (now_ms() - last_reap > REAP_EVERY_S * 1000.0 ||
            (s->foreign_running && now_ms() - last_reap > REAP_BUSY_MS)) {
            last_reap = now_ms();
            s->foreign_running = false;
            if (ingest_reap_aborted(st, &err) != PM_OK)
                pm_warn("serve: cannot reap aborted runs: %s", err.msg);
        }
        for (size_t i = 0; i < cfg->npipelines && !s->stopping; i++) {
            const pm_pipeline_cfg *p = &cfg->pipelines[i];
            if (!has_trigger(p))
                continue;
            pipe_state *ps = state_of(s, p->name);
            if (!ps)
                continue;
            pthread_mutex_lock(&s->mu);
            bool running = ps->running;
            bool room = s->running < (size_t)cfg->serve.max_concurrent;
            pthread_mutex_unlock(&s->mu);
            if (running) {
                /* keep the lease while the run lasts */
                if (now_ms() - ps->lease_renewed > lease_s * 1000.0 / 3) {
                    char lease[160];
                    bool got;
                    const char *other;
                    pm_arena *a = pm_arena_new(0);
                    snprintf(lease, sizeof lease, "pipeline:%s", p->name);
                    if (store_lease_take(st, lease, s->replica, (int64_t)now, lease_s, &got, &other,
                                         a, &err) == PM_OK &&
                        got)
                        ps->lease_renewed = now_ms();
                    pm_arena_free(a);
                }
                continue;
            }
            const char *why;
            if (room && due(s, st, p, ps, now, &why))
                start(s, st, p, ps, now, lease_s);
        }
    }
    if (st) {
        store_lease_release(st, "scheduler", s->replica, &err);
        store_close(st);
    }
    return NULL;
}

sched *sched_start(const sched_opts *o, pm_err *err)
{
    sched *s = calloc(1, sizeof *s);
    if (!s) {
        pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    s->db = strdup(o->db ? o->db : "");
    s->cfg = o->cfg;
    pm_config *cfg = o->cfg;
    s->started = time(NULL);
    pthread_mutex_init(&s->mu, NULL);
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->replica, sizeof s->replica, "%s:%d:%lx", host, (int)getpid(),
             (unsigned long)(ts.tv_nsec ^ (long)ts.tv_sec));
    s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->ifd < 0)
        pm_warn("serve: no inotify (%s): watch: pipelines will not start by themselves",
                strerror(errno));
    if (pthread_create(&s->thread, NULL, loop, s) != 0) {
        pm_err_set(err, PM_ERR_INTERNAL, "cannot start the scheduler's thread");
        if (s->ifd >= 0)
            close(s->ifd);
        free(s->db);
        free(s);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->npipelines; i++)
        n += has_trigger(&cfg->pipelines[i]);
    pm_info("serve: scheduling %zu of %zu pipelines (replica %s)", n, cfg->npipelines, s->replica);
    return s;
}

bool sched_active(const sched *s)
{
    return s && s->active;
}

void sched_stop(sched *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->npipes; i++)
        if (s->pipes[i].joinable) {
            pthread_join(s->pipes[i].worker, NULL);
            s->pipes[i].joinable = false;
        }
}

void sched_free(sched *s)
{
    if (!s)
        return;
    sched_stop(s);
    if (s->ifd >= 0)
        close(s->ifd);
    pthread_mutex_destroy(&s->mu);
    for (size_t i = 0; i < s->nloaded; i++)
        config_free(s->loaded[i]);
    free(s->db);
    free(s);
}
