/* mcp.h - a Model Context Protocol server, generic like a library.
 *
 * This part knows JSON-RPC 2.0 and MCP, nothing of pipelines: the product
 * registers its tools from a const table (mcp_tool) and every transport
 * hands each message to mcp_handle(), which writes the one response (or
 * none) to send back. What it speaks:
 *
 *   initialize          protocol revision negotiation: the client's when it
 *                       is one of MCP_PROTOCOL_VERSIONS, else the latest;
 *                       capabilities {tools: {listChanged: false}}
 *   notifications/initialized, ping
 *   tools/list          in pages of page_size, with an opaque nextCursor
 *                       (-32602 for a cursor this server did not give)
 *   tools/call          arguments checked against the tool's inputSchema
 *                       (isError result naming the argument); the handler's
 *                       structured content checked against its outputSchema
 *                       and returned as structuredContent plus its JSON as
 *                       a text block; a handler's failure an isError result;
 *                       an unknown tool -32602
 *   resources/list      the static resources (mcp_resource with a uri)
 *   resources/templates/list  the URI templates (mcp_resource with a
 *                       uri_template: literal text and {var} parts, each var
 *                       matching one or more characters other than '/')
 *   resources/read      the first static uri equal to params.uri, else the
 *                       first template that matches it; the reader's text
 *                       as contents [{uri, mimeType, text}]; an unknown uri,
 *                       or a reader that says not found, -32002 with
 *                       data {uri}; any other reader failure -32603
 *   prompts/list        the prompts with their arguments
 *   prompts/get         arguments (an object of strings) checked against
 *                       the prompt's: a missing required one, an unknown one
 *                       or an unknown prompt -32602; the text as one user
 *                       message [{role: "user", content: {type: "text"}}]
 *   anything else       -32601 (requests); notifications are never answered
 *
 * Capabilities: tools always; resources {} and prompts {} only when some
 * are registered. The lists are not paginated (a cursor is -32602).
 *
 * Lifecycle: before initialize only ping is served (other requests get
 * -32600 "server not initialized"); a second initialize is -32600.
 *
 * Batches (a JSON array of messages): JSON-RPC batching exists in MCP
 * revision 2025-03-26 only. Under that revision the server answers with an
 * array of the responses (notifications and responses in it answer nothing;
 * an empty array is -32600; initialize may not be batched); under any later
 * one, and before initialize, a batch is one -32600 error. */
#ifndef PM_MCP_MCP_H
#define PM_MCP_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Newest first; the first is what the server offers by default. */
#define MCP_PROTOCOL_LATEST "2025-11-25"
#define MCP_PROTOCOL_VERSIONS                                                                      \
    {                                                                                              \
        "2025-11-25", "2025-06-18", "2025-03-26"                                                   \
    }

typedef struct mcp_server mcp_server;
typedef struct mcp_call mcp_call;

/* Tool annotations (hints to the client, not guarantees; MCP's defaults
 * differ, so every tool states all four). */
typedef struct mcp_hints {
    bool read_only;
    bool destructive;
    bool idempotent;
    bool open_world;
} mcp_hints;

/* One row of a product's tool table. Schemas are JSON text (JSON Schema
 * 2020-12, type "object"), parsed once at registration. The handler gets
 * the checked arguments (borrowed) and returns the structured content, a
 * JSON object the caller owns; on failure it calls mcp_call_fail() and
 * returns NULL. */
typedef struct mcp_tool {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;
    const char *output_schema; /* NULL: no structured content promised */
    mcp_hints hints;
    json_t *(*call)(void *ctx, json_t *args, mcp_call *call);
} mcp_tool;

/* One row of a product's resource table: exactly one of uri (a static
 * resource) and uri_template (RFC 6570 level 1: {var} only). The reader
 * gets the requested uri and, for a template, its variables as an object of
 * strings (borrowed); it returns the contents' text (caller frees, with
 * free()) or NULL after mcp_call_fail() or mcp_call_not_found(). */
typedef struct mcp_resource {
    const char *uri;
    const char *uri_template;
    const char *name;
    const char *title;
    const char *description;
    const char *mime_type;
    char *(*read)(void *ctx, const char *uri, json_t *vars, mcp_call *call);
} mcp_resource;

#define MCP_PROMPT_MAX_ARGS 8

typedef struct mcp_prompt_arg {
    const char *name; /* NULL ends the list */
    const char *description;
    bool required;
} mcp_prompt_arg;

/* One row of a product's prompt table. The handler gets the checked
 * arguments (an object of strings, borrowed) and returns the text of the
 * user message (caller frees, with free()), or NULL after mcp_call_fail(),
 * which becomes a -32602 error with that message. */
typedef struct mcp_prompt {
    const char *name;
    const char *title;
    const char *description;
    mcp_prompt_arg args[MCP_PROMPT_MAX_ARGS];
    char *(*get)(void *ctx, json_t *args, mcp_call *call);
} mcp_prompt;

typedef struct mcp_server_info {
    const char *name;         /* serverInfo.name */
    const char *title;        /* serverInfo.title (may be NULL) */
    const char *version;      /* serverInfo.version */
    const char *instructions; /* may be NULL */
    size_t page_size;         /* tools per tools/list page; 0: 50 */
    size_t max_message;       /* bytes per message; 0: 4 MiB */
} mcp_server_info;

/* info's strings are borrowed for the server's life. Caller frees. */
mcp_server *mcp_server_new(const mcp_server_info *info);
void mcp_server_free(mcp_server *s);

/* Registers n tools (the table is borrowed for the server's life; ctx is
 * passed to each handler). Fails with PM_ERR_CONFIG on a schema that is not
 * a JSON object, a duplicate or empty name, or a missing handler. */
pm_code mcp_server_add_tools(mcp_server *s, const mcp_tool *tools, size_t n, void *ctx,
                             pm_err *err);

/* The same for resources: a row needs a name, a reader and exactly one of
 * uri and uri_template; a static uri registered twice is PM_ERR_CONFIG. */
pm_code mcp_server_add_resources(mcp_server *s, const mcp_resource *res, size_t n, void *ctx,
                                 pm_err *err);
/* The same for prompts: a name (not registered before) and a handler. */
pm_code mcp_server_add_prompts(mcp_server *s, const mcp_prompt *prompts, size_t n, void *ctx,
                               pm_err *err);

/* Handles one message of len bytes (need not be NUL-terminated) and
 * appends the response to out (nothing for notifications and responses).
 * out's own cap bounds a response: one that would pass it is replaced by a
 * -32603 error. Returns PM_OK unless out cannot hold even that. */
pm_code mcp_handle(mcp_server *s, const char *msg, size_t len, pm_buf *out);
/* The same for a message of total bytes of which a transport kept only the
 * first n (over max_message): answered with -32600 or -32700. */
pm_code mcp_handle_oversized(mcp_server *s, const char *prefix, size_t n, size_t total,
                             pm_buf *out);
size_t mcp_server_max_message(const mcp_server *s);

/* The negotiated revision, or NULL before initialize. */
const char *mcp_server_protocol(const mcp_server *s);
/* clientInfo.name from initialize ("unknown" before or without one). */
const char *mcp_server_client_name(const mcp_server *s);

/* From a handler: the call fails as a tool error (isError: true) with this
 * message, which the model reads: say what was wrong and what to do. */
void mcp_call_fail(mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From a resource reader: the resource does not exist (-32002, with this
 * message). */
void mcp_call_not_found(mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same from a pm_err: its message, then detail and hint. */
void mcp_call_fail_err(mcp_call *c, const pm_err *err);
/* The client's name, for audit actors ("agent:NAME"). */
const char *mcp_call_client_name(const mcp_call *c);

/* The stdio transport: newline-delimited messages from in_fd, one response
 * per line to out_fd, until end of input (PM_OK) or a write fails
 * (PM_ERR_IO). Blank lines are skipped; a trailing CR is dropped; a line
 * over max_message is read to its end with only the first bytes kept. */
pm_code mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd, pm_err *err);

#endif
