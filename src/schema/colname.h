/* colname.h - the one rule that turns a field name from data into a column
 * name. It is applied to every field of every record (through a cache), and
 * two fields that normalise to the same name in one record are a finding.
 *
 * The rule:
 *   1. ASCII letters are lowercased; other letters (valid UTF-8 above
 *      U+007F) are kept as they are, except invisible ones, which count as
 *      separators like step 2: C1 controls, every Unicode space, every
 *      format character (zero-width, joiners, direction marks and
 *      isolates, the byte order mark, tag characters U+E0000-E007F), every
 *      Default_Ignorable_Code_Point (variation selectors, Hangul fillers
 *      U+115F U+1160 U+3164 U+FFA0, the combining grapheme joiner, ...) and
 *      the braille blank U+2800 (colname_invisible);
 *   2. every ASCII character other than a-z, 0-9 and '_' becomes '_'
 *      (spaces, quotes, semicolons, dots, dashes...);
 *   3. runs of more than two '_' collapse to "__" is NOT done: '__' is the
 *      nesting separator and must survive; leading and trailing '_' are
 *      trimmed;
 *   4. an empty result, or one starting with a digit, gets the prefix "c_";
 *      a name starting with "_pipemend" cannot occur after trimming;
 *   5. the result is cut to 63 bytes (PostgreSQL's limit) at a character
 *      boundary, and '_' left at the end by the cut are trimmed too, so
 *      that a normalised name normalises to itself ("c_" aside);
 *   6. a system column's name on either backend (colname_system: ctid,
 *      xmin, xmax, cmin, cmax, tableoid, oid on PostgreSQL; rowid, and
 *      oid and _rowid_ as trimmed, on SQLite) gets the prefix "c_": field
 *      "ctid" is column "c_ctid". PostgreSQL refuses a user column of
 *      such a name, and on SQLite one would shadow the row id, so a feed
 *      carrying one could otherwise not be loaded (PostgreSQL) or would
 *      load differently on the two backends. Mapping, rather than
 *      quarantining, keeps the value and needs no person: the rule is
 *      fixed, the same for every record and both backends, and the
 *      mapped name cannot collide with a system name again.
 * The result never needs quoting to be safe, but stores quote it anyway.
 * So no column name holds a character that does not show: "email" followed
 * by tag characters is "email", and a name of fillers alone is "c_".
 * Names that differ but look alike ("code" and Cyrillic "соdе") are
 * confusable.h's business. */
#ifndef PM_SCHEMA_COLNAME_H
#define PM_SCHEMA_COLNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COLNAME_MAX 63

/* Writes the normalised form of name[0..n) into out (COLNAME_MAX + 1 bytes)
 * and returns its length. name must be valid UTF-8. */
size_t colname_normalise(const char *name, size_t n, char *out);

/* Is name (normalised) a system column's name on either backend (step 6)? */
bool colname_system(const char *name);

/* Is code point cp one that step 1 turns into a separator? */
bool colname_invisible(uint32_t cp);

#endif
