/* review.c - waiting proposals exported for review, on git branches
 * (review.h). */
#include "daemon/review.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tools/export.h"

/* Runs git with argv (no shell), its output to out (may be NULL: dropped),
 * at most n bytes; the exit code, or -1 when it could not run. */
static int git(const char *const argv[], char *out, size_t n)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        close(fd[0]);
        close(fd[1]);
        execvp("git", (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    char sink[512];
    for (;;) {
        ssize_t r = read(fd[0], out && got + 1 < n ? out + got : sink,
                         out && got + 1 < n ? n - 1 - got : sizeof sink);
        if (r <= 0)
            break;
        if (out && got + 1 < n)
            got += (size_t)r;
    }
    close(fd[0]);
    if (out && n) {
        out[got] = '\0';
        while (got && (out[got - 1] == '\n' || out[got - 1] == '\r'))
            out[--got] = '\0';
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The export directory of p as a path: relative ones are relative to the
 * configuration file's directory. */
static void export_dir(const pm_config *cfg, const pm_pipeline_cfg *p, char *out, size_t n)
{
    const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
    if (p->review_dir[0] == '/' || !slash)
        snprintf(out, n, "%s", p->review_dir);
    else
        snprintf(out, n, "%.*s/%s", (int)(slash - cfg->path), cfg->path, p->review_dir);
}

/* mkdir -p path. */
static void make_dirs(const char *path)
{
    char cur[PATH_MAX + 16];
    if ((size_t)snprintf(cur, sizeof cur, "%s", path) >= sizeof cur)
        return;
    for (char *q = cur + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            mkdir(cur, 0755);
            *q = '/';
        }
    mkdir(cur, 0755);
}

/* One proposal onto its own branch. */
static void to_branch(pm_store *s, const pm_config *cfg, const pm_pipeline_cfg *p, const char *dir,
                      const pm_proposal *pr)
{
    char branch[300], top[PATH_MAX], real[PATH_MAX], ref[400];
    snprintf(branch, sizeof branch, "%sproposal-%lld", p->review_branch, (long long)pr->id);
    snprintf(ref, sizeof ref, "refs/heads/%s", branch);

    /* the directory may exist only on the branches: its nearest existing
     * ancestor is in the repository */
    char base[PATH_MAX], rest[PATH_MAX] = "";
    snprintf(base, sizeof base, "%s", dir);
    struct stat sb;
    while (stat(base, &sb) != 0) {
        char *slash = strrchr(base, '/');
        char tail[2 * PATH_MAX + 2];
        snprintf(tail, sizeof tail, "%s%s%s", slash ? slash + 1 : base, *rest ? "/" : "", rest);
        if (strlen(tail) >= sizeof rest)
            return;
        memcpy(rest, tail, strlen(tail) + 1);
        if (!slash) {
            snprintf(base, sizeof base, ".");
            break;
        }
        *slash = '\0';
        if (!*base)
            snprintf(base, sizeof base, "/");
    }
    const char *toplevel[] = {"git", "-C", base, "rev-parse", "--show-toplevel", NULL};
    char based[PATH_MAX];
    if (git(toplevel, top, sizeof top) != 0 || !realpath(base, based)) {
        pm_warn("serve: review of %s: %s is not inside a git repository", p->name, dir);
        return;
    }
    if ((size_t)snprintf(real, sizeof real, "%s%s%s", based, *rest ? "/" : "", rest) >= sizeof real)
        return;
    const char *exists[] = {"git", "-C", top, "rev-parse", "--verify", "--quiet", ref, NULL};
    if (git(exists, NULL, 0) == 0)
        return; /* handed over already */
    size_t tl = strlen(top);
    if (strncmp(real, top, tl) != 0 || (real[tl] != '/' && real[tl] != '\0')) {
        pm_warn("serve: review of %s: %s is not inside %s", p->name, real, top);
        return;
    }
    const char *rel = real[tl] == '/' ? real + tl + 1 : ".";
    char tmpl[] = "/tmp/pipemend-review-XXXXXX";
    if (!mkdtemp(tmpl)) {
        pm_warn("serve: review of %s: cannot make a temporary directory: %s", p->name,
                strerror(errno));
        return;
    }
    char wt[PATH_MAX];
    snprintf(wt, sizeof wt, "%s/tree", tmpl);
    char target[PATH_MAX];
    if ((size_t)snprintf(target, sizeof target, "%s/%s", wt, rel) >= sizeof target) {
        pm_warn("serve: review of %s: the path %s/%s is too long", p->name, wt, rel);
        rmdir(tmpl);
        return;
    }
    const char *add[] = {"git", "-C", top, "worktree", "add", "-q", "-b", branch, wt, "HEAD", NULL};
    if (git(add, NULL, 0) != 0) {
        pm_warn("serve: review of %s: git worktree add for %s failed", p->name, branch);
        rmdir(tmpl);
        return;
    }
    make_dirs(target);
    char sql[PATH_MAX + 600], md[PATH_MAX + 600];
    pm_err err = {0};
    bool ok = export_proposal(s, cfg, pr->id, target, sql, md, sizeof sql, &err) == PM_OK;
    if (!ok)
        pm_warn("serve: review of %s: cannot export proposal %lld: %s", p->name, (long long)pr->id,
                err.msg);
    char msg[600];
    snprintf(msg, sizeof msg, "pipemend: proposal %lld on %s for review", (long long)pr->id,
             pr->table);
    const char *stage[] = {"git", "-C", wt, "add", "--", rel, NULL};
    const char *commit[] = {"git",
                            "-C",
                            wt,
                            "-c",
                            "user.name=pipemend",
                            "-c",
                            "user.email=pipemend@localhost",
                            "commit",
                            "-q",
                            "-m",
                            msg,
                            NULL};
    if (ok && (git(stage, NULL, 0) != 0 || git(commit, NULL, 0) != 0)) {
        pm_warn("serve: review of %s: cannot commit proposal %lld on %s", p->name,
                (long long)pr->id, branch);
        ok = false;
    }
    const char *rm[] = {"git", "-C", top, "worktree", "remove", "--force", wt, NULL};
    git(rm, NULL, 0);
    rmdir(tmpl);
    if (!ok) {
        /* the branch without its commit would read as handed over: remove it */
        const char *del[] = {"git", "-C", top, "branch", "-D", branch, NULL};
        git(del, NULL, 0);
        return;
    }
    pm_info("serve: proposal %lld of %s is on branch %s for review", (long long)pr->id, p->name,
            branch);
}

void review_pass(pm_store *s, const pm_config *cfg)
{
    for (size_t i = 0; i < cfg->npipelines; i++) {
        const pm_pipeline_cfg *p = &cfg->pipelines[i];
        if (!p->review_dir)
            continue;
        char dir[PATH_MAX];
        export_dir(cfg, p, dir, sizeof dir);
        pm_arena *a = pm_arena_new(0);
        pm_proposal_state pending = PROP_PENDING;
        pm_proposal *ps;
        size_t n;
        pm_err err = {0};
        if (store_proposals_list(s, p->table, &pending, 0, a, &ps, &n, &err) != PM_OK) {
            pm_warn("serve: review of %s: %s", p->name, err.msg);
            n = 0;
        }
        for (size_t k = n; k-- > 0;) { /* oldest first */
            if (p->review_branch) {
                to_branch(s, cfg, p, dir, &ps[k]);
            } else if (!export_exists(dir, ps[k].id)) {
                char sql[PATH_MAX + 600], md[PATH_MAX + 600];
                if (export_proposal(s, cfg, ps[k].id, dir, sql, md, sizeof sql, &err) != PM_OK)
                    pm_warn("serve: review of %s: %s", p->name, err.msg);
                else
                    pm_info("serve: proposal %lld of %s exported to %s", (long long)ps[k].id,
                            p->name, sql);
            }
        }
        pm_arena_free(a);
    }
}
