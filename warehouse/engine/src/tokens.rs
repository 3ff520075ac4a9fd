//! The tokenizer and token cursor behind the Redshift statements the embedded warehouse
//! parses itself (UNLOAD, COPY, CREATE TABLE ... LIKE).

/// A token of an UNLOAD or COPY statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
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

pub(super) fn tokenize(sql: &str) -> Result<Vec<Tok>, String> {
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
pub(super) struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    pub(super) fn new(sql: &str) -> Result<Self, String> {
        Ok(Self { toks: tokenize(sql)?, pos: 0 })
    }
    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    pub(super) fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    pub(super) fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    pub(super) fn expect_keyword(&mut self, kw: &str) -> Result<(), String> {
        if self.keyword(kw) { Ok(()) } else { Err(format!("expected {kw} near {:?}", self.peek())) }
    }
    pub(super) fn expect(&mut self, tok: Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if t == tok => Ok(()),
            other => Err(format!("expected {tok:?}, found {other:?}")),
        }
    }
    pub(super) fn string(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            other => Err(format!("expected a quoted {what}, found {other:?}")),
        }
    }
    pub(super) fn number(&mut self, what: &str) -> Result<u64, String> {
        self.keyword("AS");
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            other => Err(format!("expected a number for {what}, found {other:?}")),
        }
    }
    pub(super) fn word(&mut self) -> Option<String> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let w = w.to_ascii_uppercase();
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }
    pub(super) fn identifier(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.to_ascii_lowercase()),
            Some(Tok::Quoted(q)) => Ok(q),
            other => Err(format!("expected an identifier, found {other:?}")),
        }
    }
    /// Skips the authorization clause (IAM_ROLE 'arn' | IAM_ROLE DEFAULT | CREDENTIALS '..').
    pub(super) fn authorization(&mut self, word: &str) -> Result<bool, String> {
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

impl Parser {
    pub(super) fn qualified(&mut self) -> Result<(Option<String>, String), String> {
        let first = self.identifier()?;
        if self.peek() == Some(&Tok::Dot) {
            self.next();
            Ok((Some(first), self.identifier()?))
        } else {
            Ok((None, first))
        }
    }
}
