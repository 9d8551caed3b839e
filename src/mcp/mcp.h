/* mcp.h - a Model Context Protocol server, generic like a library.
 *
 * This part knows JSON-RPC 2.0 and MCP, nothing of pipelines: the product
 * registers its tools, resources and prompts from const tables, and every
 * transport (stdio.c here; Streamable HTTP is the /mcp route of src/http,
 * which uses only this header) hands each message of a client's session to
 * mcp_session_accept() and runs the job it gets back (see "sessions"
 * below). What it speaks:
 *
 *   initialize          protocol revision negotiation: the client's when it
 *                       is one of MCP_PROTOCOL_VERSIONS, else the latest;
 *                       capabilities tools {listChanged: false}, logging {},
 *                       and, when some are registered, resources
 *                       {subscribe: true, listChanged: false}, prompts
 *                       {listChanged: false}, completions {}
 *   notifications/initialized, ping
 *   notifications/cancelled  the request named stops at its handler's next
 *                       check (mcp_call_cancelled) and is not answered
 *   tools/list          in pages of page_size, with an opaque nextCursor
 *                       (-32602 for a cursor this server did not give)
 *   tools/call          arguments checked against the tool's inputSchema
 *                       (isError result naming the argument); the handler's
 *                       structured content checked against its outputSchema
 *                       and returned as structuredContent plus its JSON as
 *                       a text block (or the content blocks it made); a
 *                       handler's failure an isError result; an unknown
 *                       tool -32602; progress and log messages on the way
 *   resources/list      the static resources (mcp_resource with a uri)
 *   resources/templates/list  the URI templates (mcp_resource with a
 *                       uri_template: literal text and {var} parts, each var
 *                       matching one or more characters other than '/')
 *   resources/read      the first static uri equal to params.uri, else the
 *                       first template that matches it; the reader's text
 *                       (or base64 blob) as contents [{uri, mimeType,
 *                       text|blob}]; an unknown uri, or a reader that says
 *                       not found, -32002 with data {uri}; any other reader
 *                       failure -32603
 *   resources/subscribe, resources/unsubscribe  {uri}: the session is sent
 *                       notifications/resources/updated for it (see
 *                       mcp_server_resource_updated)
 *   prompts/list        the prompts with their arguments
 *   prompts/get         arguments (an object of strings) checked against
 *                       the prompt's: a missing required one, an unknown one
 *                       or an unknown prompt -32602; the text as a user
 *                       message, then the messages the handler added
 *   completion/complete ref/prompt or ref/resource (a template) and an
 *                       argument: the row's completion callback's values
 *                       (at most 100, with total and hasMore); none without
 *                       a callback; an unknown ref -32602
 *   logging/setLevel    the least severity sent as notifications/message
 *                       (everything until set); an unknown level -32602
 *   anything else       -32601 (requests); notifications are never answered
 *
 * The resource and prompt lists are not paginated (a cursor is -32602).
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
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

/* Newest first; the first is what the server offers by default. */
#define MCP_PROTOCOL_LATEST "2025-11-25"
#define MCP_PROTOCOL_VERSIONS                                                                      \
    {                                                                                              \
        "2025-11-25", "2025-06-18", "2025-03-26"                                                   \
    }

typedef struct mcp_server mcp_server;
typedef struct mcp_session mcp_session;
typedef struct mcp_job mcp_job;
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
 * returns NULL. A handler that adds content blocks (mcp_call_content) has
 * those as the result's content; otherwise the content is the structured
 * content's JSON as one text block. */
typedef struct mcp_tool {
    const char *name;
    const char *title;
    const char *description;
    const char *input_schema;
    const char *output_schema; /* NULL: no structured content promised */
    mcp_hints hints;
    json_t *(*call)(void *ctx, json_t *args, mcp_call *call);
} mcp_tool;

/* Completion of an argument (completion/complete): the values that begin
 * with value, as a JSON array of strings (caller owns; the server sends at
 * most 100 and says hasMore). context holds the other arguments already
 * given (an object of strings, borrowed; may be empty). */
typedef json_t *(*mcp_complete_fn)(void *ctx, const char *arg, const char *value, json_t *context,
                                   mcp_call *call);

/* One row of a product's resource table: exactly one of uri (a static
 * resource) and uri_template (RFC 6570 level 1: {var} only). The reader
 * gets the requested uri and, for a template, its variables as an object of
 * strings (borrowed); it returns the contents' text (caller frees, with
 * free()) or NULL after mcp_call_fail() or mcp_call_not_found(). A binary
 * resource (blob) returns its bytes in base64. complete (may be NULL)
 * completes a template's variables. */
typedef struct mcp_resource {
    const char *uri;
    const char *uri_template;
    const char *name;
    const char *title;
    const char *description;
    const char *mime_type;
    char *(*read)(void *ctx, const char *uri, json_t *vars, mcp_call *call);
    bool blob;
    mcp_complete_fn complete;
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
 * which becomes a -32602 error with that message. A handler that adds
 * messages (mcp_call_message) has them after its text's message (an empty
 * text makes none). complete (may be NULL) completes its arguments. */
typedef struct mcp_prompt {
    const char *name;
    const char *title;
    const char *description;
    mcp_prompt_arg args[MCP_PROMPT_MAX_ARGS];
    char *(*get)(void *ctx, json_t *args, mcp_call *call);
    mcp_complete_fn complete;
} mcp_prompt;

typedef struct mcp_server_info {
    const char *name;         /* serverInfo.name */
    const char *title;        /* serverInfo.title (may be NULL) */
    const char *version;      /* serverInfo.version */
    const char *instructions; /* may be NULL */
    size_t page_size;         /* tools per tool/list page; 0: 50 */
    size_t max_message;       /* bytes per message; 0: 4 MiB */
    /* true: the product's handlers run one at a time (its context, a
     * database connection say, is not shared between threads) */
    bool serialize;
} mcp_server_info;

/* info's strings are borrowed for the server's life. Caller frees (after
 * every session). */
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

/* The tools as tools/list gives them, every page in one array (caller
 * owns): what generated documentation is made from. */
json_t *mcp_server_tools_json(const mcp_server *s);
/* Markdown reference of every registered tool (name, title, description,
 * hints, arguments and result from its schemas), resource and prompt,
 * appended to out: generated from the same tables tools/list answers from
 * (docs.c). */
pm_code mcp_server_docs(const mcp_server *s, pm_buf *out);
/* Calls per tool since the server started, as an array of {tool, calls,
 * failures, failure_rate, mean_ms} in table order (caller owns). A failure
 * is an isError result or a JSON-RPC error answering a call. */
json_t *mcp_server_tool_stats(mcp_server *s);
size_t mcp_server_max_message(const mcp_server *s);
/* When the server was made (what mcp_server_tool_stats counts since). */
time_t mcp_server_started(const mcp_server *s);

/* A resource changed: every session subscribed to uri is sent
 * notifications/resources/updated on its own stream. Any thread. */
void mcp_server_resource_updated(mcp_server *s, const char *uri);

/* ---- sessions ---------------------------------------------------------- *
 *
 * A session is one client's connection: its lifecycle (initialize, the
 * negotiated revision, its capabilities), log level, subscriptions, the
 * requests it has in flight (cancellable) and the requests the server sent
 * it (awaiting answers). Transports create one per connection (stdio: one;
 * HTTP: one per Mcp-Session-Id) and hand each message to
 * mcp_session_accept(): answers to the server's requests and notifications
 * take effect at once; a request (or a batch, or a message to answer with an
 * error) becomes a job, which the transport runs where it likes (a worker
 * thread, to keep reading while a tool runs) and frees. All session
 * functions are safe from any thread. */

/* Where messages to the client go: one complete JSON-RPC message (no
 * newline) per call. */
typedef struct mcp_out {
    pm_code (*send)(void *arg, const char *msg, size_t len);
    void *arg;
    /* May be NULL. Ends the connection that carries the stream while the
     * stream goes on: the client reconnects (HTTP: GET with Last-Event-ID)
     * after retry_ms and receives the rest (SSE polling). */
    void (*close)(void *arg, int retry_ms);
} mcp_out;

mcp_session *mcp_session_new(mcp_server *s);
/* Closes the session (the server's own requests waiting on the client fail)
 * and frees it; no job of it may still run. */
void mcp_session_free(mcp_session *ss);
/* No more messages will come from the client (end of input): handlers
 * waiting for its answers give up; jobs still run to their end and answer
 * (a script that pipes its requests and closes stdin gets every answer). */
void mcp_session_close(mcp_session *ss);
/* The session ends for good (HTTP DELETE, the server stopping): every job
 * accepted so far reads as cancelled (long handlers stop at their next
 * check) and handlers waiting for the client give up. */
void mcp_session_cancel_all(mcp_session *ss);
/* The stream for messages not tied to a request (resource updates); NULL
 * drops them. out is copied; its arg must live while it is set. */
void mcp_session_set_stream(mcp_session *ss, const mcp_out *out);
/* The negotiated revision, or NULL before initialize. */
const char *mcp_session_protocol(const mcp_session *ss);
/* clientInfo.name from initialize ("unknown" before or without one). */
const char *mcp_session_client_name(const mcp_session *ss);

/* Takes one message of len bytes: NULL when nothing is to be answered (a
 * notification, an answer to the server), else the job that answers it. */
mcp_job *mcp_session_accept(mcp_session *ss, const char *msg, size_t len);
/* The same for a message of total bytes of which a transport kept only the
 * first n (over max_message): a job answering -32600 or -32700. */
mcp_job *mcp_session_accept_oversized(mcp_session *ss, const char *prefix, size_t n, size_t total);
/* What the job answers: "initialize", another method, or NULL (a batch, an
 * invalid message). */
const char *mcp_job_method(const mcp_job *j);
/* True when running the job calls no product handler (ping, the lists,
 * setLevel, an error): it cannot block, so a transport may run it at once
 * on its reading thread. */
bool mcp_job_quick(const mcp_job *j);
/* True when the job answers a message that was not a valid request (the
 * HTTP transport's 400). */
bool mcp_job_invalid(const mcp_job *j);
/* Runs the job: what it sends the client on the way (progress, log
 * messages, the server's own requests) goes to notify (NULL: dropped); the
 * response is appended to out, nothing when the client cancelled the
 * request. out's own cap bounds a response: one that would pass it is
 * replaced by a -32603 error. Returns PM_OK unless out cannot hold even
 * that. Once per job. */
pm_code mcp_job_run(mcp_job *j, const mcp_out *notify, pm_buf *out);
void mcp_job_free(mcp_job *j);
/* The job reads as cancelled from now on, as if the client had sent
 * notifications/cancelled for it (a transport whose client went away):
 * its handler stops at its next check and nothing is answered. Any
 * thread, while the job is not freed. */
void mcp_job_cancel(mcp_job *j);

/* One message through the server's own session (accept, run, free): for
 * tests and one-shot use, with nothing sent on the way. */
pm_code mcp_handle(mcp_server *s, const char *msg, size_t len, pm_buf *out);
pm_code mcp_handle_oversized(mcp_server *s, const char *prefix, size_t n, size_t total,
                             pm_buf *out);
/* mcp_session_protocol / _client_name of that session. */
const char *mcp_server_protocol(const mcp_server *s);
const char *mcp_server_client_name(const mcp_server *s);

/* ---- from a handler ------------------------------------------------------ */

/* The call fails as a tool error (isError: true) with this message, which
 * the model reads: say what was wrong and what to do. */
void mcp_call_fail(mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* From a resource reader: the resource does not exist (-32002, with this
 * message). */
void mcp_call_not_found(mcp_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same from a pm_err: its message, then detail and hint. */
void mcp_call_fail_err(mcp_call *c, const pm_err *err);
/* The client's name, for audit actors ("agent:NAME"). */
const char *mcp_call_client_name(const mcp_call *c);
mcp_server *mcp_call_server(const mcp_call *c);

/* True once the client cancelled this request (notifications/cancelled) or
 * the session was ended (mcp_session_cancel_all): stop at the next safe
 * point; the response is not sent. */
bool mcp_call_cancelled(const mcp_call *c);
/* notifications/progress, when the request carried a progress token
 * (otherwise nothing): progress must grow from call to call; total <= 0
 * means unknown; message may be NULL. */
void mcp_call_progress(mcp_call *c, double progress, double total, const char *message);

/* RFC 5424 severities, as logging/setLevel names them. */
typedef enum mcp_log_level {
    MCP_LOG_DEBUG,
    MCP_LOG_INFO,
    MCP_LOG_NOTICE,
    MCP_LOG_WARNING,
    MCP_LOG_ERROR,
    MCP_LOG_CRITICAL,
    MCP_LOG_ALERT,
    MCP_LOG_EMERGENCY
} mcp_log_level;
/* notifications/message with data (stolen) from logger (may be NULL), when
 * level is at or above the session's (every level until the client sets
 * one). */
void mcp_call_log(mcp_call *c, mcp_log_level level, const char *logger, json_t *data);
void mcp_call_logf(mcp_call *c, mcp_log_level level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* True when the client declared the capability in initialize ("sampling",
 * "elicitation", "roots"). */
bool mcp_call_client_has(const mcp_call *c, const char *capability);
/* Sends the client a request of its own (sampling/createMessage,
 * elicitation/create) on this call's stream and waits for the answer, up to
 * timeout_ms: the result (caller owns), or NULL after mcp_call_fail() saying
 * why (the client's error, a timeout, a cancelled call). params is stolen. */
json_t *mcp_call_request(mcp_call *c, const char *method, json_t *params, int timeout_ms);

/* Ends the connection carrying this call's stream, the call going on: the
 * client reconnects after retry_ms and gets the rest of the stream (HTTP's
 * SSE polling; nothing on stdio). */
void mcp_call_close_stream(mcp_call *c, int retry_ms);
/* A tool's content block (stolen): {type: text|image|audio|resource|
 * resource_link, ...} as MCP defines them. */
void mcp_call_content(mcp_call *c, json_t *block);
/* A prompt's message: role "user" or "assistant", content stolen. */
void mcp_call_message(mcp_call *c, const char *role, json_t *content);

/* ---- transports ---------------------------------------------------------- */

/* stdio: newline-delimited messages from in_fd, one message per line to
 * out_fd, until end of input (PM_OK, after the running request is done) or
 * a write fails (PM_ERR_IO). Blank lines are skipped; a trailing CR is
 * dropped; a line over max_message is read to its end with only the first
 * bytes kept. Requests run in order on a worker thread while the input is
 * read, so that cancellations and answers to the server's requests reach a
 * running tool. */
pm_code mcp_stdio_serve(mcp_server *s, int in_fd, int out_fd, pm_err *err);

#endif
