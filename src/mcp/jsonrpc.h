/* jsonrpc.h - JSON-RPC 2.0 messages: reading one, classifying it, and
 * writing the response to it.
 *
 * A message is one JSON text (one line on stdio, one POST body on HTTP).
 * jsonrpc_read() parses it with jansson, classifies it as a request, a
 * notification or a response, and checks it against JSON-RPC 2.0 as MCP
 * narrows it: "jsonrpc" is "2.0"; an id is a string or an integer (never
 * null, a fraction or a boolean); "method" is a string; "params", when
 * present, an object or an array. What fails becomes JSONRPC_INVALID with
 * the spec's code (-32700 for bytes that are not JSON, or JSON with a key
 * twice in one object at any depth; -32600 for JSON that is not a request)
 * and a message.
 *
 * Ids are echoed exactly as the client wrote them: the reader keeps the
 * id's raw bytes from the message (a scan of the top-level object, beside
 * jansson's parse), so an integer beyond 64 bits or a string with escapes
 * comes back byte for byte. The id is null in a response only when it could
 * not be read (not JSON, no id member, an id of the wrong type).
 *
 * A message longer than the reader's cap is never parsed: its first bytes
 * are scanned for the top-level id, and the answer is -32600 (a JSON request
 * too large, with its id when the prefix holds it) or -32700 (the prefix is
 * not JSON at all). A transport keeps only the first cap bytes of such a
 * message and hands them to jsonrpc_read_prefix(). */
#ifndef PM_MCP_JSONRPC_H
#define PM_MCP_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* The error codes of JSON-RPC 2.0, exactly. */
#define JSONRPC_PARSE_ERROR (-32700)
#define JSONRPC_INVALID_REQUEST (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS (-32602)
#define JSONRPC_INTERNAL_ERROR (-32603)

typedef enum jsonrpc_kind {
    JSONRPC_REQUEST,      /* method and id: answer it */
    JSONRPC_NOTIFICATION, /* method, no id: never answered */
    JSONRPC_RESPONSE,     /* result or error with an id: a client's answer */
    JSONRPC_BATCH,        /* a JSON array: the caller decides (MCP revision) */
    JSONRPC_INVALID       /* error_code and error_msg say why; answer with id */
} jsonrpc_kind;

/* The raw bytes of an id, as they appear in the message (a JSON string with
 * its quotes, or an integer's digits). len 0: no readable id (null). */
typedef struct jsonrpc_id {
    const char *text; /* borrowed from the message, or owned by a jsonrpc_msg */
    size_t len;
} jsonrpc_id;

typedef struct jsonrpc_msg {
    jsonrpc_kind kind;
    json_t *root;       /* owned (NULL when the bytes were not JSON) */
    const char *method; /* borrowed from root */
    json_t *params;     /* borrowed from root; NULL when absent */
    jsonrpc_id id;      /* text owned by this message (freed by jsonrpc_msg_free) */
    int error_code;     /* JSONRPC_INVALID: the code to answer with */
    char error_msg[256];
} jsonrpc_msg;

/* Reads one message of len bytes. Messages longer than max are not parsed
 * (see above). Never fails: every outcome is a kind. */
void jsonrpc_read(const char *msg, size_t len, size_t max, jsonrpc_msg *out);
/* A message of total bytes of which only the first n (n < total) were
 * kept: JSONRPC_INVALID with -32600 or -32700 and the id if readable. */
void jsonrpc_read_prefix(const char *prefix, size_t n, size_t total, jsonrpc_msg *out);
/* Classifies one element of a batch: v is borrowed from the batch's root,
 * raw/raw_len the element's bytes in the message (for its id; NULL if not
 * known). out->root stays NULL (the batch owns the values). */
void jsonrpc_classify(json_t *v, const char *raw, size_t raw_len, jsonrpc_msg *out);
/* The raw spans of the elements of the top-level array in msg: calls fn for
 * each element, in order; returns false if msg is not a well-formed array. */
bool jsonrpc_array_elements(const char *msg, size_t len,
                            void (*fn)(void *arg, size_t i, const char *p, size_t n), void *arg);
void jsonrpc_msg_free(jsonrpc_msg *m);

/* Appends {"jsonrpc":"2.0","id":ID,"result":RESULT} to out. PM_ERR_LIMIT
 * when out's cap is reached (out is left as it was). */
pm_code jsonrpc_write_result(pm_buf *out, jsonrpc_id id, const json_t *result, pm_err *err);
/* The same with the result already encoded (len bytes of JSON). */
pm_code jsonrpc_write_raw_result(pm_buf *out, jsonrpc_id id, const char *result, size_t len,
                                 pm_err *err);
/* Appends an error response; data may be NULL. */
pm_code jsonrpc_write_error(pm_buf *out, jsonrpc_id id, int code, const char *message,
                            const json_t *data, pm_err *err);

#endif
