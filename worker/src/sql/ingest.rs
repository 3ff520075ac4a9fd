//! The batch of an ingest job: stage, `COPY`, apply — one `BatchExecuteStatement`, so one
//! transaction: a failure anywhere leaves the target as it was.

use std::collections::HashSet;

use spectra_state_machine::{Compression, ContentType, Identifier, Operation, TableName};

use super::{SqlError, iam_role, plain, string_literal};

/// The session-local staging table, created `(LIKE target)` so it has the target's columns and,
/// on Redshift, its distribution and sort keys. Each batch runs in its own session, so the fixed
/// name never collides, and the table disappears with the session.
pub const STAGING_TABLE: &str = "spectra_stage";

/// What to load, from where, into what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSpec<'a> {
    /// The target table.
    pub target: &'a TableName,
    /// `insert`, `upsert`, `update` or `delete`.
    pub operation: Operation,
    /// Key columns (upsert, update, delete).
    pub primary_key: &'a [Identifier],
    /// The upload's columns in file order (a CSV header, a JSON object's keys). Empty when the
    /// format does not name them (Parquet): the rows then map to all of the table's columns by
    /// position, as Redshift maps them.
    pub columns: &'a [Identifier],
    /// The `s3://bucket/<tenant>/<job>/upload/` prefix holding the upload's parts.
    pub source: &'a str,
    /// The role Redshift assumes to read S3; `None` uses the cluster's default role.
    pub iam_role: Option<&'a str>,
    /// The upload's format.
    pub format: ContentType,
    /// The upload's compression.
    pub compression: Compression,
    /// Rows that may be rejected before the load fails (CSV and JSON).
    pub max_error: u64,
}

/// The statements of one ingest, with where the interesting ones are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestBatch {
    /// The statements, in order.
    pub statements: Vec<String>,
    /// The 1-based position of the COPY (its sub-statement id is `<batch>:<n>`): its row count
    /// is the number of rows loaded, and its query id finds the rejected rows.
    pub copy_statement: usize,
}

/// Builds the batch for an ingest job.
///
/// When the upload names its columns, upsert is a `MERGE` that sets the named non-key columns
/// and update an `UPDATE ... FROM` that sets them, so columns the upload leaves out keep their
/// values. When it does not (Parquet), rows are whole rows: upsert replaces matching rows
/// (`DELETE ... USING` then `INSERT`) and update replaces only the rows that exist.
pub fn ingest_batch(spec: &IngestSpec<'_>) -> Result<IngestBatch, SqlError> {
    plain("S3 source", spec.source)?;
    if !spec.source.starts_with("s3://") {
        return Err(SqlError::Invalid { what: "S3 source", value: spec.source.to_owned() });
    }
    check_columns(spec)?;
    let target = spec.target.quoted();
    let stage = STAGING_TABLE;
    let list = |cols: &[&Identifier]| cols.iter().map(|c| c.quoted()).collect::<Vec<_>>().join(", ");
    let all: Vec<&Identifier> = spec.columns.iter().collect();
    let matches = spec
        .primary_key
        .iter()
        .map(|k| format!("{target}.{k} = {stage}.{k}", k = k.quoted()))
        .collect::<Vec<_>>()
        .join(" AND ");
    let non_keys: Vec<&Identifier> = spec
        .columns
        .iter()
        .filter(|c| !spec.primary_key.iter().any(|k| k.as_str().eq_ignore_ascii_case(c.as_str())))
        .collect();
    let set = |cols: &[&Identifier]| {
        cols.iter().map(|c| format!("{c} = {stage}.{c}", c = c.quoted())).collect::<Vec<_>>().join(", ")
    };
    let insert = if all.is_empty() {
        format!("INSERT INTO {target} SELECT * FROM {stage}")
    } else {
        format!("INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}", cols = list(&all))
    };
    let delete_matching = format!("DELETE FROM {target} USING {stage} WHERE {matches}");

    let mut statements = vec![format!("CREATE TEMP TABLE {stage} (LIKE {target})"), copy(spec)?];
    let copy_statement = statements.len();
    match (spec.operation, all.is_empty()) {
        (Operation::Insert, _) => statements.push(insert),
        (Operation::Delete, _) => statements.push(delete_matching),
        (Operation::Upsert, false) => {
            // A MERGE needs a WHEN MATCHED action; with only key columns, setting a key to
            // itself is the no-op that keeps existing rows as they are.
            let updates = if non_keys.is_empty() { set(&[&spec.primary_key[0]]) } else { set(&non_keys) };
            statements.push(format!(
                "MERGE INTO {target} USING {stage} ON {matches} WHEN MATCHED THEN UPDATE SET {updates} \
                 WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})",
                cols = list(&all),
                values = all.iter().map(|c| format!("{stage}.{}", c.quoted())).collect::<Vec<_>>().join(", "),
            ));
        }
        (Operation::Upsert, true) => statements.extend([delete_matching, insert]),
        (Operation::Update, false) if non_keys.is_empty() => return Err(SqlError::NothingToUpdate),
        (Operation::Update, false) => {
            statements.push(format!("UPDATE {target} SET {} FROM {stage} WHERE {matches}", set(&non_keys)));
        }
        (Operation::Update, true) => statements.extend([
            format!("DELETE FROM {stage} WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {matches})"),
            delete_matching,
            insert,
        ]),
        (Operation::Query, _) => {
            return Err(SqlError::Invalid { what: "operation for an ingest", value: "query".into() });
        }
    }
    Ok(IngestBatch { statements, copy_statement })
}

/// Key columns must be among the named columns, and no column may be named twice.
fn check_columns(spec: &IngestSpec<'_>) -> Result<(), SqlError> {
    let mut seen = HashSet::new();
    for column in spec.columns {
        if !seen.insert(column.as_str().to_ascii_lowercase()) {
            return Err(SqlError::DuplicateColumn(column.to_string()));
        }
    }
    let missing = spec.primary_key.iter().find(|k| !seen.contains(&k.as_str().to_ascii_lowercase()));
    if let (false, Some(key)) = (spec.columns.is_empty(), missing) {
        return Err(SqlError::MissingKeyColumn { column: key.to_string(), operation: spec.operation.as_str() });
    }
    if spec.operation.needs_primary_key() && spec.primary_key.is_empty() {
        return Err(SqlError::Invalid { what: "primary key", value: String::new() });
    }
    Ok(())
}

/// `COPY spectra_stage [(columns)] FROM ... FORMAT ...`.
fn copy(spec: &IngestSpec<'_>) -> Result<String, SqlError> {
    let columns = if spec.columns.is_empty() {
        String::new()
    } else {
        format!(" ({})", spec.columns.iter().map(Identifier::quoted).collect::<Vec<_>>().join(", "))
    };
    let mut sql =
        format!("COPY {STAGING_TABLE}{columns} FROM {} {}", string_literal(spec.source), iam_role(spec.iam_role)?);
    let gzip = spec.compression == Compression::Gzip;
    match spec.format {
        ContentType::Csv => sql.push_str(" FORMAT AS CSV IGNOREHEADER 1"),
        ContentType::Json => sql.push_str(" FORMAT AS JSON 'auto'"),
        ContentType::Parquet if gzip => {
            return Err(SqlError::Invalid { what: "compression for PARQUET", value: "GZIP".into() });
        }
        // Parquet carries its own compression; Redshift refuses MAXERROR-style row skipping
        // there (a bad value fails the load).
        ContentType::Parquet => return Ok(sql + " FORMAT AS PARQUET"),
    }
    if gzip {
        sql.push_str(" GZIP");
    }
    sql.push_str(&format!(" MAXERROR {}", spec.max_error));
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<Identifier> {
        names.iter().map(|n| Identifier::parse(n).unwrap()).collect()
    }

    fn build(op: Operation, key: &[&str], columns: &[&str], format: ContentType) -> Result<IngestBatch, SqlError> {
        let target = TableName::parse("public.sales").unwrap();
        let (key, columns) = (ids(key), ids(columns));
        ingest_batch(&IngestSpec {
            target: &target,
            operation: op,
            primary_key: &key,
            columns: &columns,
            source: "s3://spectra/t1/bulk-1/upload/",
            iam_role: None,
            format,
            compression: Compression::None,
            max_error: 10,
        })
    }

    #[test]
    fn insert_stages_copies_and_inserts_the_named_columns() {
        let b = build(Operation::Insert, &[], &["id", "amount"], ContentType::Csv).unwrap();
        assert_eq!(
            b.statements,
            [
                r#"CREATE TEMP TABLE spectra_stage (LIKE "public"."sales")"#,
                r#"COPY spectra_stage ("id", "amount") FROM 's3://spectra/t1/bulk-1/upload/' IAM_ROLE DEFAULT FORMAT AS CSV IGNOREHEADER 1 MAXERROR 10"#,
                r#"INSERT INTO "public"."sales" ("id", "amount") SELECT "id", "amount" FROM spectra_stage"#,
            ]
        );
        assert_eq!(b.copy_statement, 2);
    }

    #[test]
    fn upsert_merges_on_the_key_and_sets_the_rest() {
        let b = build(Operation::Upsert, &["id"], &["id", "amount", "note"], ContentType::Json).unwrap();
        assert!(b.statements[1].ends_with("FORMAT AS JSON 'auto' MAXERROR 10"), "{}", b.statements[1]);
        assert_eq!(
            b.statements[2],
            r#"MERGE INTO "public"."sales" USING spectra_stage ON "public"."sales"."id" = spectra_stage."id" WHEN MATCHED THEN UPDATE SET "amount" = spectra_stage."amount", "note" = spectra_stage."note" WHEN NOT MATCHED THEN INSERT ("id", "amount", "note") VALUES (spectra_stage."id", spectra_stage."amount", spectra_stage."note")"#
        );
    }

    #[test]
    fn update_and_delete_join_on_every_key_column() {
        let b = build(Operation::Update, &["id", "region"], &["region", "id", "amount"], ContentType::Csv).unwrap();
        assert_eq!(
            b.statements[2],
            r#"UPDATE "public"."sales" SET "amount" = spectra_stage."amount" FROM spectra_stage WHERE "public"."sales"."id" = spectra_stage."id" AND "public"."sales"."region" = spectra_stage."region""#
        );
        let d = build(Operation::Delete, &["id"], &["id"], ContentType::Csv).unwrap();
        assert_eq!(
            d.statements[2],
            r#"DELETE FROM "public"."sales" USING spectra_stage WHERE "public"."sales"."id" = spectra_stage."id""#
        );
    }

    #[test]
    fn parquet_rows_are_whole_rows() {
        let b = build(Operation::Upsert, &["id"], &[], ContentType::Parquet).unwrap();
        assert!(b.statements[1].ends_with("FORMAT AS PARQUET"), "{}", b.statements[1]);
        assert!(b.statements[2].starts_with(r#"DELETE FROM "public"."sales" USING spectra_stage"#));
        assert_eq!(b.statements[3], r#"INSERT INTO "public"."sales" SELECT * FROM spectra_stage"#);
        let u = build(Operation::Update, &["id"], &[], ContentType::Parquet).unwrap();
        assert_eq!(u.statements.len(), 5);
        assert!(u.statements[2].starts_with("DELETE FROM spectra_stage WHERE NOT EXISTS"), "{}", u.statements[2]);
    }

    #[test]
    fn uploads_that_cannot_work_are_refused() {
        assert_eq!(
            build(Operation::Upsert, &["id"], &["amount"], ContentType::Csv),
            Err(SqlError::MissingKeyColumn { column: "id".into(), operation: "upsert" })
        );
        assert_eq!(build(Operation::Update, &["id"], &["ID"], ContentType::Csv), Err(SqlError::NothingToUpdate));
        assert_eq!(
            build(Operation::Insert, &[], &["a", "A"], ContentType::Csv),
            Err(SqlError::DuplicateColumn("A".into()))
        );
        assert!(build(Operation::Query, &[], &[], ContentType::Csv).is_err());
    }
}
