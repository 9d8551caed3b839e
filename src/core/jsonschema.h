/* jsonschema.h - the part of JSON Schema (2020-12) that tool arguments and
 * results are checked against: type (one or a list), properties, required,
 * additionalProperties (false or a schema), items, enum, minimum, maximum,
 * minLength, maxLength. Other keywords are accepted and ignored, so a tool
 * may document more than is enforced here.
 *
 * The message names the failing place the way a model would fix it:
 * `argument "limit": expected integer, got string`. */
#ifndef PM_CORE_JSONSCHEMA_H
#define PM_CORE_JSONSCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* true when v fits schema; else false and a one-line reason in msg. what
 * names v in the message ("argument", "result"). */
bool jsonschema_check(const json_t *schema, const json_t *v, const char *what, char *msg, size_t n);

#endif
