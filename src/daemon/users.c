/* users.c - the users file (users.h): reading and writing it, tokens and
 * their hashes, and serve's live view that follows the file. */
#include "daemon/users.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "core/log.h"

#define USERS_MAX 10000
#define FILE_MAX (4u << 20)

static const char *const role_names[] = {
    [USERS_VIEWER] = "viewer", [USERS_OPERATOR] = "operator", [USERS_AGENT] = "agent"};

const char *users_role_name(users_role r)
{
    return (unsigned)r < 3 ? role_names[r] : "?";
}

bool users_role_parse(const char *s, users_role *out)
{
    for (int i = 0; s && i < 3; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (users_role)i;
            return true;
        }
    }
    return false;
}

bool users_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > USERS_NAME_MAX || name[0] == '-' || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void sha256(const char *s, size_t n, unsigned char out[USERS_HASH_BYTES])
{
    unsigned int len = 0;
    if (!EVP_Digest(s, n, out, &len, EVP_sha256(), NULL))
        memset(out, 0, USERS_HASH_BYTES);
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

static bool from_hex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return false;
        out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : (v << 4));
    }
    return true;
}

void users_list_free(users_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- reading -------------------------------------------------------------- */

static pm_code bad(pm_err *err, const char *path, const yaml_node_t *n, const char *what)
{
    pm_err_set(err, PM_ERR_CONFIG, "%s, line %lu: %s", path,
               n ? (unsigned long)n->start_mark.line + 1 : 1UL, what);
    pm_err_hint(err, "the file is kept by `pipemend users add|remove`; see `pipemend help users`");
    return PM_ERR_CONFIG;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static pm_code parse(const char *path, const char *text, size_t len, users_list *out, pm_err *err)
{
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        pm_err_set(err, PM_ERR_CONFIG, "%s, line %lu: %s", path,
                   (unsigned long)p.problem_mark.line + 1, p.problem ? p.problem : "not YAML");
        yaml_parser_delete(&p);
        return PM_ERR_CONFIG;
    }
    yaml_parser_delete(&p);
    pm_code rc = PM_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *seq = NULL;
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *kv = root->data.mapping.pairs.start;
             kv < root->data.mapping.pairs.top; kv++) {
            const char *k = scalar(yaml_document_get_node(&doc, kv->key));
            if (k && strcmp(k, "users") == 0)
                seq = yaml_document_get_node(&doc, kv->value);
            else {
                rc = bad(err, path, yaml_document_get_node(&doc, kv->key),
                         "unknown key (the file has one key, users)");
                goto done;
            }
        }
    } else if (root && !(root->type == YAML_SCALAR_NODE && !*scalar(root))) {
        rc = bad(err, path, root, "not a mapping with a users: list");
        goto done;
    }
    if (seq && scalar(seq) && !*scalar(seq))
        seq = NULL; /* "users:" with nothing */
    if (seq && seq->type != YAML_SEQUENCE_NODE) {
        rc = bad(err, path, seq, "users: is not a list");
        goto done;
    }
    size_t cnt = seq ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
    if (cnt > USERS_MAX) {
        rc = bad(err, path, seq, "more than 10000 users");
        goto done;
    }
    out->v = calloc(cnt ? cnt : 1, sizeof *out->v);
    out->n = 0;
    if (!out->v) {
        rc = pm_err_set(err, PM_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *item = yaml_document_get_node(&doc, seq->data.sequence.items.start[i]);
        if (!item || item->type != YAML_MAPPING_NODE) {
            rc = bad(err, path, item, "a user is not a mapping of name, role, token_sha256");
            goto done;
        }
        users_user u = {0};
        const char *name = NULL, *role = NULL, *hash = NULL, *created = NULL;
        for (yaml_node_pair_t *kv = item->data.mapping.pairs.start;
             kv < item->data.mapping.pairs.top; kv++) {
            yaml_node_t *kn = yaml_document_get_node(&doc, kv->key);
            const char *k = scalar(kn), *v = scalar(yaml_document_get_node(&doc, kv->value));
            if (!k || !v) {
                rc = bad(err, path, kn, "a user's keys and values are plain strings");
                goto done;
            }
            if (strcmp(k, "name") == 0)
                name = v;
            else if (strcmp(k, "role") == 0)
                role = v;
            else if (strcmp(k, "token_sha256") == 0)
                hash = v;
            else if (strcmp(k, "created_at") == 0)
                created = v;
            else {
                rc = bad(err, path, kn,
                         "unknown key (a user has name, role, token_sha256, created_at)");
                goto done;
            }
        }
        if (!users_name_ok(name)) {
            rc = bad(err, path, item, "a user's name is missing or not 1-64 of [A-Za-z0-9._-]");
            goto done;
        }
        if (!users_role_parse(role, &u.role)) {
            rc = bad(err, path, item, "a user's role is not viewer, operator or agent");
            goto done;
        }
        if (!hash || !from_hex(hash, u.hash, USERS_HASH_BYTES)) {
            rc = bad(err, path, item, "a user's token_sha256 is not 64 hex digits");
            goto done;
        }
        for (size_t j = 0; j < out->n; j++) {
            if (strcmp(out->v[j].name, name) == 0) {
                rc = bad(err, path, item, "a user's name appears twice");
                goto done;
            }
        }
        snprintf(u.name, sizeof u.name, "%s", name);
        snprintf(u.created_at, sizeof u.created_at, "%s", created ? created : "");
        out->v[out->n++] = u;
    }
done:
    yaml_document_delete(&doc);
    if (rc != PM_OK)
        users_list_free(out);
    return rc;
}

/* The file's text (caller frees), after the ownership check. */
static pm_code read_file(const char *path, char **text, size_t *len, bool *exists, struct stat *st,
                         pm_err *err)
{
    *text = NULL;
    *exists = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return PM_OK;
        return pm_err_set(err, PM_ERR_CONFIG, "cannot read the users file %s: %s", path,
                          strerror(errno));
    }
    *exists = true;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
        (st->st_mode & 022) || st->st_size > (off_t)FILE_MAX) {
        close(fd);
        pm_err_set(err, PM_ERR_CONFIG,
                   "the users file %s must be a regular file of this user that no one else may "
                   "write (and under 4 MiB)",
                   path);
        pm_err_hint(err, "chmod 600 it (whoever may write it may add themselves)");
        return PM_ERR_CONFIG;
    }
    char *buf = malloc((size_t)st->st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st->st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st->st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf)
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory reading %s", path);
    buf[got] = 0;
    *text = buf;
    *len = got;
    return PM_OK;
}

pm_code users_load(const char *path, users_list *out, bool *exists, pm_err *err)
{
    *out = (users_list){0};
    char *text;
    size_t len = 0;
    struct stat st;
    pm_code rc = read_file(path, &text, &len, exists, &st, err);
    if (rc != PM_OK || !*exists)
        return rc;
    rc = parse(path, text, len, out, err);
    free(text);
    return rc;
}

/* ---- writing -------------------------------------------------------------- */

static pm_code mkdirs(const char *path, pm_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return PM_OK;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return pm_err_set(err, PM_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pm_err_set(err, PM_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    return PM_OK;
}

static pm_code save(const char *path, const users_list *l, pm_err *err)
{
    pm_code rc = mkdirs(path, err);
    if (rc != PM_OK)
        return rc;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return pm_err_set(err, PM_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return pm_err_set(err, PM_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    fprintf(f, "# pipemend users: who may use `pipemend serve` (REST and MCP), kept by\n"
               "# `pipemend users add|list|remove`. Tokens are kept only as SHA-256 hashes.\n"
               "users:\n");
    for (size_t i = 0; i < l->n; i++) {
        char hex[2 * USERS_HASH_BYTES + 1];
        to_hex(l->v[i].hash, USERS_HASH_BYTES, hex);
        fprintf(f, "  - name: \"%s\"\n    role: %s\n    token_sha256: \"%s\"\n", l->v[i].name,
                users_role_name(l->v[i].role), hex);
        if (l->v[i].created_at[0])
            fprintf(f, "    created_at: \"%s\"\n", l->v[i].created_at);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pm_err_set(err, PM_ERR_IO, "cannot write the users file %s: %s", path, strerror(e));
    }
    return PM_OK;
}

pm_code users_add(const char *path, const char *name, users_role role, char token[65], pm_err *err)
{
    if (!users_name_ok(name)) {
        pm_err_set(err, PM_ERR_CONFIG, "a user name is 1-64 of A-Z a-z 0-9 . _ - (got \"%.80s\")",
                   name ? name : "");
        return PM_ERR_CONFIG;
    }
    users_list l;
    bool exists;
    pm_code rc = users_load(path, &l, &exists, err);
    if (rc != PM_OK)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        if (strcmp(l.v[i].name, name) == 0) {
            users_list_free(&l);
            pm_err_set(err, PM_ERR_CONFIG, "there is a user %s already", name);
            pm_err_hint(err, "`pipemend users remove NAME` first to give them a new token");
            return PM_ERR_CONFIG;
        }
    }
    unsigned char raw[USERS_TOKEN_BYTES];
    users_user *v = realloc(l.v, (l.n + 1) * sizeof *v);
    if (!v) {
        users_list_free(&l);
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    }
    l.v = v;
    if (RAND_bytes(raw, sizeof raw) != 1) {
        users_list_free(&l);
        return pm_err_set(err, PM_ERR_INTERNAL, "no random bytes for a token (OpenSSL RAND_bytes)");
    }
    to_hex(raw, sizeof raw, token);
    OPENSSL_cleanse(raw, sizeof raw);
    users_user *u = &l.v[l.n++];
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", name);
    u->role = role;
    sha256(token, strlen(token), u->hash);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(u->created_at, sizeof u->created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc = save(path, &l, err);
    users_list_free(&l);
    if (rc != PM_OK)
        OPENSSL_cleanse(token, 65);
    return rc;
}

pm_code users_remove(const char *path, const char *name, pm_err *err)
{
    users_list l;
    bool exists;
    pm_code rc = users_load(path, &l, &exists, err);
    if (rc != PM_OK)
        return rc;
    size_t j = 0;
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.v[i].name, name) != 0)
            l.v[j++] = l.v[i];
    if (j == l.n) {
        users_list_free(&l);
        pm_err_set(err, PM_ERR_NOTFOUND, "no user %.80s in %s", name, path);
        pm_err_hint(err, "`pipemend users list` shows them");
        return PM_ERR_NOTFOUND;
    }
    l.n = j;
    rc = save(path, &l, err);
    users_list_free(&l);
    return rc;
}

/* ---- serve's view ---------------------------------------------------------- */

typedef struct generation {
    users_list users;
    struct generation *older;
} generation;

struct users_db {
    pthread_mutex_t mu;
    char *path;
    generation *now; /* never NULL */
    /* what the file was when read: a change of any means read it again */
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static bool changed(const users_db *db, bool exists, const struct stat *st)
{
    if (exists != db->exists)
        return true;
    return exists &&
           (st->st_dev != db->dev || st->st_ino != db->ino || st->st_size != db->size ||
            st->st_mtim.tv_sec != db->mtime.tv_sec || st->st_mtim.tv_nsec != db->mtime.tv_nsec);
}

/* Reads the file again if it changed; called with mu held. What the file
 * was is noted before it is read, so that a broken file is complained
 * about once, not at every request, and read again at its next change. */
static pm_code refresh(users_db *db, bool first, pm_err *err)
{
    struct stat st;
    bool exists = stat(db->path, &st) == 0;
    if (!first && !changed(db, exists, &st))
        return PM_OK;
    db->exists = exists;
    if (exists) {
        db->dev = st.st_dev;
        db->ino = st.st_ino;
        db->size = st.st_size;
        db->mtime = st.st_mtim;
    }
    users_list l;
    bool ex;
    pm_code rc = users_load(db->path, &l, &ex, err);
    if (rc != PM_OK)
        return rc;
    generation *g = calloc(1, sizeof *g);
    if (!g) {
        users_list_free(&l);
        return pm_err_set(err, PM_ERR_NOMEM, "out of memory");
    }
    g->users = l;
    g->older = db->now;
    db->now = g;
    if (!first)
        pm_info("serve: read %zu user%s from %s", l.n, l.n == 1 ? "" : "s", db->path);
    return PM_OK;
}

users_db *users_db_open(const char *path, pm_err *err)
{
    users_db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        pm_err_set(err, PM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&db->mu, NULL);
    if (refresh(db, true, err) != PM_OK) {
        users_db_free(db);
        return NULL;
    }
    return db;
}

void users_db_free(users_db *db)
{
    if (!db)
        return;
    for (generation *g = db->now, *next; g; g = next) {
        next = g->older;
        users_list_free(&g->users);
        free(g);
    }
    pthread_mutex_destroy(&db->mu);
    free(db->path);
    free(db);
}

size_t users_db_count(users_db *db)
{
    pthread_mutex_lock(&db->mu);
    size_t n = db->now ? db->now->users.n : 0;
    pthread_mutex_unlock(&db->mu);
    return n;
}

const users_user *users_db_find(users_db *db, const char *token)
{
    if (!token || !*token)
        return NULL;
    unsigned char h[USERS_HASH_BYTES];
    sha256(token, strlen(token), h);
    pthread_mutex_lock(&db->mu);
    pm_err err = {0};
    if (refresh(db, false, &err) != PM_OK)
        pm_warn("serve: keeping the users read before: %s", err.msg);
    const users_list *l = db->now ? &db->now->users : NULL;
    const users_user *found = NULL;
    /* every hash compared, none skipped after a match (users.h) */
    for (size_t i = 0; l && i < l->n; i++) {
        bool eq = CRYPTO_memcmp(h, l->v[i].hash, USERS_HASH_BYTES) == 0;
        found = eq ? &l->v[i] : found;
    }
    pthread_mutex_unlock(&db->mu);
    return found;
}

const users_user *users_db_find_name(users_db *db, const char *name)
{
    if (!db || !name || !*name)
        return NULL;
    pthread_mutex_lock(&db->mu);
    pm_err err = {0};
    if (refresh(db, false, &err) != PM_OK)
        pm_warn("serve: keeping the users read before: %s", err.msg);
    const users_list *l = db->now ? &db->now->users : NULL;
    const users_user *found = NULL;
    for (size_t i = 0; l && i < l->n && !found; i++)
        if (strcmp(l->v[i].name, name) == 0)
            found = &l->v[i];
    pthread_mutex_unlock(&db->mu);
    return found;
}
