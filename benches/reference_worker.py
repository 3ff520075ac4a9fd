"""The reference for the worker's CPU in `benches/aws_stack.rs`: Spectra's per-job protocol for
an export job, written plainly in Python with boto3, on the same local stack.

What it does per job is what `spectra worker` does (its logged call counts): the submit command
is received (long-polled batches of 10), the job read (`GetItem`, consistent), the UNLOAD
submitted (`ExecuteStatement`, `WithEvent`, named and with a client token), the job moved to
InProgress with a conditional `UpdateItem`; the status-change event arrives through the
EventBridge rule into the same queue, and the job is completed with a conditional `UpdateItem`
on the record remembered from the submit (no read), taking the row count from the event. Each
transition publishes a lifecycle event. With the same batching and concurrency: up to 64
messages in flight (a thread pool), deletes and lifecycle events grouped up to 10 per call,
waiting at most 250 ms for company.

    reference_worker.py produce N   # creates N job records and their submit commands
    reference_worker.py work N      # runs until N of them are complete, prints its CPU, exits

Environment: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_REDSHIFT_DATA (as `infra/local-stack` prints
them), SPECTRA_QUEUE_URL, SPECTRA_TABLE, SPECTRA_EVENT_BUS, SPECTRA_BUCKET, SPECTRA_IAM_ROLE.
Its records live under their own keys (`pyref#<id>`) and its statements are named `pyref:`, so
it never touches Spectra's jobs.
"""

import json
import os
import queue
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3

IN_FLIGHT = 64
BATCH = 10
LINGER = 0.25
GIVE_UP = 600
QUERY = "SELECT id, amount FROM bench_sales WHERE id < 100"
STATUS_CHANGE = "Redshift Data Statement Status Change"


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: start the local stack first")
    return value


class Batcher:
    """Group commit: the first item waits at most LINGER for up to BATCH - 1 others."""

    def __init__(self, send):
        self.send, self.items = send, queue.Queue()
        threading.Thread(target=self.run, daemon=True).start()

    def add(self, item):
        self.items.put(item)

    def run(self):
        while True:
            batch = [self.items.get()]
            deadline = time.monotonic() + LINGER
            while len(batch) < BATCH:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self.items.get(timeout=left))
                except queue.Empty:
                    break
            self.send(batch)


def key(job_id):
    return {"pk": {"S": f"pyref#{job_id}"}, "sk": {"S": "job"}}


def produce(n):
    ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    table, queue_url = env("SPECTRA_TABLE"), env("SPECTRA_QUEUE_URL")
    ids = [f"bulk-{uuid.uuid4()}" for _ in range(n)]
    for job_id in ids:
        item = key(job_id) | {"state": {"S": "UploadComplete"}, "version": {"N": "1"}, "query": {"S": QUERY}}
        ddb.put_item(TableName=table, Item=item)
    for start in range(0, n, BATCH):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"command": "pyref_submit", "job_id": job_id})}
            for i, job_id in enumerate(ids[start : start + BATCH])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


class Worker:
    def __init__(self, wanted):
        self.sqs, self.ddb = boto3.client("sqs"), boto3.client("dynamodb")
        self.data, self.bus = boto3.client("redshift-data"), boto3.client("events")
        self.queue_url, self.table = env("SPECTRA_QUEUE_URL"), env("SPECTRA_TABLE")
        self.bucket, self.role, self.bus_name = env("SPECTRA_BUCKET"), env("SPECTRA_IAM_ROLE"), env("SPECTRA_EVENT_BUS")
        self.acks = Batcher(self.delete)
        self.events = Batcher(lambda entries: self.bus.put_events(Entries=entries))
        self.remembered, self.lock = {}, threading.Lock()
        self.wanted, self.done = wanted, 0
        self.slots = threading.Semaphore(IN_FLIGHT)

    def delete(self, handles):
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def publish(self, job_id, state):
        detail = {"job_id": job_id, "tenant_id": "pyref", "state": state}
        self.events.add(
            {"Source": "spectra.jobs", "DetailType": "Job State Change", "Detail": json.dumps(detail), "EventBusName": self.bus_name}
        )

    def run(self):
        """Says `ready` once its clients are made; at the end, its user+sys CPU since then."""
        started = time.process_time()
        print("ready", flush=True)
        pool = ThreadPoolExecutor(IN_FLIGHT)
        deadline = time.monotonic() + GIVE_UP
        while self.done < self.wanted:
            if time.monotonic() > deadline:
                sys.exit(f"only {self.done} of {self.wanted} jobs completed in {GIVE_UP} s")
            received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=1)
            for message in received.get("Messages", []):
                self.slots.acquire()
                pool.submit(self.handle, message)
        pool.shutdown(wait=True)
        time.sleep(2 * LINGER)  # the last deletes and events leave
        print(f"cpu {time.process_time() - started:.3f} jobs {self.done}", flush=True)

    def handle(self, message):
        try:
            body = json.loads(message["Body"])
            if body.get("detail-type") == STATUS_CHANGE and self.ended(body["detail"]):
                self.acks.add(message["ReceiptHandle"])
            elif body.get("command") == "pyref_submit":
                self.submit(body["job_id"])
                self.acks.add(message["ReceiptHandle"])
        except Exception as e:  # left for redelivery, as a failed handler's message is
            print(f"handling failed: {e!r}", file=sys.stderr)
        finally:
            self.slots.release()

    def submit(self, job_id):
        item = self.ddb.get_item(TableName=self.table, Key=key(job_id), ConsistentRead=True)["Item"]
        if item["state"]["S"] != "UploadComplete":
            return
        version = int(item["version"]["N"])
        unload = (
            f"UNLOAD ('{item['query']['S']}') TO 's3://{self.bucket}/pyref/{job_id}/results/part_' "
            f"IAM_ROLE '{self.role}' FORMAT AS CSV HEADER MANIFEST VERBOSE ALLOWOVERWRITE"
        )
        statement = self.data.execute_statement(
            ClusterIdentifier="bench", Database="dev", DbUser="spectra", Sql=unload, WithEvent=True,
            StatementName=f"pyref:{job_id}:1", ClientToken=f"{job_id}:1",
        )["Id"]
        self.ddb.update_item(
            TableName=self.table, Key=key(job_id),
            UpdateExpression="SET #s = :running, statement_id = :statement, version = :next",
            ConditionExpression="version = :version", ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":running": {"S": "InProgress"}, ":statement": {"S": statement},
                ":version": {"N": str(version)}, ":next": {"N": str(version + 1)},
            },
        )
        with self.lock:
            self.remembered[job_id] = version + 1
        self.publish(job_id, "InProgress")

    def ended(self, detail):
        name = detail.get("statementName") or ""
        if not name.startswith("pyref:"):
            return False  # not ours: left alone
        job_id = name.split(":")[1]
        with self.lock:
            version = self.remembered.pop(job_id, None)
        if version is None:
            item = self.ddb.get_item(TableName=self.table, Key=key(job_id), ConsistentRead=True)["Item"]
            version = int(item["version"]["N"])
        state = "JobComplete" if detail["state"] == "FINISHED" else "Failed"
        self.ddb.update_item(
            TableName=self.table, Key=key(job_id),
            UpdateExpression="SET #s = :state, rows_processed = :rows, version = :next",
            ConditionExpression="version = :version", ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":state": {"S": state}, ":rows": {"N": str(detail.get("rows", 0))},
                ":version": {"N": str(version)}, ":next": {"N": str(version + 1)},
            },
        )
        self.publish(job_id, state)
        with self.lock:
            self.done += 1
        return True


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("produce", "work"):
        sys.exit(__doc__)
    if sys.argv[1] == "produce":
        produce(int(sys.argv[2]))
    else:
        Worker(int(sys.argv[2])).run()
