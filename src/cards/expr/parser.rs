//! Recursive-descent parser with the precedence levels of the AEL grammar.

use serde_json::Value;

use super::lexer::{Token, tokenize};
use super::{Expr, ParseError};
use crate::cards::value::number;

/// Parses one expression (the text between `${` and `}`).
pub fn parse(source: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(source)?;
    let mut parser = Parser { tokens, pos: 0 };
    if parser.tokens.is_empty() {
        return Err(ParseError::new("empty expression"));
    }
    let expr = parser.ternary()?;
    if parser.pos != parser.tokens.len() {
        return Err(ParseError::new(format!(
            "unexpected {} after a complete expression",
            parser.describe()
        )));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// Binary levels from loosest to tightest (after `?:`).
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["<", "<=", ">", ">="],
    &["&"],
    &["==", "!=", "<>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of expression".into(),
            Some(Token::Sym(s)) => format!("'{s}'"),
            Some(Token::Ident(s)) => format!("'{s}'"),
            Some(Token::Str(_)) => "a string".into(),
            Some(Token::Number(..)) => "a number".into(),
        }
    }

    fn eat(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Some(Token::Sym(s)) if *s == symbol) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: &str) -> Result<(), ParseError> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(ParseError::new(format!(
                "expected '{symbol}' but found {}",
                self.describe()
            )))
        }
    }

    fn ternary(&mut self) -> Result<Expr, ParseError> {
        let condition = self.binary(0)?;
        if self.eat("?") {
            let then = self.ternary()?;
            self.expect(":")?;
            let otherwise = self.ternary()?;
            return Ok(Expr::Call("if".into(), vec![condition, then, otherwise]));
        }
        Ok(condition)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, ParseError> {
        let Some(ops) = LEVELS.get(level) else {
            return self.power();
        };
        let mut left = self.binary(level + 1)?;
        loop {
            let op = match self.peek() {
                Some(Token::Sym(s)) if ops.contains(s) => *s,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.binary(level + 1)?;
            let name = if op == "<>" { "!=" } else { op };
            left = Expr::Call(name.into(), vec![left, right]);
        }
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.unary()?;
        if self.eat("^") {
            let exponent = self.power()?;
            return Ok(Expr::Call("^".into(), vec![base, exponent]));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        for op in ["!", "-", "+"] {
            if self.eat(op) {
                let operand = self.unary()?;
                return Ok(match (op, operand) {
                    ("+", e) => e,
                    (op, e) => Expr::Call(op.into(), vec![e]),
                });
            }
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(".") {
                match self.tokens.get(self.pos).cloned() {
                    Some(Token::Ident(name)) => {
                        self.pos += 1;
                        expr = Expr::Member(Box::new(expr), name);
                    }
                    _ => {
                        return Err(ParseError::new(format!(
                            "expected a name after '.' but found {}",
                            self.describe()
                        )));
                    }
                }
            } else if self.eat("[") {
                let index = self.ternary()?;
                self.expect("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else if matches!(self.peek(), Some(Token::Sym("("))) {
                let Expr::Ident(name) = expr else {
                    return Err(ParseError::new("only a function name can be called"));
                };
                self.pos += 1;
                let args = self.list(")")?;
                expr = Expr::Call(name, args);
            } else {
                return Ok(expr);
            }
        }
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn list(&mut self, close: &str) -> Result<Vec<Expr>, ParseError> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.ternary()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| ParseError::new("unexpected end of expression"))?;
        self.pos += 1;
        match token {
            Token::Number(n, _) => Ok(Expr::Const(number(n))),
            Token::Str(s) => Ok(Expr::Const(Value::String(s))),
            Token::Ident(name) => Ok(match name.as_str() {
                "true" => Expr::Const(Value::Bool(true)),
                "false" => Expr::Const(Value::Bool(false)),
                "null" => Expr::Const(Value::Null),
                _ => Expr::Ident(name),
            }),
            Token::Sym("(") => {
                let inner = self.ternary()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Sym("[") => Ok(Expr::Array(self.list("]")?)),
            Token::Sym("{") => self.object(),
            Token::Sym(s) => Err(ParseError::new(format!("unexpected '{s}'"))),
        }
    }

    fn object(&mut self) -> Result<Expr, ParseError> {
        let mut pairs = Vec::new();
        if self.eat("}") {
            return Ok(Expr::Object(pairs));
        }
        loop {
            let key = match self.tokens.get(self.pos).cloned() {
                Some(Token::Ident(k)) | Some(Token::Str(k)) => k,
                _ => {
                    return Err(ParseError::new(format!(
                        "expected a property name but found {}",
                        self.describe()
                    )));
                }
            };
            self.pos += 1;
            self.expect(":")?;
            pairs.push((key, self.ternary()?));
            if self.eat("}") {
                return Ok(Expr::Object(pairs));
            }
            self.expect(",")?;
        }
    }
}
