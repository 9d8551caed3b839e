/* transport.h - how a source's bytes arrive, and where a run can resume.
 *
 * A source is a transport (file, stdin; later a Kafka partition, a
 * PostgreSQL logical replication slot) under a decoder (NDJSON, CSV: see
 * source.h). The decoder asks the transport for bytes and cuts them into
 * records, each with its extent in the transport's byte stream. The
 * transport alone knows what a position in its input means:
 *
 *   - its identity (transport_id): the key of its checkpoint, the same on
 *     every run over the same input ("stdin" for standard input);
 *   - its position (transport_position): an opaque token, at most
 *     TRANSPORT_POSITION_MAX bytes of text, that says where the stream
 *     stands after a given byte of it (a file: the offset, the line there,
 *     its device and inode and a hash of the bytes loaded; a Kafka
 *     partition: the offset of the message holding that byte). The
 *     checkpoint stores the token as it is: neither the store nor the
 *     pipeline reads inside it;
 *   - whether a token still holds (transport_resume): it decodes a token
 *     from a checkpoint and says at which byte of this run's stream the
 *     decoder starts, warning when the input changed under the token, or
 *     that the bytes already loaded changed (a conflict: the pipeline's
 *     on_rewrite policy decides, never the transport);
 *   - whether a token taken under another key is of this very input
 *     (transport_same: a file renamed or hard-linked), and where the input
 *     a token was taken on is now, when it is beside this one under another
 *     name (transport_previous: a rotated file).
 *
 * A transport of messages (Kafka, replication) hands the decoder each
 * message as one line of its stream and keeps, for the bytes it handed out
 * and not yet checkpointed, which message each came from.
 *
 * A transport without positions (standard input: it cannot be read twice)
 * has no checkpoint, and a re-run reads it again.
 *
 * Lifetimes: a transport is owned by whoever opened it until it is handed
 * to a source (source_open_transport), which closes it. */
#ifndef PM_SOURCE_TRANSPORT_H
#define PM_SOURCE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The longest position token a transport may produce, NUL included. */
#define TRANSPORT_POSITION_MAX 512

typedef struct pm_transport pm_transport;

/* Where a run over the transport starts, from its checkpoint. */
typedef struct transport_start {
    uint64_t offset; /* byte of the stream to start at (0: from the top) */
    uint64_t line;   /* line number there (0: unknown, count from 1) */
    bool at_end;     /* nothing new since the checkpoint: no need to read */
    bool conflict;   /* the bytes already loaded changed (truncated, rewritten):
                      * offset is 0, why says what happened */
    char why[320];
} transport_start;

/* What every transport does. Members that a transport cannot do are NULL:
 * seek (then skipping reads and discards), position and resume (then the
 * transport has no checkpoint). */
typedef struct transport_ops {
    const char *kind; /* "file", "stdin" */
    /* Reads at most cap bytes into buf; *got 0 at the end of input. */
    pm_code (*read)(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err);
    /* Moves the next read to byte off of the stream. */
    pm_code (*seek)(pm_transport *t, uint64_t off, pm_err *err);
    /* Encodes the position just past byte end (line: the line number
     * there) into out[0, TRANSPORT_POSITION_MAX), NUL-terminated. */
    pm_code (*position)(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err);
    /* Decodes position (NULL: no checkpoint) into where to start. */
    pm_code (*resume)(pm_transport *t, const char *position, transport_start *out, pm_err *err);
    /* A short phrase for a position in messages ("byte 1234"), into out
     * (size cap); a token it cannot read is shown as it is. */
    void (*describe)(const char *position, char *out, size_t cap);
    /* Is position (a token of this kind, taken under any key) a position
     * in this very input? Then *offset is where it stands. */
    bool (*same)(pm_transport *t, const char *position, uint64_t *offset);
    /* The input position was taken on, when it is another one than t and
     * still there beside t under another name (malloc'd path; NULL: not
     * found). */
    char *(*previous)(pm_transport *t, const char *position);
    /* What makes this input itself whatever it is named (a file's device
     * and inode) into out, "" when it has none. */
    void (*identity)(const pm_transport *t, char *out, size_t cap);
    /* The identity a token of this kind records (as identity gives it for
     * the input the token was taken on), "" when it records none: to find
     * the few tokens transport_same needs to look at among many. */
    void (*token_identity)(const char *position, char *out, size_t cap);
    void (*close)(pm_transport *t);
} transport_ops;

/* The part every transport starts with; a transport's own state follows
 * it in a struct of its own (file.c, stdin.c). */
struct pm_transport {
    const transport_ops *ops;
    const char *label; /* the input as the person named it (a path, "-"), for messages */
    char *id;          /* owned: see transport_id */
    uint64_t size;     /* bytes, when known (a regular file); 0 otherwise */
    int64_t mtime;     /* last modified, seconds since the epoch, when known; 0 otherwise */
};

/* Opens path: "-" is standard input, anything else a file (file.c). The
 * caller closes it with transport_close, or hands it to a source. */
pm_code transport_open(const char *path, pm_transport **out, pm_err *err);

pm_code file_transport_open(const char *path, pm_transport **out, pm_err *err);
pm_code stdin_transport_open(pm_transport **out, pm_err *err);

static inline const char *transport_id(const pm_transport *t)
{
    return t->id;
}

/* Total size in bytes if known (a regular file), else 0: for progress. */
static inline uint64_t transport_size(const pm_transport *t)
{
    return t->size;
}

/* Does the transport keep a checkpoint (position and resume)? */
static inline bool transport_resumable(const pm_transport *t)
{
    return t->ops->position && t->ops->resume;
}

pm_code transport_read(pm_transport *t, char *buf, size_t cap, size_t *got, pm_err *err);
pm_code transport_position(pm_transport *t, uint64_t end, uint64_t line, char *out, pm_err *err);
pm_code transport_resume(pm_transport *t, const char *position, transport_start *out, pm_err *err);
void transport_describe(const pm_transport *t, const char *position, char *out, size_t cap);
bool transport_same(pm_transport *t, const char *position, uint64_t *offset);
char *transport_previous(pm_transport *t, const char *position);
void transport_identity(const pm_transport *t, char *out, size_t cap);
void transport_token_identity(const pm_transport *t, const char *position, char *out, size_t cap);
void transport_close(pm_transport *t);

#endif
