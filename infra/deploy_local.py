"""Deploys infra/spectra.yaml onto a local AWS endpoint (moto's server) and prints the stack's
outputs as shell `export` lines. Used by infra/local-stack; needs boto3 (it comes with moto)."""

import argparse
import sys
import time

import boto3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="the local AWS endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--template", required=True)
    parser.add_argument("--stack", default="spectra-local")
    parser.add_argument("--environment", default="spectra-local")
    args = parser.parse_args()

    cfn = boto3.client("cloudformation", endpoint_url=args.endpoint, region_name="us-east-1")
    with open(args.template, encoding="utf-8") as f:
        body = f.read()
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Environment", "ParameterValue": args.environment}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    deadline = time.time() + 60
    while True:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("IN_PROGRESS") or time.time() > deadline:
            events = cfn.describe_stack_events(StackName=args.stack)["StackEvents"]
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events]
            print(f"stack {args.stack} ended {status}:\n  " + "\n  ".join(reasons), file=sys.stderr)
            return 1
        time.sleep(0.2)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    names = {
        "WorkQueueUrl": "SPECTRA_QUEUE_URL",
        "DeadLetterQueueUrl": "SPECTRA_DEAD_LETTER_QUEUE_URL",
        "StatementEventsRuleName": "SPECTRA_STATEMENT_EVENTS_RULE",
        "LifecycleBusName": "SPECTRA_EVENT_BUS",
        "JobTableName": "SPECTRA_TABLE",
        "ResultsBucketName": "SPECTRA_BUCKET",
        "RedshiftRoleArn": "SPECTRA_IAM_ROLE",
        "WorkerTaskRoleArn": "SPECTRA_WORKER_ROLE",
    }
    missing = [k for k in names if k not in outputs]
    if missing:
        print(f"stack {args.stack} lacks outputs {missing}", file=sys.stderr)
        return 1
    for key, env in names.items():
        print(f"export {env}='{outputs[key]}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
