//! Tokens of the Adaptive Expressions language.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64, bool),
    Str(String),
    Ident(String),
    /// Punctuation and operators: `( ) [ ] { } , . : ? + - * / % ^ == != <> < <= > >= && || ! &`.
    Sym(&'static str),
}

const SYMBOLS: &[&str] = &[
    "==", "!=", "<>", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ",", ".", ":", "?",
    "+", "-", "*", "/", "%", "^", "<", ">", "!", "&", "=",
];

pub fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_float = false;
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                is_float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value = text
                .parse::<f64>()
                .map_err(|_| ParseError::new(format!("invalid number {text}")))?;
            tokens.push(Token::Number(value, is_float));
        } else if c == '\'' || c == '"' {
            let (text, next) = read_string(&chars, i)?;
            tokens.push(Token::Str(text));
            i = next;
        } else if is_ident_start(c) {
            let start = i;
            i += 1;
            if c == '@' && i < chars.len() && chars[i] == '@' {
                i += 1;
            }
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let symbol = SYMBOLS
                .iter()
                .find(|s| rest.starts_with(**s))
                .ok_or_else(|| ParseError::new(format!("unexpected character {c:?}")))?;
            if *symbol == "=" {
                return Err(ParseError::new("'=' is not an operator; use '=='"));
            }
            tokens.push(Token::Sym(symbol));
            i += symbol.chars().count();
        }
    }
    Ok(tokens)
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || matches!(c, '_' | '$' | '@' | '#')
}

/// Reads a quoted string starting at `start`; returns its text and the index after it.
fn read_string(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            match next {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' | '\'' | '"' | '`' => out.push(next),
                _ => {
                    out.push('\\');
                    out.push(next);
                }
            }
            i += 2;
        } else if c == quote {
            return Ok((out, i + 1));
        } else {
            out.push(c);
            i += 1;
        }
    }
    Err(ParseError::new("unterminated string literal"))
}
