/* token.c - the bearer token of `pipemend serve` (see token.h): its rules,
 * reading it from a file that only its owner may touch, and generating one
 * on first start so that a server is never open to every local user just
 * because nobody chose a token. */
#include "http/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAKE_ONE "openssl rand -hex 32"

pm_code http_token_check(const char *tok, const char *where, pm_err *err)
{
    size_t len = strlen(tok);
    bool seen[256] = {false};
    unsigned distinct = 0;
    const char *why = NULL;
    for (size_t i = 0; i < len && !why; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c <= 0x20 || c >= 0x7f)
            why = "holds a space, a control or a non-ASCII character";
        else if (!seen[c]) {
            seen[c] = true;
            distinct++;
        }
    }
    if (!why && len < HTTP_TOKEN_MIN)
        why = "is shorter than 32 characters";
    else if (!why && len > HTTP_TOKEN_MAX)
        why = "is longer than 512 characters";
    else if (!why && distinct < HTTP_TOKEN_MIN_DISTINCT)
        why = "has fewer than 8 distinct characters";
    if (!why)
        return PM_OK;
    pm_err_set(err, PM_ERR_CONFIG, "%s %s: a token must be long and random", where, why);
    pm_err_hint(err, "make one with `" MAKE_ONE "` (32 to 512 printable characters, no spaces, "
                     "at least 8 distinct)");
    return PM_ERR_CONFIG;
}

/* The file open as fd may hold a secret: this user's regular file, closed
 * to group and others. */
static pm_code check_private(int fd, const char *path, pm_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return pm_err_set(err, PM_ERR_CONFIG, "cannot stat the token file %s: %s", path,
                          strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pm_err_set(err, PM_ERR_CONFIG, "the token file %s is not a regular file", path);
    if (st.st_uid != geteuid()) {
        pm_err_set(err, PM_ERR_CONFIG, "the token file %s belongs to another user (uid %u)", path,
                   (unsigned)st.st_uid);
        pm_err_hint(err, "use a token file of your own, mode 0600");
        return PM_ERR_CONFIG;
    }
    if (st.st_mode & 0077) {
        pm_err_set(err, PM_ERR_CONFIG,
                   "the token file %s is open to group or others (mode %04o): anyone who can "
                   "read it can use the server",
                   path, (unsigned)(st.st_mode & 07777));
        pm_err_hint(err, "`chmod 600 %s`, and make a new token if others may have read it", path);
        return PM_ERR_CONFIG;
    }
    return PM_OK;
}

pm_code http_token_read(const char *path, char *buf, size_t n, pm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pm_err_set(err, PM_ERR_CONFIG, "cannot read the token file %s: %s", path,
                          strerror(errno));
    pm_code rc = check_private(fd, path, err);
    ssize_t got = 0;
    if (rc == PM_OK) {
        got = read(fd, buf, n - 1);
        if (got < 0)
            rc = pm_err_set(err, PM_ERR_CONFIG, "cannot read the token file %s: %s", path,
                            strerror(errno));
    }
    close(fd);
    if (rc != PM_OK)
        return rc;
    buf[got] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    char where[600];
    snprintf(where, sizeof where, "the token in %.500s", path);
    return http_token_check(buf, where, err);
}

pm_code http_token_default_path(char *buf, size_t n, pm_err *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int w;
    /* The XDG spec: a relative $XDG_CONFIG_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/')
        w = snprintf(buf, n, "%s/pipemend/serve-token", xdg);
    else if (home && *home)
        w = snprintf(buf, n, "%s/.config/pipemend/serve-token", home);
    else {
        pm_err_set(err, PM_ERR_CONFIG,
                   "no place for the serve token: neither XDG_CONFIG_HOME nor HOME is set");
        pm_err_hint(err, "pass --token-file FILE or set PIPEMEND_MCP_TOKEN (`" MAKE_ONE "`)");
        return PM_ERR_CONFIG;
    }
    if (w < 0 || (size_t)w >= n)
        return pm_err_set(err, PM_ERR_CONFIG, "the serve token's path is too long");
    return PM_OK;
}

/* mkdir -p for the directories of path; the ones made are 0700. */
static pm_code make_dirs(const char *path, pm_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return PM_OK;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        bool last = *p == 0;
        if (*p == '/' || last) {
            *p = 0;
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return pm_err_set(err, PM_ERR_CONFIG, "cannot create %s: %s", dir, strerror(errno));
            if (last)
                return PM_OK;
            *p = '/';
        }
    }
}

/* Writes a new token to a temporary file beside path and links it into
 * place: link(2) fails with EEXIST rather than replace a file, and a reader
 * never sees a half-written one. PM_OK with *created false when a file was
 * already there. */
static pm_code write_new(const char *path, bool *created, pm_err *err)
{
    unsigned char raw[32];
    for (size_t got = 0; got < sizeof raw;) {
        ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
        if (r < 0 && errno != EINTR)
            return pm_err_set(err, PM_ERR_IO, "cannot generate a token: getrandom: %s",
                              strerror(errno));
        if (r > 0)
            got += (size_t)r;
    }
    char hex[2 * sizeof raw + 2];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof raw] = '\n';
    hex[2 * sizeof raw + 1] = 0;
    memset(raw, 0, sizeof raw);

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* 0600 */
    if (fd < 0)
        return pm_err_set(err, PM_ERR_CONFIG, "cannot create the token file %s: %s", path,
                          strerror(errno));
    size_t len = strlen(hex);
    bool ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    int werr = errno;
    ok = close(fd) == 0 && ok;
    memset(hex, 0, sizeof hex);
    pm_code rc = PM_OK;
    if (!ok)
        rc = pm_err_set(err, PM_ERR_IO, "cannot write the token file %s: %s", tmp, strerror(werr));
    else if (link(tmp, path) == 0)
        *created = true;
    else if (errno != EEXIST)
        rc = pm_err_set(err, PM_ERR_CONFIG, "cannot create the token file %s: %s", path,
                        strerror(errno));
    unlink(tmp);
    return rc;
}

pm_code http_token_ensure(const char *path, char *buf, size_t n, bool *created, pm_err *err)
{
    *created = false;
    if (strlen(path) > 4000)
        return pm_err_set(err, PM_ERR_CONFIG, "the token file's path is too long");
    if (access(path, F_OK) != 0) {
        if (errno != ENOENT)
            return pm_err_set(err, PM_ERR_CONFIG, "cannot read the token file %s: %s", path,
                              strerror(errno));
        pm_code rc = make_dirs(path, err);
        if (rc == PM_OK)
            rc = write_new(path, created, err);
        if (rc != PM_OK)
            return rc;
    }
    return http_token_read(path, buf, n, err);
}
