"""What Superset asks SQLAlchemy's inspector over a PostgreSQL database
(SQLAlchemy 1.4 and psycopg2, as Superset pins them): the server's
version, schemas, tables, a table's columns with their types and its
primary key. Prints one line per fact for e2e/pgwire_bi_test.go."""
import sys

import sqlalchemy as sa

engine = sa.create_engine("postgresql+psycopg2://kapot@%s:%s/kapot?sslmode=disable" % (sys.argv[1], sys.argv[2]))
insp = sa.inspect(engine)
print("version", engine.dialect.server_version_info[:1])
print("schema", insp.default_schema_name)
print("tables", " ".join(sorted(insp.get_table_names(schema="public"))))
print("has_table", insp.has_table("orders"), insp.has_table("nosuch"))
for col in insp.get_columns("orders"):
    print("column", col["name"], col["type"], col["nullable"])
print("pk", insp.get_pk_constraint("orders")["constrained_columns"])
with engine.connect() as conn:
    print("rows", conn.execute(sa.text("SELECT count(*) FROM orders")).scalar())
