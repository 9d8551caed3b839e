/* export.h - a proposal as a migration for review: for teams whose schema
 * changes go through pull requests. `pipemend proposals export ID --dir
 * DIR` and `pipemend serve` (a pipeline's review: export_dir) write
 *
 *   DIR/NNNN_pipemend_TABLE_proposal_ID.sql   the DDL exactly as it would
 *                                            run on this backend
 *   DIR/NNNN_pipemend_TABLE_proposal_ID.md    what it is and why: the ops in
 *                                            words, each op's policy class,
 *                                            the incident and its evidence
 *                                            (feed text indented, never
 *                                            markup), the dry run
 *
 * NNNN is one more than the highest number among DIR's NNNN_*.sql files;
 * exporting a proposal again keeps its number and rewrites its files. The
 * files are for review only: approval still goes through pipemend, which
 * applies the same DDL and records it (running the file by hand would
 * leave the catalog behind; the next run adopts it as a change made
 * outside pipemend). */
#ifndef PM_TOOLS_EXPORT_H
#define PM_TOOLS_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pipeline/config.h"
#include "store/store.h"

/* Whether dir holds proposal id's files already (exported before). */
bool export_exists(const char *dir, int64_t id);

/* Writes proposal id's two files into dir (which must exist); their
 * paths into sql_path and md_path (each n bytes). */
pm_code export_proposal(pm_store *s, const pm_config *cfg, int64_t id, const char *dir,
                        char *sql_path, char *md_path, size_t n, pm_err *err);

#endif
