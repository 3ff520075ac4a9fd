//! The JSON Schemas in `schemas/` and the Rust types agree: every valid example passes its schema
//! and round-trips through the Rust type unchanged; every invalid example fails its schema and
//! (unless it only adds a field that forward-compatible readers ignore) the Rust parser; and what
//! the machines actually produce validates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use jsonschema::{Registry, Resource, Validator};
use serde_json::Value;
use spectra_state_machine::{
    BulkJob, BulkJobRequest, Effect, JobEvent, JobKind, QueryJob, QueryJobRequest, RetryPolicy, TenantId, bulk, query,
};
use spectra_worker::messages::{Command, CommandMessage, Envelope, JobStateChange, MessageError, TraceParent};

const BASE: &str = "https://schemas.spectra.invalid/";
const SCHEMAS: [&str; 4] = ["command-message", "redshift-statement-status-change", "job-lifecycle-event", "job-record"];

/// Invalid examples that only add a field: the schema (the writers' contract) refuses them, but
/// readers ignore unknown fields so that a newer writer does not break an older worker.
const READER_TOLERATES: [&str; 3] = [
    "command-message/invalid/cancel_with_attempt.json",
    "job-lifecycle-event/invalid/query_with_bulk_fields.json",
    "job-record/invalid/bulk_with_query_status_field.json",
];

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(name: &str) -> Validator {
    let common = read_json(&schema_dir().join("common.schema.json"));
    let registry = Registry::new()
        .add(format!("{BASE}common.schema.json"), Resource::from_contents(common))
        .unwrap()
        .prepare()
        .unwrap();
    let schema = read_json(&schema_dir().join(format!("{name}.schema.json")));
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
    jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}.schema.json does not compile: {e}"))
}

fn examples(schema: &str, kind: &str) -> Vec<PathBuf> {
    let dir = schema_dir().join("examples").join(schema).join(kind);
    let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

/// Parses a document with the Rust type for its schema and serialises it back.
fn rust_round_trip(schema: &str, doc: &Value) -> Result<Value, String> {
    let text = doc.to_string();
    let back = match schema {
        "command-message" => match Envelope::parse(&text).map_err(|e| e.to_string())? {
            Envelope::Command(c) => serde_json::to_value(c),
            other => return Err(format!("parsed as {other:?}")),
        },
        "redshift-statement-status-change" => match Envelope::parse(&text).map_err(|e| e.to_string())? {
            Envelope::StatementEvent(e) => serde_json::to_value(e),
            other => return Err(format!("parsed as {other:?}")),
        },
        "job-lifecycle-event" => {
            serde_json::to_value(serde_json::from_str::<JobStateChange>(&text).map_err(|e| e.to_string())?)
        }
        "job-record" if doc.get("state").is_some() => {
            serde_json::to_value(serde_json::from_str::<BulkJob>(&text).map_err(|e| e.to_string())?)
        }
        "job-record" => serde_json::to_value(serde_json::from_str::<QueryJob>(&text).map_err(|e| e.to_string())?),
        other => panic!("no Rust type for {other}"),
    };
    back.map_err(|e| e.to_string())
}

#[test]
fn valid_examples_pass_their_schema_and_round_trip_unchanged() {
    for schema in SCHEMAS {
        let v = validator(schema);
        for path in examples(schema, "valid") {
            let doc = read_json(&path);
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            let back = rust_round_trip(schema, &doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(back, doc, "{}: Rust changed the document", path.display());
        }
    }
}

#[test]
fn invalid_examples_are_refused() {
    for schema in SCHEMAS {
        let v = validator(schema);
        for path in examples(schema, "invalid") {
            let doc = read_json(&path);
            assert!(!v.is_valid(&doc), "{} passes its schema", path.display());
            let name = path.strip_prefix(schema_dir().join("examples")).unwrap().to_string_lossy().into_owned();
            let rust = rust_round_trip(schema, &doc);
            if READER_TOLERATES.contains(&name.as_str()) {
                assert!(rust.is_ok(), "{name}: readers should tolerate an extra field");
            } else {
                assert!(rust.is_err(), "{name}: the Rust parser accepted it");
            }
        }
    }
}

fn t(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 29, 10, 0, 0).unwrap() + Duration::seconds(seconds)
}

/// Validates `value` against `schema`, with the document in the message on failure.
fn assert_valid(v: &Validator, value: &impl serde::Serialize) {
    let doc = serde_json::to_value(value).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{doc:#}: {errors:?}");
}

#[test]
fn what_the_machines_produce_matches_the_schemas() {
    let (records, events, commands) =
        (validator("job-record"), validator("job-lifecycle-event"), validator("command-message"));
    let tenant = TenantId::parse("tenant-123").unwrap();
    let trace = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let policy = RetryPolicy::default();
    let command = |job_kind, job: &spectra_state_machine::JobId, effect: &Effect| {
        Command::for_effect(effect).map(|c| {
            CommandMessage::new(job_kind, tenant.clone(), job.clone(), c).with_traceparent(Some(trace.clone()))
        })
    };

    // A bulk upsert: Open → UploadComplete → InProgress → (retry) → InProgress → JobComplete.
    let spec = BulkJobRequest {
        operation: "upsert".into(),
        object: "public.sales".into(),
        primary_key: Some(vec!["id".into()]),
        ..Default::default()
    };
    let (mut job, _) = bulk::create(tenant.clone(), spec.validate().unwrap(), t(0));
    assert_valid(&records, &job);
    assert_valid(&events, &JobStateChange::bulk(&job, None, Some(trace.clone())));
    let script = [
        JobEvent::UploadCompleted,
        JobEvent::StatementSubmitted { attempt: 1, statement_id: "s1".into() },
        JobEvent::StatementFailed {
            attempt: 1,
            statement_id: "s1".into(),
            message: "conflict".into(),
            retryable: true,
        },
        JobEvent::StatementSubmitted { attempt: 2, statement_id: "s2".into() },
        JobEvent::StatementFinished { attempt: 2, statement_id: "s2".into(), rows: 10, rows_failed: 1 },
    ];
    for (i, event) in script.iter().enumerate() {
        let step = bulk::apply(&job, event, t(i as i64 + 1), policy).unwrap();
        assert_valid(&records, &step.job);
        assert_valid(&events, &JobStateChange::bulk(&step.job, Some(step.from), None));
        for message in step.effects.iter().filter_map(|e| command(JobKind::Bulk, &job.header.job_id, e)) {
            assert_valid(&commands, &message);
        }
        job = step.job;
    }

    // A query job that is cancelled while running.
    let spec = QueryJobRequest { sql: "SELECT 1".into(), ..Default::default() };
    let (mut job, effects) = query::create(tenant.clone(), spec.validate().unwrap(), t(0));
    assert_valid(&records, &job);
    for message in effects.iter().filter_map(|e| command(JobKind::Query, &job.header.job_id, e)) {
        assert_valid(&commands, &message);
    }
    for (i, event) in [JobEvent::StatementSubmitted { attempt: 1, statement_id: "q1".into() }, JobEvent::AbortRequested]
        .iter()
        .enumerate()
    {
        let step = query::apply(&job, event, t(i as i64 + 1), policy).unwrap();
        assert_valid(&records, &step.job);
        assert_valid(&events, &JobStateChange::query(&step.job, Some(step.from), None));
        for message in step.effects.iter().filter_map(|e| command(JobKind::Query, &job.header.job_id, e)) {
            assert_valid(&commands, &message);
        }
        job = step.job;
    }
}

#[test]
fn the_envelope_explains_what_it_refuses() {
    let parse_err = |body: &str| Envelope::parse(body).unwrap_err();
    assert!(matches!(parse_err("not json"), MessageError::NotJson(_)));
    assert!(matches!(parse_err("[1]"), MessageError::NotJson(_)));
    assert!(matches!(parse_err("{}"), MessageError::Unrecognised));
    let foreign = parse_err(r#"{"source":"aws.s3","detail-type":"Object Created","detail":{}}"#);
    assert_eq!(foreign.to_string(), "unexpected EventBridge event: source \"aws.s3\", detail-type \"Object Created\"");
    let v2 = read_json(&schema_dir().join("examples/command-message/invalid/version_2.json"));
    assert!(matches!(parse_err(&v2.to_string()), MessageError::UnsupportedVersion(2)));
    let zero = read_json(&schema_dir().join("examples/command-message/invalid/attempt_zero.json"));
    assert!(parse_err(&zero.to_string()).to_string().contains("attempts count from 1"));

    let aws =
        read_json(&schema_dir().join("examples/redshift-statement-status-change/valid/aws_documented_example.json"));
    let Envelope::StatementEvent(event) = Envelope::parse(&aws.to_string()).unwrap() else { panic!("not an event") };
    assert_eq!(event.statement_name(), None, "AWS's example statement is not Spectra's");
    let ours = read_json(&schema_dir().join("examples/redshift-statement-status-change/valid/spectra_failed.json"));
    let Envelope::StatementEvent(event) = Envelope::parse(&ours.to_string()).unwrap() else { panic!("not an event") };
    let name = event.statement_name().unwrap();
    assert_eq!((name.tenant_id.as_str(), name.attempt), ("tenant-123", 2));
}
