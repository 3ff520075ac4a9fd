//! Parsing Redshift's `UNLOAD` and `COPY` (the subset Spectra uses, and the option combinations
//! Redshift refuses, refused with Redshift's reasons).

use super::tokens::{Parser, Tok};

/// File formats of UNLOAD and COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Redshift's default: `|`-delimited text.
    Text,
    Csv,
    Json,
    Parquet,
}

/// A parsed `UNLOAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unload {
    pub query: String,
    pub to: String,
    pub format: Format,
    pub header: bool,
    pub gzip: bool,
    /// `Some(verbose)` when a manifest is wanted.
    pub manifest: Option<bool>,
    pub allow_overwrite: bool,
    pub clean_path: bool,
    pub parallel: bool,
    pub max_file_size: Option<u64>,
}

const MB: u64 = 1024 * 1024;

pub(crate) fn parse_unload(sql: &str) -> Result<Unload, String> {
    let mut p = Parser::new(sql)?;
    p.expect_keyword("UNLOAD")?;
    p.expect(Tok::LParen)?;
    let query = p.string("SELECT statement")?;
    p.expect(Tok::RParen)?;
    p.expect_keyword("TO")?;
    let to = p.string("s3:// path")?;
    let mut u = Unload {
        query,
        to,
        format: Format::Text,
        header: false,
        gzip: false,
        manifest: None,
        allow_overwrite: false,
        clean_path: false,
        parallel: true,
        max_file_size: None,
    };
    while let Some(word) = p.word() {
        if p.authorization(&word)? {
            continue;
        }
        match word.as_str() {
            "FORMAT" => {
                p.keyword("AS");
                let f = p.word().ok_or("expected a format after FORMAT")?;
                u.format = format_named(&f)?;
            }
            "CSV" | "JSON" | "PARQUET" => u.format = format_named(&word)?,
            "HEADER" => u.header = true,
            "GZIP" => u.gzip = true,
            "MANIFEST" => u.manifest = Some(p.keyword("VERBOSE")),
            "ALLOWOVERWRITE" => u.allow_overwrite = true,
            "CLEANPATH" => u.clean_path = true,
            "PARALLEL" => {
                u.parallel = match p.word().as_deref() {
                    None | Some("ON" | "TRUE") => true,
                    Some("OFF" | "FALSE") => false,
                    Some(other) => return Err(format!("PARALLEL takes ON or OFF, not {other}")),
                }
            }
            "MAXFILESIZE" => {
                let n = p.number("MAXFILESIZE")?;
                let bytes = match p.word().as_deref() {
                    Some("GB") => n * 1024 * MB,
                    None | Some("MB") => n * MB,
                    Some(other) => return Err(format!("MAXFILESIZE takes MB or GB, not {other}")),
                };
                if !(5 * MB..=6_200 * MB).contains(&bytes) {
                    return Err("MAXFILESIZE must be between 5 MB and 6.2 GB".into());
                }
                u.max_file_size = Some(bytes);
            }
            other => return Err(format!("UNLOAD option {other} is not supported by the embedded warehouse")),
        }
    }
    if let Some(t) = p.next() {
        return Err(format!("unexpected {t:?} in UNLOAD"));
    }
    // The combinations Redshift refuses.
    match u.format {
        Format::Parquet if u.header => return Err("HEADER is not supported with FORMAT PARQUET".into()),
        Format::Parquet if u.gzip => return Err("GZIP is not supported with FORMAT PARQUET".into()),
        Format::Json if u.header => return Err("HEADER is not supported with FORMAT JSON".into()),
        _ => {}
    }
    if u.allow_overwrite && u.clean_path {
        return Err("CLEANPATH and ALLOWOVERWRITE cannot be used together".into());
    }
    Ok(u)
}

fn format_named(word: &str) -> Result<Format, String> {
    match word.to_ascii_uppercase().as_str() {
        "CSV" => Ok(Format::Csv),
        "JSON" => Ok(Format::Json),
        "PARQUET" => Ok(Format::Parquet),
        other => Err(format!("format {other} is not supported by the embedded warehouse")),
    }
}

/// A parsed `COPY ... FROM 's3://...'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyFrom {
    pub schema: Option<String>,
    pub table: String,
    pub columns: Vec<String>,
    pub from: String,
    pub format: Format,
    pub ignore_header: u64,
    pub gzip: bool,
    pub max_error: u64,
    pub manifest: bool,
    pub delimiter: Option<char>,
}

pub(crate) fn parse_copy(sql: &str) -> Result<CopyFrom, String> {
    let mut p = Parser::new(sql)?;
    p.expect_keyword("COPY")?;
    let first = p.identifier()?;
    let (schema, table) = if p.peek() == Some(&Tok::Dot) {
        p.next();
        // Redshift's `public`, as the SQL layer names it everywhere else.
        (Some(crate::dialect::engine_schema(&first)), p.identifier()?)
    } else {
        (None, first)
    };
    let mut columns = Vec::new();
    if p.peek() == Some(&Tok::LParen) {
        p.next();
        loop {
            columns.push(p.identifier()?);
            match p.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                other => return Err(format!("expected , or ) in the column list, found {other:?}")),
            }
        }
    }
    if !p.keyword("FROM") {
        return Err("only COPY ... FROM 's3://...' is supported; use UNLOAD to export".into());
    }
    let from = p.string("s3:// path")?;
    let mut c = CopyFrom {
        schema,
        table,
        columns,
        from,
        format: Format::Text,
        ignore_header: 0,
        gzip: false,
        max_error: 0,
        manifest: false,
        delimiter: None,
    };
    while let Some(word) = p.word() {
        if p.authorization(&word)? {
            continue;
        }
        match word.as_str() {
            "FORMAT" => {
                p.keyword("AS");
                let f = p.word().ok_or("expected a format after FORMAT")?;
                c.format = format_named(&f)?;
                if c.format == Format::Json {
                    c.json_auto(&mut p)?;
                }
            }
            "CSV" | "PARQUET" => c.format = format_named(&word)?,
            "JSON" => {
                c.format = Format::Json;
                c.json_auto(&mut p)?;
            }
            "IGNOREHEADER" => c.ignore_header = p.number("IGNOREHEADER")?,
            "GZIP" => c.gzip = true,
            "MAXERROR" => c.max_error = p.number("MAXERROR")?,
            "MANIFEST" => c.manifest = true,
            "DELIMITER" => {
                p.keyword("AS");
                let d = p.string("delimiter")?;
                let mut chars = d.chars();
                c.delimiter = match (chars.next(), chars.next()) {
                    (Some(ch), None) => Some(ch),
                    _ => return Err("DELIMITER must be one character".into()),
                };
            }
            other => return Err(format!("COPY option {other} is not supported by the embedded warehouse")),
        }
    }
    if let Some(t) = p.next() {
        return Err(format!("unexpected {t:?} in COPY"));
    }
    if c.format == Format::Parquet && (c.gzip || c.ignore_header > 0) {
        return Err("GZIP and IGNOREHEADER are not supported with FORMAT PARQUET".into());
    }
    Ok(c)
}

impl CopyFrom {
    /// `JSON 'auto'` (or `'auto ignorecase'`) is the only JSON mapping supported.
    fn json_auto(&mut self, p: &mut Parser) -> Result<(), String> {
        p.keyword("AS");
        match p.peek() {
            Some(Tok::Str(s)) if s.eq_ignore_ascii_case("auto") || s.eq_ignore_ascii_case("auto ignorecase") => {
                p.next();
                Ok(())
            }
            Some(Tok::Str(s)) => Err(format!("JSON '{s}' (a JSONPaths file) is not supported; use JSON 'auto'")),
            _ => Err("JSON needs 'auto'".into()),
        }
    }
}

/// Splits `s3://bucket/key` into bucket and key.
pub(crate) fn split_s3(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| format!("{url} is not an s3:// path"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.starts_with('.') || key.split('/').any(|s| s == "..") {
        return Err(format!("{url} is not a valid s3:// path"));
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unload_with_quotes_and_options() {
        let u = parse_unload(
            "UNLOAD ('SELECT * FROM t WHERE s = ''it''''s'' AND p = ''a\\\\b''') TO 's3://b/t1/j1/results/part_' \
             IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS CSV HEADER GZIP MANIFEST VERBOSE ALLOWOVERWRITE \
             PARALLEL OFF MAXFILESIZE 100 MB",
        )
        .unwrap();
        assert_eq!(u.query, "SELECT * FROM t WHERE s = 'it''s' AND p = 'a\\b'");
        assert_eq!(u.to, "s3://b/t1/j1/results/part_");
        assert_eq!((u.format, u.header, u.gzip, u.manifest), (Format::Csv, true, true, Some(true)));
        assert_eq!((u.allow_overwrite, u.parallel, u.max_file_size), (true, false, Some(100 * MB)));
    }

    #[test]
    fn unload_refuses_what_redshift_refuses() {
        let base = "UNLOAD ('select 1') TO 's3://b/p' IAM_ROLE default ";
        for (opts, why) in [
            ("FORMAT PARQUET HEADER", "HEADER is not supported with FORMAT PARQUET"),
            ("FORMAT PARQUET GZIP", "GZIP is not supported with FORMAT PARQUET"),
            ("FORMAT JSON HEADER", "HEADER is not supported with FORMAT JSON"),
            ("ALLOWOVERWRITE CLEANPATH", "cannot be used together"),
            ("MAXFILESIZE 1 MB", "between 5 MB"),
            ("ENCRYPTED", "not supported"),
        ] {
            let err = parse_unload(&format!("{base}{opts}")).unwrap_err();
            assert!(err.contains(why), "{opts}: {err}");
        }
    }

    #[test]
    fn copy_with_columns_and_options() {
        let c = parse_copy(
            "COPY \"Stage\".t_1 (id, \"Name\") FROM 's3://b/t1/j/upload/' IAM_ROLE 'arn' FORMAT AS CSV \
             IGNOREHEADER 1 GZIP MAXERROR AS 10 MANIFEST",
        )
        .unwrap();
        assert_eq!((c.schema.as_deref(), c.table.as_str()), (Some("Stage"), "t_1"));
        assert_eq!(c.columns, ["id", "Name"]);
        assert_eq!((c.format, c.ignore_header, c.gzip, c.max_error, c.manifest), (Format::Csv, 1, true, 10, true));
        let j = parse_copy("copy t from 's3://b/p' iam_role default format as json 'auto'").unwrap();
        assert_eq!(j.format, Format::Json);
        assert!(parse_copy("copy t from 's3://b/p' json 's3://b/paths.json'").is_err());
        assert!(parse_copy("copy t to 's3://b/p'").is_err());
        assert!(parse_copy("copy t from 's3://b/p' format parquet gzip").is_err());
        let public = parse_copy("copy public.sales from 's3://b/p' iam_role default").unwrap();
        assert_eq!(public.schema.as_deref(), Some("main"));
    }

    #[test]
    fn s3_paths_split_and_refuse_escapes() {
        assert_eq!(split_s3("s3://b/t/j/").unwrap(), ("b".into(), "t/j/".into()));
        assert!(split_s3("/etc/passwd").is_err());
        assert!(split_s3("s3://b/../x").is_err());
    }
}
