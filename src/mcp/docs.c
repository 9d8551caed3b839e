/* docs.c - placeholder; being written. */
#include "mcp/mcp_int.h"

pm_code mcp_server_docs(const mcp_server *s, pm_buf *out)
{
    return pm_buf_puts(out, "", NULL);
}
