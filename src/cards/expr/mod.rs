//! Adaptive Expressions: the syntax tree, its parser and its printer. The grammar and operator
//! precedence follow `adaptive-expressions` 4.23.3 (`ExpressionAntlrParser.g4`): unary `! - +`,
//! then `^`, `* / %`, `+ -`, `== != <>`, `&`, `< <= > >=`, `&&`, `||`, `?:`.

mod lexer;
mod parser;

use serde_json::Value;

pub use parser::parse;

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal: number, string, boolean or null.
    Const(Value),
    /// A bare name: a data property, `$root`, `$data`, `$index`, `$host`, or a lambda variable.
    Ident(String),
    /// `target.name`
    Member(Box<Expr>, String),
    /// `target[index]`
    Index(Box<Expr>, Box<Expr>),
    /// A function or operator (by its AEL name, e.g. `+`, `==`, `concat`).
    Call(String, Vec<Expr>),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{a: 1}`
    Object(Vec<(String, Expr)>),
}

/// A syntax error in an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }
}

impl Expr {
    /// True for literal atoms, which AEL folds into an interpolated string's text.
    pub fn is_constant(&self) -> bool {
        matches!(self, Expr::Const(_))
    }
}

fn is_operator(name: &str) -> bool {
    name.chars().next().is_some_and(|c| !c.is_alphabetic())
}

/// Prints the expression as AEL's `Expression.toString()` does: infix operators in
/// parentheses with spaces, functions as `name(a, b)`, strings single-quoted.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Const(Value::String(s)) => write!(f, "'{s}'"),
            Expr::Const(Value::Number(n)) => {
                write!(
                    f,
                    "{}",
                    crate::cards::value::number_to_string(n.as_f64().unwrap_or(0.0))
                )
            }
            Expr::Const(v) => write!(f, "{v}"),
            Expr::Ident(name) => f.write_str(name),
            Expr::Member(target, name) => write!(f, "{target}.{name}"),
            Expr::Index(target, index) => write!(f, "{target}[{index}]"),
            Expr::Call(name, args) if is_operator(name) && args.len() >= 2 => write_list(
                f,
                "(",
                &format!(" {name} "),
                ")",
                args.iter().map(|a| a.to_string()),
            ),
            Expr::Call(name, args) => write_list(
                f,
                &format!("{name}("),
                ", ",
                ")",
                args.iter().map(|a| a.to_string()),
            ),
            Expr::Array(items) => {
                write_list(f, "[", ", ", "]", items.iter().map(|a| a.to_string()))
            }
            Expr::Object(pairs) => write_list(
                f,
                "{",
                ", ",
                "}",
                pairs.iter().map(|(k, v)| format!("{k}: {v}")),
            ),
        }
    }
}

fn write_list(
    f: &mut std::fmt::Formatter<'_>,
    open: &str,
    separator: &str,
    close: &str,
    items: impl Iterator<Item = String>,
) -> std::fmt::Result {
    f.write_str(open)?;
    f.write_str(&items.collect::<Vec<_>>().join(separator))?;
    f.write_str(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_the_ael_grammar() {
        assert_eq!(
            parse("1 + 2 * 3").expect("parse").to_string(),
            "(1 + (2 * 3))"
        );
        assert_eq!(
            parse("a || b && c").expect("parse").to_string(),
            "(a || (b && c))"
        );
        assert_eq!(parse("!a && b").expect("parse").to_string(), "(!(a) && b)");
        assert_eq!(parse("o.k-1").expect("parse").to_string(), "(o.k - 1)");
        assert_eq!(
            parse("2 ^ 3 ^ 2").expect("parse").to_string(),
            "(2 ^ (3 ^ 2))"
        );
        assert_eq!(parse("foo( 1,2 )").expect("parse").to_string(), "foo(1, 2)");
        assert_eq!(
            parse("json(m).a[0]['b c']").expect("parse").to_string(),
            "json(m).a[0]['b c']"
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        for bad in [
            "1 +", "(1", "a..b", "f(1,)", "'open", "a = b", "[1, 2", "{a 1}", "1 2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
