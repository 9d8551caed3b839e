/* colname.h - the one rule that turns a field name from data into a column
 * name. It is applied to every field of every record (through a cache), and
 * two fields that normalise to the same name in one record are a finding.
 *
 * The rule:
 *   1. ASCII letters are lowercased; other letters (valid UTF-8 above
 *      U+007F) are kept as they are, except invisible ones (C1 controls,
 *      no-break and other Unicode spaces, zero-width and direction marks,
 *      the byte order mark), which count as separators like step 2;
 *   2. every ASCII character other than a-z, 0-9 and '_' becomes '_'
 *      (spaces, quotes, semicolons, dots, dashes...);
 *   3. runs of more than two '_' collapse to "__" is NOT done: '__' is the
 *      nesting separator and must survive; leading and trailing '_' are
 *      trimmed;
 *   4. an empty result, or one starting with a digit, gets the prefix "c_";
 *      a name starting with "_pipemend" cannot occur after trimming;
 *   5. the result is cut to 63 bytes (PostgreSQL's limit) at a character
 *      boundary, and '_' left at the end by the cut are trimmed too, so
 *      that a normalised name normalises to itself ("c_" aside).
 * The result never needs quoting to be safe, but stores quote it anyway. */
#ifndef PM_SCHEMA_COLNAME_H
#define PM_SCHEMA_COLNAME_H

#include <stddef.h>

#define COLNAME_MAX 63

/* Writes the normalised form of name[0..n) into out (COLNAME_MAX + 1 bytes)
 * and returns its length. name must be valid UTF-8. */
size_t colname_normalise(const char *name, size_t n, char *out);

#endif
