"""The Redshift Data API emulator through boto3, as a user's own CI would drive it.

Usage: emulator_boto3.py ENDPOINT_URL. Every one of the 11 operations is called and its reply
checked against seed 004's shapes; exits non-zero with the failing check on the first mismatch.
"""

import datetime
import sys
import time
import uuid

import boto3
from botocore.exceptions import ClientError

URL = sys.argv[1]
rsd = boto3.client(
    "redshift-data",
    endpoint_url=URL,
    region_name="us-east-1",
    aws_access_key_id="any",
    aws_secret_access_key="thing",
)
TARGET = {"ClusterIdentifier": "ci", "Database": "dev", "DbUser": "ci_user"}


def wait(statement_id):
    for _ in range(1000):
        d = rsd.describe_statement(Id=statement_id)
        if d["Status"] in ("FINISHED", "FAILED", "ABORTED"):
            return d
        time.sleep(0.02)
    raise AssertionError(f"{statement_id} never ended")


def run(sql, **extra):
    return wait(rsd.execute_statement(Sql=sql, **TARGET, **extra)["Id"])


def error_code(call, **kwargs):
    try:
        out = call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    if "Id" in out:
        wait(out["Id"])
    return ("no error", 200)


# ExecuteStatement + DescribeStatement: ids, epoch timestamps (boto3 parses them to datetimes).
out = rsd.execute_statement(Sql="SELECT :n::INT AS n", Parameters=[{"name": "n", "value": "7"}], **TARGET)
assert len(out["Id"]) == 36 and isinstance(out["CreatedAt"], datetime.datetime), out
d = wait(out["Id"])
assert d["Status"] == "FINISHED" and d["HasResultSet"] and d["ResultRows"] == 1, d
assert d["QueryParameters"] == [{"name": "n", "value": "7"}], d
assert d["DbUser"] == "ci_user" and d["ClusterIdentifier"] == "ci", d
assert isinstance(d["Duration"], int) and isinstance(d["UpdatedAt"], datetime.datetime), d

# GetStatementResult: Field unions and ColumnMetadata; paging across 3+ pages.
r = rsd.get_statement_result(Id=out["Id"])
assert r["Records"] == [[{"longValue": 7}]], r["Records"]
assert r["ColumnMetadata"][0]["typeName"] == "int4" and r["TotalNumRows"] == 1, r
big = run("SELECT i FROM range(2500) t(i) ORDER BY i")
rows, token, pages = [], None, 0
while True:
    page = rsd.get_statement_result(Id=big["Id"], **({"NextToken": token} if token else {}))
    pages += 1
    rows += [rec[0]["longValue"] for rec in page["Records"]]
    token = page.get("NextToken")
    if not token:
        break
assert pages >= 3 and rows == list(range(2500)), (pages, len(rows))

# GetStatementResultV2: CSV records.
csv = rsd.execute_statement(Sql="SELECT 1 AS a, 'b' AS b", ResultFormat="CSV", **TARGET)
wait(csv["Id"])
v2 = rsd.get_statement_result_v2(Id=csv["Id"])
assert v2["Records"] == [{"CSVRecords": "a,b\n1,b\n"}] and v2["ResultFormat"] == "CSV", v2

# BatchExecuteStatement is one transaction: a failing third statement rolls back the first two.
table = "t_" + uuid.uuid4().hex[:12]
run(f"CREATE TABLE {table} (id INT)")
batch = rsd.batch_execute_statement(
    Sqls=[f"INSERT INTO {table} VALUES (1)", f"INSERT INTO {table} VALUES (2)", "SELECT 1/0::INT FROM nope"], **TARGET
)
d = wait(batch["Id"])
assert d["Status"] == "FAILED" and [s["Status"] for s in d["SubStatements"]][2] == "FAILED", d
assert d["SubStatements"][0]["Id"] == batch["Id"] + ":1", d["SubStatements"][0]
count = run(f"SELECT count(*) FROM {table}")
assert rsd.get_statement_result(Id=count["Id"])["Records"] == [[{"longValue": 0}]], "the batch was not rolled back"

# CancelStatement of a long statement; ClientToken replay; the active-statement limit.
long = rsd.execute_statement(Sql="SELECT count(*) FROM range(1000000000000)", **TARGET)
time.sleep(0.2)
assert rsd.cancel_statement(Id=long["Id"])["Status"] is True
assert wait(long["Id"])["Status"] == "ABORTED"
token = uuid.uuid4().hex
first = rsd.execute_statement(Sql="SELECT 1", ClientToken=token, **TARGET)["Id"]
assert rsd.execute_statement(Sql="SELECT 1", ClientToken=token, **TARGET)["Id"] == first
wait(first)
running = []
try:
    for _ in range(2):
        running.append(rsd.execute_statement(Sql="SELECT count(*) FROM range(1000000000000)", **TARGET)["Id"])
    refused = error_code(rsd.execute_statement, Sql="SELECT 1", **TARGET)
finally:
    # Never leave endless statements behind, whatever the check found.
    for statement_id in running:
        rsd.cancel_statement(Id=statement_id)
        wait(statement_id)
assert refused == ("ActiveStatementsExceededException", 400), refused

# ListStatements, ListDatabases, ListSchemas, ListTables, DescribeTable.
name = "boto3-" + uuid.uuid4().hex[:8]
for n in range(4):
    run(f"SELECT {n}", StatementName=f"{name}-{n}")
listed = rsd.list_statements(StatementName=name, Status="ALL", MaxResults=3)
assert len(listed["Statements"]) == 3 and "NextToken" in listed, listed
rest = rsd.list_statements(StatementName=name, Status="ALL", MaxResults=3, NextToken=listed["NextToken"])
assert len(rest["Statements"]) == 1 and "NextToken" not in rest, rest
assert isinstance(rest["Statements"][0]["CreatedAt"], datetime.datetime)
assert rsd.list_databases(**TARGET)["Databases"] == ["dev"]
# Redshift's default schema is `public`, in every catalog answer and in SQL.
schemas = rsd.list_schemas(**TARGET)["Schemas"]
assert "public" in schemas and "main" not in schemas, schemas
tables = rsd.list_tables(**TARGET, SchemaPattern="public", TablePattern=table)["Tables"]
assert tables == [{"name": table, "schema": "public", "type": "TABLE"}], tables
described = rsd.describe_table(**TARGET, Schema="public", Table=table)
assert [(c["name"], c["typeName"]) for c in described["ColumnList"]] == [("id", "int4")], described
assert {c["schemaName"] for c in described["ColumnList"]} == {"public"}, described
catalog = run(
    "SELECT c.table_schema, c.data_type, current_user, current_database() "
    f"FROM information_schema.columns c CROSS JOIN (SELECT count(*) AS n FROM public.{table}) t "
    f"WHERE c.table_schema = 'public' AND c.table_name = '{table}'"
)
assert catalog["Status"] == "FINISHED", catalog
rows = rsd.get_statement_result(Id=catalog["Id"])["Records"]
assert {tuple(f["stringValue"] for f in row) for row in rows} == {("public", "integer", "ci_user", "dev")}, rows

# Errors: unknown statements, bad input.
assert error_code(rsd.describe_statement, Id=str(uuid.uuid4())) == ("ResourceNotFoundException", 400)
assert error_code(rsd.execute_statement, Sql="SELECT 1", Database="dev")[0] == "ValidationException"
print("boto3: all 11 operations as documented")
