//! `UNLOAD` for export jobs.

use spectra_state_machine::{Compression, ContentType};

use super::{SqlError, iam_role, parse_select, plain, string_literal};

/// What to export, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnloadSpec<'a> {
    /// The user's SELECT (checked by [`parse_select`] here).
    pub query: &'a str,
    /// The `s3://bucket/<tenant>/<job>/results/part_` prefix the parts and manifest go under.
    pub destination: &'a str,
    /// The role Redshift assumes to write to S3; `None` uses the cluster's default role.
    pub iam_role: Option<&'a str>,
    /// File format.
    pub format: ContentType,
    /// Compression (`GZIP` is refused with Parquet, as Redshift refuses it).
    pub compression: Compression,
    /// Largest part in MB (Redshift: 5 MB to 6.2 GB); `None` for Redshift's default.
    pub max_file_size_mb: Option<u32>,
}

/// The query an export runs, as it goes into the UNLOAD literal: checked as one read-only
/// query, and wrapped when it has its own LIMIT. A warehouse that checks tenant queries itself
/// checks exactly this text.
pub fn export_query(query: &str) -> Result<String, SqlError> {
    let select = parse_select(query)?;
    // The newlines keep a line comment inside the query from swallowing the parenthesis.
    Ok(if select.has_limit { format!("SELECT * FROM (\n{}\n) AS spectra_export", select.text) } else { select.text })
}

/// Builds the UNLOAD. Always `MANIFEST VERBOSE` (the results call reads part sizes and row
/// counts from it) and `ALLOWOVERWRITE` (a retried attempt rewrites the same parts). Never
/// emits what Redshift refuses: HEADER only with CSV, GZIP never with Parquet, no LIMIT in the
/// outer query (a query ending in LIMIT is nested in a subquery).
pub fn unload(spec: &UnloadSpec<'_>) -> Result<String, SqlError> {
    plain("S3 destination", spec.destination)?;
    if !spec.destination.starts_with("s3://") {
        return Err(SqlError::Invalid { what: "S3 destination", value: spec.destination.to_owned() });
    }
    let query = export_query(spec.query)?;
    let mut sql = format!(
        "UNLOAD ({}) TO {} {}",
        string_literal(&query),
        string_literal(spec.destination),
        iam_role(spec.iam_role)?
    );
    let gzip = spec.compression == Compression::Gzip;
    match spec.format {
        ContentType::Csv => sql.push_str(" FORMAT AS CSV HEADER"),
        ContentType::Json => sql.push_str(" FORMAT AS JSON"),
        ContentType::Parquet if gzip => {
            return Err(SqlError::Invalid { what: "compression for PARQUET", value: "GZIP".into() });
        }
        ContentType::Parquet => sql.push_str(" FORMAT AS PARQUET"),
    }
    if gzip {
        sql.push_str(" GZIP");
    }
    sql.push_str(" MANIFEST VERBOSE ALLOWOVERWRITE");
    if let Some(mb) = spec.max_file_size_mb {
        if !(5..=6_200).contains(&mb) {
            return Err(SqlError::Invalid { what: "MAXFILESIZE (5 to 6200 MB)", value: mb.to_string() });
        }
        sql.push_str(&format!(" MAXFILESIZE {mb} MB"));
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(query: &str, format: ContentType, compression: Compression) -> UnloadSpec<'_> {
        UnloadSpec {
            query,
            destination: "s3://spectra/t1/bulk-1/results/part_",
            iam_role: Some("arn:aws:iam::1:role/unload"),
            format,
            compression,
            max_file_size_mb: None,
        }
    }

    #[test]
    fn csv_export_with_quotes_and_backslashes() {
        let sql = unload(&spec(
            r"SELECT * FROM sales WHERE note = 'it''s' AND path = 'a\b'",
            ContentType::Csv,
            Compression::Gzip,
        ))
        .unwrap();
        assert_eq!(
            sql,
            r"UNLOAD ('SELECT * FROM sales WHERE note = ''it''''s'' AND path = ''a\\b''') TO 's3://spectra/t1/bulk-1/results/part_' IAM_ROLE 'arn:aws:iam::1:role/unload' FORMAT AS CSV HEADER GZIP MANIFEST VERBOSE ALLOWOVERWRITE"
        );
    }

    #[test]
    fn a_user_limit_is_nested() {
        let sql =
            unload(&spec("SELECT id FROM sales ORDER BY id LIMIT 10;", ContentType::Json, Compression::None)).unwrap();
        assert!(
            sql.starts_with(
                "UNLOAD ('SELECT * FROM (\nSELECT id FROM sales ORDER BY id LIMIT 10\n) AS spectra_export')"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("FORMAT AS JSON MANIFEST VERBOSE ALLOWOVERWRITE"), "{sql}");
    }

    #[test]
    fn forbidden_combinations_are_never_emitted() {
        let parquet = unload(&spec("SELECT 1", ContentType::Parquet, Compression::None)).unwrap();
        assert!(!parquet.contains("HEADER") && !parquet.contains("GZIP"), "{parquet}");
        assert!(unload(&spec("SELECT 1", ContentType::Parquet, Compression::Gzip)).is_err());
        let json = unload(&spec("SELECT 1", ContentType::Json, Compression::Gzip)).unwrap();
        assert!(!json.contains("HEADER") && json.contains(" GZIP"), "{json}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(
            unload(&spec("DROP TABLE sales", ContentType::Csv, Compression::None)),
            Err(SqlError::NotReadOnly(_))
        ));
        let mut s = spec("SELECT 1", ContentType::Csv, Compression::None);
        s.destination = "s3://b/x' CREDENTIALS 'y";
        assert!(matches!(unload(&s), Err(SqlError::Invalid { .. })));
        s.destination = "/etc/";
        assert!(unload(&s).is_err());
        let mut s = spec("SELECT 1", ContentType::Csv, Compression::None);
        s.max_file_size_mb = Some(1);
        assert!(unload(&s).is_err());
        s.max_file_size_mb = Some(100);
        assert!(unload(&s).unwrap().ends_with("MAXFILESIZE 100 MB"));
    }
}
