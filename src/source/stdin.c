/* stdin.c - the standard input transport: read as it comes, once.
 *
 * Standard input has no identity that a later run could find again and
 * cannot be read twice, so it has no position: no checkpoint, and a re-run
 * reads whatever it is given again (ingest.h). Skipping reads and
 * discards. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "source/transport.h"

static pm_code stdin_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err)
{
    ssize_t n;
    do
        n = read(STDIN_FILENO, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        pm_err_set(err, PM_ERR_IO, "cannot read stdin: %s", strerror(errno));
        pm_err_hint(err, "the rows before this point are intact; fix the input and run again");
        return PM_ERR_IO;
    }
    *got = (size_t)n;
    return PM_OK;
}

static const transport_ops stdin_ops = {
    .kind = "stdin",
    .read = stdin_read,
};

pm_code stdin_transport_open(pm_transport **out, pm_err *err)
{
    pm_transport *t = pm_xcalloc(1, sizeof *t);
    t->ops = &stdin_ops;
    t->label = "stdin";
    t->id = pm_xstrdup("stdin");
    *out = t;
    return PM_OK;
}
