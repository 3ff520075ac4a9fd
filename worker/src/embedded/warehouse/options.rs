//! Parsing Redshift's `UNLOAD` and `COPY` (the subset Spectra uses, and the option combinations
//! Redshift refuses, refused with Redshift's reasons).

/// A token of an UNLOAD or COPY statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str(String),
    Num(u64),
    LParen,
    RParen,
    Comma,
    Dot,
}

/// Reads a quoted token starting at `*i` (the opening quote) and leaves `*i` past the closing
/// one. A doubled quote is a quote; with `backslash`, `\x` is `x` (Redshift string literals).
fn read_quoted(chars: &[char], i: &mut usize, quote: char, backslash: bool) -> Result<String, String> {
    let mut s = String::new();
    *i += 1;
    loop {
        match (chars.get(*i), chars.get(*i + 1)) {
            (None, _) => return Err(format!("unterminated {quote}-quoted text")),
            (Some(c), Some(n)) if *c == quote && *n == quote => {
                s.push(quote);
                *i += 2;
            }
            (Some(c), _) if *c == quote => {
                *i += 1;
                return Ok(s);
            }
            (Some('\\'), Some(n)) if backslash => {
                s.push(*n);
                *i += 2;
            }
            (Some(c), _) => {
                s.push(*c);
                *i += 1;
            }
        }
    }
}

fn tokenize(sql: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let (mut i, mut out) = (0, Vec::new());
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() || c == ';' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            '\'' => out.push(Tok::Str(read_quoted(&chars, &mut i, '\'', true)?)),
            '"' => out.push(Tok::Quoted(read_quoted(&chars, &mut i, '"', false)?)),
            c if c.is_ascii_digit() => {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Num(text.parse().map_err(|_| format!("number {text} is too large"))?));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

/// A cursor over tokens with keyword helpers.
struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn new(sql: &str) -> Result<Self, String> {
        Ok(Self { toks: tokenize(sql)?, pos: 0 })
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_keyword(&mut self, kw: &str) -> Result<(), String> {
        if self.keyword(kw) { Ok(()) } else { Err(format!("expected {kw} near {:?}", self.peek())) }
    }
    fn expect(&mut self, tok: Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if t == tok => Ok(()),
            other => Err(format!("expected {tok:?}, found {other:?}")),
        }
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            other => Err(format!("expected a quoted {what}, found {other:?}")),
        }
    }
    fn number(&mut self, what: &str) -> Result<u64, String> {
        self.keyword("AS");
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            other => Err(format!("expected a number for {what}, found {other:?}")),
        }
    }
    fn word(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.to_ascii_uppercase();
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }
    fn identifier(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.to_ascii_lowercase()),
            Some(Tok::Quoted(q)) => Ok(q),
            other => Err(format!("expected an identifier, found {other:?}")),
        }
    }
    /// Skips the authorization clause (IAM_ROLE 'arn' | IAM_ROLE DEFAULT | CREDENTIALS '..').
    fn authorization(&mut self, word: &str) -> Result<bool, String> {
        match word {
            "IAM_ROLE" => {
                if !self.keyword("DEFAULT") {
                    self.string("IAM role ARN")?;
                }
                Ok(true)
            }
            "CREDENTIALS" | "ACCESS_KEY_ID" | "SECRET_ACCESS_KEY" | "SESSION_TOKEN" | "REGION" => {
                self.keyword("AS");
                self.string("credential")?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

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
        (Some(first), p.identifier()?)
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

/// A parsed `CREATE [LOCAL] [TEMP] TABLE name (LIKE parent)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateLike {
    pub temp: bool,
    pub schema: Option<String>,
    pub table: String,
    pub parent_schema: Option<String>,
    pub parent: String,
}

impl Parser {
    fn qualified(&mut self) -> Result<(Option<String>, String), String> {
        let first = self.identifier()?;
        if self.peek() == Some(&Tok::Dot) {
            self.next();
            Ok((Some(first), self.identifier()?))
        } else {
            Ok((None, first))
        }
    }
}

/// Recognises Redshift's `CREATE [LOCAL] [TEMP | TEMPORARY] TABLE name (LIKE parent
/// [INCLUDING | EXCLUDING DEFAULTS])`, which DuckDB lacks; `None` for any other statement.
pub(crate) fn parse_create_like(sql: &str) -> Option<CreateLike> {
    let mut p = Parser::new(sql).ok()?;
    if !p.keyword("CREATE") {
        return None;
    }
    p.keyword("LOCAL");
    let temp = p.keyword("TEMP") || p.keyword("TEMPORARY");
    if !p.keyword("TABLE") {
        return None;
    }
    let (schema, table) = p.qualified().ok()?;
    if p.next()? != Tok::LParen || !p.keyword("LIKE") {
        return None;
    }
    let (parent_schema, parent) = p.qualified().ok()?;
    if (p.keyword("INCLUDING") || p.keyword("EXCLUDING")) && !p.keyword("DEFAULTS") {
        return None;
    }
    if p.next()? != Tok::RParen || p.next().is_some() {
        return None;
    }
    Some(CreateLike { temp, schema, table, parent_schema, parent })
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
    fn create_like_is_recognised_and_nothing_else() {
        let c = parse_create_like(r#"CREATE TEMP TABLE spectra_stage (LIKE "public"."sales")"#).unwrap();
        assert_eq!(
            c,
            CreateLike {
                temp: true,
                schema: None,
                table: "spectra_stage".into(),
                parent_schema: Some("public".into()),
                parent: "sales".into()
            }
        );
        assert!(!parse_create_like("create table a.b (like c including defaults);").unwrap().temp);
        for other in ["CREATE TABLE t (id INT)", "CREATE TABLE t AS SELECT 1", "SELECT 1", "CREATE TABLE t (LIKE c) x"]
        {
            assert_eq!(parse_create_like(other), None, "{other}");
        }
    }

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
    }

    #[test]
    fn s3_paths_split_and_refuse_escapes() {
        assert_eq!(split_s3("s3://b/t/j/").unwrap(), ("b".into(), "t/j/".into()));
        assert!(split_s3("/etc/passwd").is_err());
        assert!(split_s3("s3://b/../x").is_err());
    }
}
