/* pg_deps.c - the blast radius of a change on PostgreSQL: the objects that
 * depend on the columns typed ops change, and the views carried through a
 * change of type.
 *
 * PostgreSQL refuses ALTER COLUMN ... TYPE on a column a view, a rule, a
 * policy, a trigger's column list or WHEN clause, a publication's row
 * filter or column list, or a generated column uses ("cannot alter type of
 * a column used by a view or rule"). It rebuilds indexes, constraints and
 * statistics objects itself. Views and materialized views pipemend can
 * carry through losslessly, in the apply's own transaction, the way
 * pg_dump would restore them:
 *
 *   1. find every view and materialized view that depends on a changed
 *      column, and every view on those, at any depth (pg_depend through
 *      their _RETURN rules), each with its depth: the longest path from
 *      the table;
 *   2. save each one's definition (pg_get_viewdef, under search_path
 *      pg_catalog so that every name in it is qualified), options,
 *      tablespace, owner, grants, comments (its own and its columns'),
 *      a materialized view's indexes and whether it was populated;
 *   3. drop them, deepest first; run the ALTER TABLE;
 *   4. create them again, shallowest first, and restore owner, grants,
 *      comments and indexes; refresh a materialized view that was
 *      populated;
 *   5. check that each definition, owner and grant list is exactly what
 *      was saved (a grant made by a role other than the owner could not
 *      be re-made as it was): anything else fails the transaction.
 *
 * What cannot be carried that way (a rule, a policy, a trigger, a row
 * filter, a generated column, a trigger, rule or default on one of the
 * views, column grants on a view) refuses the change with the objects'
 * names; nothing is dropped. Every statement is built on the server by
 * format() with %I and %L from the server's own catalog, never from data.
 * The definitions come from the catalog too: these are the database's
 * objects re-created as they were, not DDL from outside (invariant 3). */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/arena.h"

/* The CTEs both queries share. $1 schema, $2 table, $3 and $4: JSON
 * arrays of the columns whose type changes and of those losing NOT NULL.
 * views: the views over them, at any depth, with the column they reach
 * back to; closure: each view once, at its longest depth. */
#define DEPS_CTE                                                                                   \
    "WITH RECURSIVE tbl AS (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace " \
    "n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2), "                       \
    "touched AS (SELECT value AS name, 'widen' AS op FROM pg_catalog.jsonb_array_elements_text("   \
    "$3::jsonb) UNION ALL SELECT value, 'not_null' FROM pg_catalog.jsonb_array_elements_text("     \
    "$4::jsonb)), "                                                                                \
    "cols AS (SELECT a.attnum, a.attname, t.op, a.attacl FROM tbl JOIN pg_catalog.pg_attribute a " \
    "ON a.attrelid = tbl.oid JOIN touched t ON t.name = a.attname WHERE a.attnum > 0 AND NOT "     \
    "a.attisdropped), "                                                                            \
    "direct AS (SELECT DISTINCT c.attname, c.op, d.classid, d.objid, d.objsubid FROM tbl JOIN "    \
    "pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND "     \
    "d.refobjid = tbl.oid JOIN cols c ON c.attnum = d.refobjsubid WHERE d.deptype IN ('n', 'a') "  \
    "AND d.classid <> 'pg_catalog.pg_attrdef'::pg_catalog.regclass), "                             \
    "views(oid, depth, via, col) AS (SELECT r.ev_class, 1, 0::oid, x.attname FROM direct x JOIN "  \
    "pg_catalog.pg_rewrite r ON x.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND "     \
    "r.oid = x.objid WHERE x.op = 'widen' AND r.rulename = '_RETURN' UNION ALL SELECT "            \
    "r.ev_class, v.depth + 1, v.oid, v.col FROM views v JOIN pg_catalog.pg_depend d ON "           \
    "d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = v.oid AND "        \
    "d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass JOIN pg_catalog.pg_rewrite r ON "    \
    "r.oid = d.objid AND r.rulename = '_RETURN' AND r.ev_class <> v.oid WHERE v.depth < 32), "     \
    "closure AS (SELECT oid, max(depth) AS depth, (array_agg(via ORDER BY depth DESC))[1] AS "     \
    "via, min(col) AS col FROM views GROUP BY oid) "

#define REGCLASS(name) "'pg_catalog." name "'::pg_catalog.regclass"
#define DESCRIBE_REL(oid) "pg_catalog.pg_describe_object(" REGCLASS("pg_class") ", " oid ", 0)"

/* Rows: column, kind, name, what (widen, not_null, carried, blocks,
 * kept), note. */
static const char DEPS_SQL[] = DEPS_CTE
    /* the objects that use a changed column themselves */
    "SELECT x.attname::text, CASE WHEN r.oid IS NOT NULL THEN CASE WHEN r.rulename <> '_RETURN' "
    "THEN 'rule' WHEN rc.relkind = 'm' THEN 'materialized view' ELSE 'view' END WHEN x.classid "
    "= " REGCLASS("pg_class") " THEN CASE WHEN x.objid = (SELECT oid FROM tbl) THEN 'generated "
                              "column' "
                              "WHEN oc.relkind IN ('i', 'I') THEN 'index' WHEN oc.relkind = 'S' "
                              "THEN 'sequence' ELSE "
                              "'relation' END WHEN con.oid IS NOT NULL THEN CASE WHEN con.contype "
                              "= 'p' THEN 'primary key' "
                              "ELSE 'constraint' END WHEN x.classid = " REGCLASS(
                                  "pg_trigger") " THEN 'trigger' WHEN "
                                                "x.classid = " REGCLASS("pg_policy") " THEN "
                                                                                     "'policy' "
                                                                                     "WHEN "
                                                                                     "x.classid "
                                                                                     "= " REGCLASS("pg_publication_rel") " THEN 'publication' WHEN x.classid = " REGCLASS(
                                                                                         "pg_"
                                                                                         "statistic"
                                                                                         "_ext") " "
                                                                                                 "T"
                                                                                                 "H"
                                                                                                 "E"
                                                                                                 "N"
                                                                                                 " "
                                                                                                 "'"
                                                                                                 "s"
                                                                                                 "t"
                                                                                                 "a"
                                                                                                 "t"
                                                                                                 "i"
                                                                                                 "s"
                                                                                                 "t"
                                                                                                 "i"
                                                                                                 "c"
                                                                                                 "s"
                                                                                                 "'"
                                                                                                 " "
                                                                                                 "E"
                                                                                                 "L"
                                                                                                 "S"
                                                                                                 "E"
                                                                                                 " "
                                                                                                 "'"
                                                                                                 "o"
                                                                                                 "t"
                                                                                                 "h"
                                                                                                 "e"
                                                                                                 "r"
                                                                                                 "'"
                                                                                                 " "
                                                                                                 "E"
                                                                                                 "N"
                                                                                                 "D"
                                                                                                 ","
                                                                                                 " "
                                                                                                 "C"
                                                                                                 "A"
                                                                                                 "S"
                                                                                                 "E"
                                                                                                 " "
                                                                                                 "W"
                                                                                                 "H"
                                                                                                 "E"
                                                                                                 "N"
                                                                                                 " "
                                                                                                 "r"
                                                                                                 "."
                                                                                                 "r"
                                                                                                 "u"
                                                                                                 "l"
                                                                                                 "e"
                                                                                                 "n"
                                                                                                 "a"
                                                                                                 "m"
                                                                                                 "e"
                                                                                                 " "
                                                                                                 "="
                                                                                                 " "
                                                                                                 "'"
                                                                                                 "_"
                                                                                                 "R"
                                                                                                 "E"
                                                                                                 "T"
                                                                                                 "U"
                                                                                                 "R"
                                                                                                 "N"
                                                                                                 "'"
                                                                                                 " "
                                                                                                 "T"
                                                                                                 "H"
                                                                                                 "E"
                                                                                                 "N"
                                                                                                 " " DESCRIBE_REL(
                                                                                                     "r.ev_class") " ELSE pg_catalog.pg_describe_object(x.classid, "
                                                                                                                   "x.objid, x.objsubid) END, x.op, NULL::text, 1 AS part "
                                                                                                                   "FROM direct x LEFT JOIN pg_catalog.pg_rewrite r ON x.classid = " REGCLASS("pg_rewrite") " AND r.oid = x.objid LEFT JOIN pg_catalog.pg_class rc ON rc.oid = r.ev_class LEFT JOIN "
                                                                                                                                                                                                            "pg_catalog.pg_class oc ON x.classid = " REGCLASS("pg_class") " AND oc.oid = x.objid LEFT "
                                                                                                                                                                                                                                                                          "JOIN pg_catalog.pg_constraint con ON x.classid = " REGCLASS("pg_constraint") " AND con.oid = "
                                                                                                                                                                                                                                                                                                                                                        "x.objid "
                                                                                                                                                                                                                                                                                                                                                        /* views on those views */
                                                                                                                                                                                                                                                                                                                                                        "UNION ALL SELECT cl.col::text, CASE WHEN c.relkind = 'm' THEN 'materialized view' ELSE "
                                                                                                                                                                                                                                                                                                                                                        "'view' END, " DESCRIBE_REL(
                                                                                                                                                                                                                                                                                                                                                            "cl.oid") ", 'carried', 'on ' || " DESCRIBE_REL("cl.via") ", 2 "
                                                                                                                                                                                                                                                                                                                                                                                                                      "FROM closure cl JOIN pg_catalog.pg_class c ON c.oid = cl.oid WHERE cl.via <> 0 AND NOT "
                                                                                                                                                                                                                                                                                                                                                                                                                      "EXISTS (SELECT 1 FROM direct x JOIN pg_catalog.pg_rewrite r ON x.classid = " REGCLASS("pg_rewrite") " AND r.oid = x.objid WHERE r.ev_class = cl.oid) "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           /* what hangs on a view that must be re-created: its own indexes are
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            * carried; anything else (a trigger, a rule, a default, statistics,
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            * an object of another kind) blocks */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "UNION ALL SELECT cl.col::text, CASE WHEN ic.relkind IN ('i', 'I') THEN 'index' WHEN "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "d.classid = " REGCLASS("pg_rewrite") " THEN 'rule' WHEN d.classid = " REGCLASS("pg_trigger") " THEN 'trigger' WHEN d.classid = " REGCLASS(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               "pg_attrdef") " THEN 'default' WHEN d.classid = " REGCLASS("pg_statistic_ext") " THEN 'statistics' ELSE 'other' END, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), CASE WHEN ic.relkind IN "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              "('i', 'I') THEN 'carried' ELSE 'blocks' END, 'on ' || " DESCRIBE_REL(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "cl.oid") ", 3 "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            "FROM closure cl JOIN pg_catalog.pg_depend d ON d.refclassid = " REGCLASS("pg_class") " AND d.refobjid = cl.oid AND d.deptype IN ('n', 'a') LEFT JOIN pg_catalog.pg_rewrite r ON "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "d.classid = " REGCLASS(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "pg_rewrite") " AND r.oid = d.objid LEFT JOIN pg_catalog.pg_class ic "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "ON d.classid = " REGCLASS(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "pg_class") " AND ic.oid = d.objid WHERE coalesce(r.rulename::text, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "'') <> '_RETURN' "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                    "UNION ALL SELECT cl.col::text, 'grant', 'column grants on ' || " DESCRIBE_REL(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "cl.oid") ", 'blocks', 'pipemend re-creates grants on the view, not on its columns', 3 FROM closure cl "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = cl.oid AND "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "a.attacl IS NOT NULL) "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  /* grants on the views, re-made with them (the owner's own are not
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   * listed) */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "UNION ALL SELECT cl.col::text, 'grant', pg_catalog.format('%s on %s to %s', "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type), " DESCRIBE_REL(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "cl.oid") ", CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "pg_catalog.pg_get_userbyid(a.grantee)::text END), 'carried', NULL, 4 FROM closure cl JOIN "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "pg_catalog.pg_class c ON c.oid = cl.oid CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "WHERE a.grantee <> c.relowner GROUP BY cl.col, cl.oid, a.grantee "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                /* grants on the changed columns stay as they are */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "UNION ALL SELECT c.attname::text, 'grant', pg_catalog.format('%s (%I) on %s to %s', "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                "pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type), c.attname, " DESCRIBE_REL("(SELECT oid FROM tbl)") ", CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "pg_catalog.pg_get_userbyid(a.grantee)::text END), 'kept', NULL, 5 FROM cols c CROSS JOIN "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "LATERAL pg_catalog.aclexplode(c.attacl) a GROUP BY c.attname, a.grantee "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             /* row triggers of the table and publications of all of it: the
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                              * change does not touch them, but they see the new type */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "UNION ALL SELECT NULL, 'trigger', pg_catalog.pg_describe_object(" REGCLASS("pg_trigger") ", g.oid, 0), 'kept', 'its function is not checked against the new type', 6 FROM "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "pg_catalog.pg_trigger g WHERE g.tgrelid = (SELECT oid FROM tbl) AND NOT g.tgisinternal AND "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "EXISTS (SELECT 1 FROM cols WHERE op = 'widen') AND NOT EXISTS (SELECT 1 FROM direct x WHERE "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "x.classid = " REGCLASS("pg_trigger") " AND x.objid = g.oid) "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "UNION ALL SELECT NULL, 'publication', pg_catalog.format('publication %I', p.pubname), "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "'kept', 'its subscribers receive the new type', 6 FROM pg_catalog.pg_publication_tables p "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "WHERE p.schemaname = $1 AND p.tablename = $2 AND EXISTS (SELECT 1 FROM cols WHERE op = "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "'widen') AND NOT EXISTS (SELECT 1 FROM direct x JOIN pg_catalog.pg_publication_rel pr ON "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                             "x.classid = " REGCLASS("pg_publication_rel") " AND pr.oid = x.objid JOIN "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "pg_catalog.pg_publication pb ON pb.oid = pr.prpubid WHERE pb.pubname = p.pubname) "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           "ORDER BY 6, 1, 3";

/* Rows, shallowest first: qualified name, drop, create, what follows the
 * create (owner, grants, comments, indexes, refresh: statements joined by
 * ";\n", or ""), and what the check compares: definition, grants, owner. */
static const char CARRY_SQL[] = DEPS_CTE
    "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format('DROP %s %I.%I', "
    "w.word, n.nspname, c.relname), pg_catalog.format('CREATE %s %I.%I%s%s AS %s%s', w.word, "
    "n.nspname, c.relname, coalesce(' WITH (' || (SELECT pg_catalog.string_agg("
    "pg_catalog.format('%I = %L', pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, "
    "pg_catalog.strpos(o, '=') + 1)), ', ') FROM pg_catalog.unnest(c.reloptions) o) || ')', ''), "
    "CASE WHEN c.reltablespace <> 0 THEN pg_catalog.format(' TABLESPACE %I', (SELECT spcname FROM "
    "pg_catalog.pg_tablespace WHERE oid = c.reltablespace)) ELSE '' END, "
    "pg_catalog.regexp_replace(pg_catalog.pg_get_viewdef(c.oid), ';\\s*$', ''), CASE WHEN "
    "c.relkind = 'm' THEN ' WITH NO DATA' ELSE '' END), "
    "coalesce((SELECT pg_catalog.string_agg(s, E';\\n' ORDER BY o, s) FROM ("
    "SELECT 1 AS o, pg_catalog.format('ALTER %s %I.%I OWNER TO %I', w.word, n.nspname, c.relname, "
    "pg_catalog.pg_get_userbyid(c.relowner)) AS s "
    "UNION ALL SELECT 2, pg_catalog.format('REVOKE ALL ON %I.%I FROM %I', n.nspname, c.relname, "
    "pg_catalog.pg_get_userbyid(c.relowner)) WHERE c.relacl IS NOT NULL "
    "UNION ALL SELECT 3, pg_catalog.format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, "
    "n.nspname, c.relname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
    "pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, CASE WHEN a.is_grantable "
    "THEN ' WITH GRANT OPTION' ELSE '' END) FROM pg_catalog.aclexplode(c.relacl) a "
    "UNION ALL SELECT 4, pg_catalog.format('COMMENT ON %s %I.%I IS %L', w.word, n.nspname, "
    "c.relname, d.description) FROM pg_catalog.pg_description d WHERE d.objoid = c.oid AND "
    "d.classoid = " REGCLASS(
        "pg_class") " AND d.objsubid = 0 "
                    "UNION ALL SELECT 5, pg_catalog.format('COMMENT ON COLUMN %I.%I.%I IS %L', "
                    "n.nspname, "
                    "c.relname, a.attname, d.description) FROM pg_catalog.pg_description d JOIN "
                    "pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
                    "WHERE d.objoid = "
                    "c.oid AND d.classoid = " REGCLASS(
                        "pg_class") " AND d.objsubid > 0 "
                                    "UNION ALL SELECT 6, pg_catalog.pg_get_indexdef(i.indexrelid) "
                                    "FROM pg_catalog.pg_index i "
                                    "WHERE i.indrelid = c.oid "
                                    "UNION ALL SELECT 7, pg_catalog.format('COMMENT ON INDEX %I.%I "
                                    "IS %L', n.nspname, ic.relname, "
                                    "d.description) FROM pg_catalog.pg_index i JOIN "
                                    "pg_catalog.pg_class ic ON ic.oid = "
                                    "i.indexrelid JOIN pg_catalog.pg_description d ON d.objoid = "
                                    "ic.oid AND d.classoid = " REGCLASS(
                                        "pg_class") " AND d.objsubid = 0 WHERE i.indrelid = c.oid "
                                                    "UNION ALL SELECT 8, "
                                                    "pg_catalog.format('REFRESH MATERIALIZED VIEW "
                                                    "%I.%I', n.nspname, "
                                                    "c.relname) WHERE c.relkind = 'm' AND "
                                                    "c.relispopulated) x), ''), "
                                                    "pg_catalog.pg_get_viewdef(c.oid), "
                                                    "coalesce((SELECT "
                                                    "pg_catalog.string_agg(x::text, ' ' ORDER "
                                                    "BY x::text) FROM pg_catalog.unnest(c.relacl) "
                                                    "x), ''), "
                                                    "pg_catalog.pg_get_userbyid(c.relowner)::text "
                                                    "FROM closure cl JOIN pg_catalog.pg_class c ON "
                                                    "c.oid = cl.oid JOIN pg_catalog.pg_namespace n "
                                                    "ON n.oid = c.relnamespace CROSS JOIN LATERAL "
                                                    "(SELECT CASE WHEN c.relkind = 'm' THEN "
                                                    "'MATERIALIZED VIEW' ELSE 'VIEW' END AS word) "
                                                    "w ORDER BY cl.depth, c.oid";

static const char CHECK_SQL[] =
    "SELECT pg_catalog.pg_get_viewdef(c.oid) = $2, coalesce((SELECT pg_catalog.string_agg("
    "x::text, ' ' ORDER BY x::text) FROM pg_catalog.unnest(c.relacl) x), '') = $3, "
    "pg_catalog.pg_get_userbyid(c.relowner)::text = $4 FROM pg_catalog.pg_class c WHERE c.oid = "
    "pg_catalog.to_regclass($1)";

/* The JSON arrays of the columns ops change the type of ($3) and drop NOT
 * NULL from ($4); *any: whether there is one. Callers free both. */
static void touched(const pm_op *ops, size_t n, char **widen, char **not_null, bool *any)
{
    json_t *w = json_array(), *nn = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].column)
            continue;
        if (ops[i].kind == OP_WIDEN_COLUMN || ops[i].kind == OP_RETYPE_COLUMN)
            json_array_append_new(w, json_string(ops[i].column));
        else if (ops[i].kind == OP_DROP_NOT_NULL)
            json_array_append_new(nn, json_string(ops[i].column));
    }
    *any = json_array_size(w) || json_array_size(nn);
    *widen = json_dumps(w, JSON_COMPACT);
    *not_null = json_dumps(nn, JSON_COMPACT);
    json_decref(w);
    json_decref(nn);
}

/* What the apply does with a dependent of kind reached by what (DEPS_SQL's
 * fourth column), and why when it refuses. */
static const char *action_of(const char *kind, const char *what, const char **note)
{
    if (strcmp(what, "carried") == 0)
        return "re-created";
    if (strcmp(what, "kept") == 0)
        return "kept";
    if (strcmp(what, "blocks") == 0) {
        if (!*note)
            *note = "pipemend cannot re-create it with the view";
        return "refused";
    }
    if (strcmp(what, "not_null") == 0) {
        if (strcmp(kind, "primary key") == 0) {
            *note = "a primary key column cannot allow nulls";
            return "refused";
        }
        return "kept";
    }
    /* a change of type */
    if (strcmp(kind, "view") == 0 || strcmp(kind, "materialized view") == 0)
        return "re-created";
    if (strcmp(kind, "index") == 0 || strcmp(kind, "constraint") == 0 ||
        strcmp(kind, "primary key") == 0 || strcmp(kind, "statistics") == 0)
        return "rebuilt";
    if (strcmp(kind, "sequence") == 0)
        return "kept";
    *note = strcmp(kind, "rule") == 0 ? "PostgreSQL cannot change the type of a column a rule uses"
            : strcmp(kind, "policy") == 0
                ? "PostgreSQL cannot change the type of a column a policy "
                  "uses"
            : strcmp(kind, "trigger") == 0
                ? "PostgreSQL cannot change the type of a column in a trigger's column list or "
                  "WHEN clause"
            : strcmp(kind, "publication") == 0
                ? "PostgreSQL cannot change the type of a column in a publication's row filter "
                  "or column list"
            : strcmp(kind, "generated column") == 0
                ? "PostgreSQL cannot change the type of a column a generated column uses"
                : "PostgreSQL cannot change the type of a column it uses";
    return "refused";
}

pm_code pg_dependents(pm_store *s, const pm_table *t, const pm_op *ops, size_t n, pm_arena *a,
                      pm_dependent **out, size_t *nout, pm_err *err)
{
    pg *p = pg_of(s);
    *out = NULL;
    *nout = 0;
    char *widen, *not_null;
    bool any;
    touched(ops, n, &widen, &not_null, &any);
    PGresult *res = NULL, *path = NULL;
    pm_code rc = PM_OK;
    /* under search_path pg_catalog, pg_describe_object names every object
     * with its schema, whatever the session's path */
    if (any)
        rc = pg_query(p,
                      "SELECT pg_catalog.current_setting('search_path'), "
                      "pg_catalog.set_config('search_path', 'pg_catalog', false)",
                      0, NULL, &path, "cannot set the search path", err);
    if (!rc && any) {
        const char *params[] = {PG_DATA_SCHEMA, t->name, widen, not_null};
        rc = pg_query(p, DEPS_SQL, 4, params, &res, "cannot read what depends on the table", err);
        const char *pp[] = {PQgetvalue(path, 0, 0)};
        pm_err back;
        pm_code brc = pg_query(p, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, pp,
                               NULL, "cannot restore the search path", &back);
        if (!rc && brc) {
            PQclear(res);
            *err = back;
            rc = brc;
        }
    }
    PQclear(path);
    free(widen);
    free(not_null);
    if (rc || !any)
        return rc;
    int rows = PQntuples(res);
    pm_dependent *d = pm_arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *d);
    for (int i = 0; i < rows; i++) {
        const char *note = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
        d[i].column = PQgetisnull(res, i, 0) ? NULL : pm_arena_strdup(a, PQgetvalue(res, i, 0));
        d[i].kind = pm_arena_strdup(a, PQgetvalue(res, i, 1));
        d[i].name = pm_arena_strdup(a, PQgetvalue(res, i, 2));
        d[i].action = action_of(d[i].kind, PQgetvalue(res, i, 3), &note);
        d[i].note = note ? pm_arena_strdup(a, note) : NULL;
    }
    PQclear(res);
    *out = d;
    *nout = (size_t)rows;
    return PM_OK;
}

/* PM_ERR_SCHEMA naming the refused dependents among d[0..n), or PM_OK. */
static pm_code refuse(const pm_table *t, const pm_dependent *d, size_t n, pm_err *err)
{
    pm_buf b;
    pm_buf_init(&b, 1 << 16);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].action, "refused") != 0)
            continue;
        pm_buf_printf(&b, NULL, "%s%s%s%s%s", k++ ? "; " : "", d[i].name,
                      d[i].column ? " (column " : "", d[i].column ? d[i].column : "",
                      d[i].column ? ")" : "");
    }
    pm_code rc = PM_OK;
    if (k) {
        rc = pm_err_set(err, PM_ERR_SCHEMA,
                        "cannot change %s: %s %s on what the change touches, and pipemend cannot "
                        "carry %s through it",
                        t->name, b.data, k == 1 ? "depends" : "depend", k == 1 ? "it" : "them");
        pm_err_hint(err,
                    "drop or change %s, apply the change, then create %s again; or reject "
                    "the proposal (its rows stay in quarantine)",
                    k == 1 ? "it" : "them", k == 1 ? "it" : "them");
    }
    pm_buf_free(&b);
    return rc;
}

pm_code pg_alter_carrying(pm_store *s, const pm_table *t, const pm_op *ops, size_t n,
                          const char *alter, pm_err *err)
{
    pg *p = pg_of(s);
    char *widen, *not_null;
    bool any;
    touched(ops, n, &widen, &not_null, &any);
    if (!any) {
        free(widen);
        free(not_null);
        return alter ? pg_exec(p, alter, "cannot change the table", err) : PM_OK;
    }
    pm_arena *a = pm_arena_new(0);
    pm_dependent *d = NULL;
    size_t nd = 0;
    pm_code rc = pg_dependents(s, t, ops, n, a, &d, &nd, err);
    if (!rc)
        rc = refuse(t, d, nd, err);
    /* Definitions read under search_path pg_catalog name every object
     * with its schema, so they mean the same whatever the session's path;
     * the path is put back (set_config local: a rollback restores it
     * too). */
    PGresult *path = NULL, *plan = NULL;
    if (!rc)
        rc = pg_query(p, "SELECT pg_catalog.current_setting('search_path')", 0, NULL, &path,
                      "cannot read the search path", err);
    if (!rc)
        rc = pg_exec(p, "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true)",
                     "cannot set the search path", err);
    const char *params[] = {PG_DATA_SCHEMA, t->name, widen, "[]"};
    if (!rc)
        rc = pg_query(p, CARRY_SQL, 4, params, &plan, "cannot save the dependent views", err);
    int nv = rc ? 0 : PQntuples(plan);
    for (int i = nv - 1; !rc && i >= 0; i--)
        rc = pg_exec(p, PQgetvalue(plan, i, 1), "cannot drop a dependent view", err);
    if (!rc && alter)
        rc = pg_exec(p, alter, "cannot change the table", err);
    for (int i = 0; !rc && i < nv; i++) {
        rc = pg_exec(p, PQgetvalue(plan, i, 2), "cannot create a dependent view again", err);
        if (!rc && *PQgetvalue(plan, i, 3))
            rc = pg_exec(p, PQgetvalue(plan, i, 3),
                         "cannot restore a dependent view's owner, grants, comments or indexes",
                         err);
    }
    for (int i = 0; !rc && i < nv; i++) {
        const char *cp[] = {PQgetvalue(plan, i, 0), PQgetvalue(plan, i, 4), PQgetvalue(plan, i, 5),
                            PQgetvalue(plan, i, 6)};
        PGresult *same = NULL;
        rc = pg_query(p, CHECK_SQL, 4, cp, &same, "cannot check a re-created view", err);
        if (rc)
            break;
        const char *bad = PQntuples(same) != 1                       ? "it is missing"
                          : strcmp(PQgetvalue(same, 0, 0), "t") != 0 ? "its definition differs"
                          : strcmp(PQgetvalue(same, 0, 1), "t") != 0
                              ? "its grants differ (a grant made by a role other than its owner "
                                "cannot be made again as it was)"
                          : strcmp(PQgetvalue(same, 0, 2), "t") != 0 ? "its owner differs"
                                                                     : NULL;
        PQclear(same);
        if (bad) {
            rc = pm_err_set(err, PM_ERR_SCHEMA,
                            "cannot change %s: %s would not come back exactly as it was: %s",
                            t->name, PQgetvalue(plan, i, 0), bad);
            pm_err_hint(err, "drop it, apply the change, then create it again; or reject the "
                             "proposal (its rows stay in quarantine)");
        }
    }
    if (!rc) {
        const char *pp[] = {PQgetvalue(path, 0, 0)};
        rc = pg_query(p, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, pp, NULL,
                      "cannot restore the search path", err);
    }
    PQclear(path);
    PQclear(plan);
    pm_arena_free(a);
    free(widen);
    free(not_null);
    return rc;
}
