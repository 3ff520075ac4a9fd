"""Deploys infra/spectra.yaml onto a local AWS endpoint (moto's server) and prints the stack's
outputs as shell `export` lines. Used by infra/local-stack; needs boto3 (it comes with moto).

With --lambda-zip it deploys the Lambda variant instead (WorkerRuntime=lambda, the zip staged
in a bucket of its own) and checks what the function needs: the custom runtime, the event source
mapping with partial batch failures, the reconciler's schedule allowed to invoke it."""

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
    parser.add_argument("--lambda-zip", help="deploy and check the Lambda variant with this artefact")
    args = parser.parse_args()

    cfn = boto3.client("cloudformation", endpoint_url=args.endpoint, region_name="us-east-1")
    with open(args.template, encoding="utf-8") as f:
        body = f.read()
    parameters = {"Environment": args.environment}
    if args.lambda_zip:
        parameters.update(stage_lambda_zip(args.endpoint, args.environment, args.lambda_zip))
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
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
    if args.lambda_zip:
        checked = check_lambda(args.endpoint, outputs)
        # Removed again: moto's EventBridge would match every PutEvents on the default bus
        # against the schedule rule and try to run the function (it cannot without Docker).
        delete_stack(cfn, args.stack)
        return checked
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


def delete_stack(cfn, name: str) -> None:
    """Deletes a stack and waits until it is gone."""
    cfn.delete_stack(StackName=name)
    deadline = time.time() + 60
    while time.time() < deadline:
        stacks = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name]
        if all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks):
            return
        time.sleep(0.2)
    print(f"stack {name} was not deleted within a minute", file=sys.stderr)


def stage_lambda_zip(endpoint: str, environment: str, path: str) -> dict:
    """Puts the artefact in a bucket of its own; the template parameters that deploy it."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"{environment}-lambda-code"
    s3.create_bucket(Bucket=bucket)
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key="spectra-lambda.zip", Body=f.read())
    return {
        "WorkerRuntime": "lambda",
        "LambdaCodeS3Bucket": bucket,
        "LambdaCodeS3Key": "spectra-lambda.zip",
    }


def check_lambda(endpoint: str, outputs: dict) -> int:
    """The deployed function, its mapping and its schedule, as the worker needs them."""
    lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
    events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    name = outputs["WorkerFunctionName"]
    config = lam.get_function(FunctionName=name)["Configuration"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=outputs["WorkQueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    mappings = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    rule = events.describe_rule(Name=outputs["ReconcileScheduleRuleName"])
    targets = events.list_targets_by_rule(Rule=outputs["ReconcileScheduleRuleName"])["Targets"]
    problems = []
    if (config["Runtime"], config["Handler"]) != ("provided.al2023", "bootstrap"):
        problems.append(f"runtime/handler {config['Runtime']}/{config['Handler']}")
    if "SPECTRA_QUEUE_URL" not in config.get("Environment", {}).get("Variables", {}):
        problems.append("no SPECTRA_* settings in the function's environment")
    if not any(m["EventSourceArn"] == queue_arn and m.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]
               for m in mappings):
        problems.append(f"no mapping from {queue_arn} with ReportBatchItemFailures: {mappings}")
    if not rule.get("ScheduleExpression") or [t["Arn"] for t in targets] != [config["FunctionArn"]]:
        problems.append(f"the reconcile schedule does not target the function: {rule} {targets}")
    if problems:
        print("the Lambda variant is not deployed as the worker needs:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"lambda variant deployed: {name}, mapping from {queue_arn}, schedule {rule['ScheduleExpression']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
