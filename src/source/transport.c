/* transport.c - opens the transport a path names, and the calls every
 * transport answers through its ops (transport.h). */
#include "source/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pm_code transport_open(const char *path, pm_transport **out, pm_err *err)
{
    if (strcmp(path, "-") == 0)
        return stdin_transport_open(out, err);
    return file_transport_open(path, out, err);
}

pm_code transport_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err)
{
    return t->ops->read(t, buf, cap, got, err);
}

pm_code transport_position(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err)
{
    if (!t->ops->position)
        return pm_err_set(err, PM_ERR_INTERNAL, "%s has no position to checkpoint", t->id);
    return t->ops->position(t, end, line, out, err);
}

pm_code transport_resume(pm_transport *t, const char *position, transport_start *out, pm_err *err)
{
    memset(out, 0, sizeof *out);
    if (!t->ops->resume)
        return PM_OK;
    return t->ops->resume(t, position, out, err);
}

void transport_describe(const pm_transport *t, const char *position, char *out, size_t cap)
{
    if (t->ops->describe)
        t->ops->describe(position, out, cap);
    else
        snprintf(out, cap, "%s", position);
}

bool transport_same(pm_transport *t, const char *position, uint64_t *offset)
{
    return t->ops->same && position && t->ops->same(t, position, offset);
}

char *transport_previous(pm_transport *t, const char *position)
{
    return t->ops->previous && position ? t->ops->previous(t, position) : NULL;
}

void transport_identity(const pm_transport *t, char *out, size_t cap)
{
    if (t->ops->identity)
        t->ops->identity(t, out, cap);
    else if (cap)
        out[0] = '\0';
}

void transport_token_identity(const pm_transport *t, const char *position, char *out, size_t cap)
{
    if (t->ops->token_identity && position)
        t->ops->token_identity(position, out, cap);
    else if (cap)
        out[0] = '\0';
}

void transport_close(pm_transport *t)
{
    if (!t)
        return;
    if (t->ops->close)
        t->ops->close(t);
    free(t->id);
    free(t);
}
