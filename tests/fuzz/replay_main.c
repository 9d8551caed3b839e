/* replay_main.c - runs saved fuzz inputs through a libFuzzer entry point
 * without libFuzzer, so that every corpus is replayed by the ordinary test
 * run (built with the sanitizers) and a fixed crash stays fixed.
 *
 * Usage: fuzz_replay DIR... ; every regular file in each directory is one
 * input. A failing input aborts inside the target, which names it. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *volatile current; /* the input being run, for on_abort */

/* A mismatch in the target aborts: say which file it was, then die as
 * before so the test run sees the failure. */
static void on_abort(int sig)
{
    const char *p = current;
    if (p) {
        (void)!write(2, "fuzz-replay: failing input: ", 28);
        (void)!write(2, p, strlen(p));
        (void)!write(2, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads a whole file into a malloc'd buffer; NULL if it cannot. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    size_t inputs = 0;
    signal(SIGABRT, on_abort);
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "fuzz-replay: cannot open %s\n", argv[a]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
                continue;
            size_t len;
            uint8_t *buf = slurp(path, &len);
            if (!buf) {
                fprintf(stderr, "fuzz-replay: cannot read %s\n", path);
                closedir(d);
                return 1;
            }
            current = path;
            LLVMFuzzerTestOneInput(buf, len);
            current = NULL;
            free(buf);
            inputs++;
        }
        closedir(d);
    }
    printf("fuzz-replay: %zu inputs\n", inputs);
    return 0;
}
