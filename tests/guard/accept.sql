-- accept.sql - proposals the guard must accept, one per entry, separated by a
-- line that is exactly --@@. Each entry opens with `-- why:` (what it shows),
-- `-- ops:` (how many typed ops it must yield) and `-- classes:` (the policy
-- class of each op against the fixture schema). tests/unit/test_guard.c runs
-- every entry through guard_parse_sql and guard_check_ops against
--   orders(id int64 not null, email varchar(64) not null, amount float64,
--          qty int32, created_at timestamp, note text)
-- with allowed tables orders and events (events does not exist yet).
--@@
-- why: a new nullable varchar column
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN coupon varchar(16)
--@@
-- why: boolean
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN gift boolean
--@@
-- why: bool
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN gift bool
--@@
-- why: smallint
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN rank smallint
--@@
-- why: int2
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN rank int2
--@@
-- why: integer
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN items integer
--@@
-- why: int
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN items int
--@@
-- why: int4
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN items int4
--@@
-- why: bigint
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN customer_id bigint
--@@
-- why: int8
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN customer_id int8
--@@
-- why: double precision
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN discount double precision
--@@
-- why: float8
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN discount float8
--@@
-- why: float is double precision
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN discount float
--@@
-- why: float(53) is double precision
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN discount float(53)
--@@
-- why: numeric without precision
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN total numeric
--@@
-- why: decimal is numeric
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN total decimal
--@@
-- why: character varying(n)
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN city character varying(255)
--@@
-- why: text
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN comment text
--@@
-- why: date
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN ship_date date
--@@
-- why: timestamp
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN shipped_at timestamp
--@@
-- why: timestamp without time zone
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN shipped_at timestamp without time zone
--@@
-- why: timestamptz
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN paid_at timestamptz
--@@
-- why: timestamp with time zone
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN paid_at timestamp with time zone
--@@
-- why: json is reviewable
-- ops: 1
-- classes: review
ALTER TABLE orders ADD COLUMN tags json
--@@
-- why: jsonb is json
-- ops: 1
-- classes: review
ALTER TABLE orders ADD COLUMN tags jsonb
--@@
-- why: the type spelt with its schema
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN customer_id pg_catalog.int8
--@@
-- why: the longest varchar PostgreSQL allows
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN blob varchar(10485760)
--@@
-- why: an explicit NULL
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN coupon text NULL
--@@
-- why: ADD without the COLUMN keyword
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD coupon text
--@@
-- why: int32 to int64 (lossless)
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN qty TYPE bigint
--@@
-- why: int32 to numeric (lossless)
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN qty TYPE numeric
--@@
-- why: int32 to float64 (lossless)
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN qty TYPE double precision
--@@
-- why: int32 to text (reviewable)
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN qty TYPE text
--@@
-- why: varchar(64) to varchar(128)
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN email TYPE varchar(128)
--@@
-- why: varchar(64) to text
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN email TYPE text
--@@
-- why: int64 to float64 may round: reviewable
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN id TYPE float8
--@@
-- why: int64 to numeric
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN id TYPE numeric
--@@
-- why: float64 to numeric: reviewable
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN amount TYPE numeric
--@@
-- why: timestamp to timestamptz: reviewable
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN created_at TYPE timestamptz
--@@
-- why: text to json: reviewable
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN note TYPE jsonb
--@@
-- why: SET DATA TYPE spelling
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN qty SET DATA TYPE int8
--@@
-- why: ALTER without the COLUMN keyword
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER qty TYPE bigint
--@@
-- why: drop not null on email
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN email DROP NOT NULL
--@@
-- why: drop not null on id
-- ops: 1
-- classes: review
ALTER TABLE orders ALTER COLUMN id DROP NOT NULL
--@@
-- why: three sub-commands, one of each kind
-- ops: 3
-- classes: auto auto review
ALTER TABLE orders ADD COLUMN coupon varchar(16), ALTER COLUMN qty TYPE bigint, ALTER COLUMN email DROP NOT NULL
--@@
-- why: several new columns
-- ops: 3
-- classes: auto auto auto
ALTER TABLE orders ADD COLUMN a int, ADD COLUMN b text, ADD c date
--@@
-- why: widen and drop not null on the same column
-- ops: 2
-- classes: auto review
ALTER TABLE orders ALTER COLUMN email TYPE varchar(255), ALTER COLUMN email DROP NOT NULL
--@@
-- why: create the allowed table that does not exist yet
-- ops: 1
-- classes: review
CREATE TABLE events (id bigint NOT NULL, kind varchar(32), payload jsonb, at timestamptz)
--@@
-- why: create with one column
-- ops: 1
-- classes: review
CREATE TABLE events (id bigint)
--@@
-- why: create with every type
-- ops: 1
-- classes: review
CREATE TABLE events (
  b boolean,
  s smallint,
  i integer,
  l bigint NOT NULL,
  f double precision,
  n numeric,
  v varchar(40),
  t text,
  d date,
  ts timestamp,
  tz timestamptz,
  j json
)
--@@
-- why: create with explicit NULL
-- ops: 1
-- classes: review
CREATE TABLE events (id bigint NULL, name text)
--@@
-- why: quoted table name that is already normal
-- ops: 1
-- classes: auto
ALTER TABLE "orders" ADD COLUMN coupon text
--@@
-- why: quoted column name that is already normal
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN "coupon" text
--@@
-- why: quoted type name
-- ops: 1
-- classes: auto
ALTER TABLE orders ALTER COLUMN "qty" TYPE "int8"
--@@
-- why: quoted table in CREATE
-- ops: 1
-- classes: review
CREATE TABLE "events" ("id" bigint)
--@@
-- why: mixed-case keywords and unquoted identifiers fold to lower case
-- ops: 1
-- classes: auto
aLtEr TaBlE OrDeRs AdD cOlUmN Coupon VarChar(16)
--@@
-- why: extra whitespace, tabs and newlines
-- ops: 1
-- classes: auto


   ALTER   TABLE	orders
	 ADD    COLUMN
   coupon		text   


--@@
-- why: comments around a single statement
-- ops: 1
-- classes: auto
/* proposed by the agent */ ALTER TABLE orders -- the table
  ADD COLUMN coupon text /* nullable */ -- done
--@@
-- why: nested comment before the statement
-- ops: 1
-- classes: auto
/* outer /* inner */ still a comment */ ALTER TABLE orders ADD COLUMN coupon text
--@@
-- why: a trailing semicolon
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN coupon text;
--@@
-- why: empty statements around the one statement
-- ops: 1
-- classes: auto
;; ALTER TABLE orders ADD COLUMN coupon text; ;
--@@
-- why: a non-ASCII column name in normal form
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN größe text
--@@
-- why: a CJK column name
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN 日本語 text
--@@
-- why: the nesting separator
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN address__city varchar(64)
--@@
-- why: the normal form of a name that started with a digit
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN c_1abc int
--@@
-- why: a 63-byte column name
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN a23456789012345678901234567890123456789012345678901234567890123 text
--@@
-- why: a keyword as a quoted column name in normal form
-- ops: 1
-- classes: auto
ALTER TABLE orders ADD COLUMN "select" text
