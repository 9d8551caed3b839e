/* mcp_int.h - what mcp.c (the registry and the methods) and session.c
 * (sessions, jobs, dispatch and what a handler may send on the way) share.
 * Not for use outside src/mcp. */
#ifndef PM_MCP_MCP_INT_H
#define PM_MCP_MCP_INT_H

#include <pthread.h>
#include <stdint.h>

#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"

#define MCP_RESOURCE_NOT_FOUND (-32002)

typedef struct tool_stat {
    uint64_t calls;
    uint64_t failures;
    double ms;
} tool_stat;

typedef struct reg_tool {
    const mcp_tool *t; /* borrowed from the product's table */
    void *ctx;
    json_t *input;  /* parsed inputSchema, owned */
    json_t *output; /* parsed outputSchema, owned (NULL: none) */
    tool_stat stat; /* under the server's mu */
} reg_tool;

typedef struct reg_resource {
    const mcp_resource *r; /* borrowed from the product's table */
    void *ctx;
} reg_resource;

typedef struct reg_prompt {
    const mcp_prompt *p; /* borrowed from the product's table */
    void *ctx;
} reg_prompt;

struct mcp_server {
    mcp_server_info info;
    reg_tool *tools;
    size_t ntools, cap;
    reg_resource *resources;
    size_t nresources, rcap;
    reg_prompt *prompts;
    size_t nprompts, pcap;
    bool completions; /* some row completes its arguments */
    time_t started;
    pthread_mutex_t mu;         /* sessions, tool stats */
    pthread_mutex_t handler_mu; /* held around handlers when info.serialize */
    mcp_session *sessions;      /* every live session */
    mcp_session *own;           /* mcp_handle's */
};

/* A request the server sent the client, waiting for its answer. */
typedef struct pending {
    struct pending *next;
    int64_t id;
    json_t *result; /* owned, once answered */
    json_t *error;  /* owned, once answered with an error */
    bool done;
} pending;

struct mcp_session {
    mcp_server *s;
    mcp_session *next;  /* in the server's list */
    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;  /* answers, cancellations, close */
    bool initialized;   /* initialize answered */
    bool client_ready;  /* notifications/initialized received */
    bool closed;
    const char *protocol; /* one of the versions, NULL before initialize */
    char *client_name;
    json_t *client_caps; /* initialize's capabilities (owned) */
    int log_level;       /* -1 until logging/setLevel */
    json_t *subs;        /* uri -> true */
    mcp_out stream;
    bool has_stream;
    mcp_job *jobs; /* accepted and not yet freed */
    pending *pend;
    int64_t next_id;
};

struct mcp_job {
    mcp_session *ss;
    mcp_job *next; /* in the session's list */
    jsonrpc_msg m;
    char *raw; /* a batch's bytes (owned), for its elements' ids */
    size_t raw_len;
    bool cancelled; /* under ss->mu */
    bool listed;
    const mcp_out *notify; /* while it runs */
};

struct mcp_call {
    mcp_session *ss;
    mcp_job *j;
    json_t *params;   /* the request's (borrowed) */
    char *msg;        /* owned; set by mcp_call_fail */
    bool not_found;   /* set by mcp_call_not_found */
    json_t *content;  /* blocks from mcp_call_content (owned) */
    json_t *messages; /* from mcp_call_message (owned) */
};

/* What a method handler answers: a result (owned), or an error code with
 * its message. */
typedef struct reply {
    json_t *result;
    char *raw; /* or the result already encoded (malloc'd, NUL-ended) */
    int code;
    char msg[512];
    json_t *data; /* the error's data, owned; may be NULL */
} reply;

void mcp_reply_error(reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct mcp_method {
    const char *name;
    bool before_init; /* served before initialize */
    bool quick;       /* calls no product handler: never blocks or waits */
    void (*fn)(mcp_session *ss, mcp_job *j, json_t *params, reply *r);
} mcp_method;

const mcp_method *mcp_find_method(const char *name);
void mcp_call_init(mcp_call *c, mcp_session *ss, mcp_job *j, json_t *params);
void mcp_call_done(mcp_call *c);
/* Sends one message on the job's stream (notify) or, j NULL, the session's. */
void mcp_send(mcp_session *ss, const mcp_out *o, json_t *msg);
const char *mcp_negotiate(const char *asked);
const char *mcp_log_level_name(int level);

#endif
