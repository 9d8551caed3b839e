/* serve_mcp.h - pipemend's tools, resources and prompts (src/tools) served
 * as an MCP server (src/mcp): the adapter between the product's face-neutral
 * tables and the generic MCP part, used by `pipemend mcp` (stdio) and
 * `pipemend serve` (Streamable HTTP). Each MCP call becomes a tool_call
 * whose answers go back as MCP's: a failure as an isError result, progress
 * as notifications/progress, log lines as notifications/message, the
 * caller as actor agent:<client name>. A resource a tool changed is told to
 * the sessions subscribed to it; get_metrics reads the server's own call
 * counts. */
#ifndef PM_DAEMON_SERVE_MCP_H
#define PM_DAEMON_SERVE_MCP_H

#include <stdbool.h>

#include "core/err.h"
#include "mcp/mcp.h"
#include "tools/tools.h"

typedef struct serve_mcp serve_mcp;

/* An MCP server with every tool, resource and prompt registered, calling
 * them with t (borrowed for the server's life; its changed, call_stats and
 * face are set here). serialize: handlers run one at a time (HTTP serves
 * sessions on many threads; the warehouse connection is one). NULL after
 * setting err. */
serve_mcp *serve_mcp_new(tools_ctx *t, const char *version, bool serialize, pm_err *err);
mcp_server *serve_mcp_server(serve_mcp *m);
void serve_mcp_free(serve_mcp *m);

#endif
