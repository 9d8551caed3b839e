/* confusable.h - when two column names look alike without being the same.
 *
 * colname.h turns every character that does not show into a separator, so
 * no name hides a difference in an invisible character. What it cannot
 * do is tell that "соdе" (Cyrillic) and "code" (Latin) are two names that
 * read as one: both are letters. This module answers that, with the
 * confusables skeleton of Unicode's UTS #39 as ICU's spoof checker
 * computes it, taken a little further for column names:
 *
 *   skeleton(name) = strip_marks(uts39_skeleton(NFKC(name)))
 *
 *   - NFKC first, so that fullwidth and mathematical letters ("ｅｍａｉｌ",
 *     "𝐧𝐨𝐭𝐞") read as the ASCII they are drawn from (UTS #39 keeps some of
 *     them apart);
 *   - then UTS #39 (which decomposes, NFD): Cyrillic and Greek look-alikes,
 *     "rn" for "m", "l" for "1" ...;
 *   - then nonspacing marks are dropped: an accent is easy to miss in a
 *     column list, so "noté" looks like "note" (and "é" written
 *     precomposed or as e + U+0301 are one name to the eye).
 *
 * Two names look alike when they differ and their skeletons are equal.
 * Case is kept, like the names themselves (ASCII is lowercase already).
 * The rule is ICU's data of the day (Debian's libicu), unlike colname.h's,
 * which must never change under existing columns: a look-alike only ever
 * holds a change for a person, it never renames anything. */
#ifndef PM_SCHEMA_CONFUSABLE_H
#define PM_SCHEMA_CONFUSABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/table.h"

/* Room for the skeleton of any name of up to COLNAME_MAX bytes. */
#define CONFUSABLE_SKELETON_MAX 4096

/* Writes the skeleton of the NUL-terminated UTF-8 name into out (cap
 * bytes, NUL-terminated). False when name is not valid UTF-8, the
 * skeleton does not fit or ICU fails: then out holds name itself (cut),
 * so that a caller comparing skeletons still compares something. */
bool confusable_skeleton(const char *name, char *out, size_t cap);

/* Do a and b look alike: different names with the same skeleton? */
bool confusable_pair(const char *a, const char *b);

/* The index of the first column of t whose name looks like name without
 * being it, or -1 (also for t NULL). */
int confusable_find_column(const pm_table *t, const char *name);

/* " (it contains U+0441, U+043E, ...)": the non-ASCII code points of
 * name, up to four, for a message that must show a person why two names
 * that read the same are not; "" for an ASCII name. Writes into buf (cap
 * bytes, at least 64) and returns it. */
const char *confusable_note(const char *name, char *buf, size_t cap);

#endif
