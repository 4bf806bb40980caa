//! Adaptive Cards: the templating engine and the card catalog.
//!
//! Cards are authored as templates in the Adaptive Cards Templating language (`${…}` Adaptive
//! Expressions, `$data`, `$when`, `$index`, `$root`, `$host`) so admins can restyle them in the
//! Adaptive Cards Designer. The engine is JSON-to-JSON and does no I/O while rendering; a
//! template is parsed once ([`Template::parse`], which rejects syntax errors and wrong argument
//! counts with the JSON path of the string) and expanded many times ([`Template::expand`]).
//!
//! # Semantics
//! The reference is Microsoft's `adaptivecards-templating` 2.3.1 on `adaptive-expressions`
//! 4.23.3, pinned by the conformance corpus in `tests/cards/corpus` (from the project's
//! `cardref` harness). In short:
//! - A string that is exactly one non-constant `${expr}` keeps the JSON type of its value
//!   (numbers, booleans, arrays, objects); any other string with `${…}` is text.
//! - A missing data path becomes the text `${path}` (the reference's null substitution), so a
//!   template shows what it could not fill instead of failing. Data strings are never
//!   evaluated: `${…}` in a customer's message is shown literally.
//! - Inside a longer string an expression that fails keeps its own text; as a whole value, in
//!   `$data`, or at parse time an error fails the expansion.
//! - `$data` with an array repeats the element (`$index` counts from 0); `$when` keeps an
//!   element only when it evaluates to `true` (a failure is false, a JSON literal `true` drops
//!   it, `false` is ignored). An expression returning `undefined` removes its key from an
//!   object and is `null` inside an array; `null` array items are dropped; arrays in arrays are
//!   spliced.
//! - Numbers are doubles printed the JavaScript way; `/` on two whole numbers is integer
//!   division; string lengths and positions count UTF-16 code units.
//! - `\${…}` is the text `${…}`; an unterminated `${` is text; `$_acTemplateVersion` is
//!   `{major: 2, minor: 3}`; `formatNumber(n, digits, locale)` writes the separators and
//!   grouping of the reference's own locale table (exact names such as `de-DE`; Arabic
//!   numerals for `ar-EG` and its kin; any other name as en-US).
//!
//! # Deliberate deviations from the reference
//! | case | reference | Switchboard | why |
//! |---|---|---|---|
//! | `invitation_null_in_interpolation_error`, `null_literal_error` | a `null` (or `undefined`) inside a longer string throws and the whole card fails | it adds no text | an invitation must never fail because a customer left a field empty |
//! | (no case) `formatNumber` without a locale | the locale of the process expanding the card (in Teams, the reader's) | the agent's Teams locale (told by their install; en-US when unknown or not in the table) | the server's own locale is nobody's: the card is expanded for the agent who reads it, as their Teams client would (`formatDateTime` names stay English with any locale, as in the reference) |
//!
//! Everything else in the corpus matches the reference exactly; the conformance test fails on
//! any case that neither matches nor is listed here.

pub mod catalog;
pub mod check;
pub mod data;
mod eval;
mod expr;
mod functions;
pub mod markdown;
pub mod render_cli;
mod template;
mod value;

pub use catalog::{CardCatalog, CatalogError, RenderError};
pub use eval::EvalError;
pub use expr::ParseError as ExpressionError;
pub use template::{ExpandError, ParseError, Template};

#[cfg(test)]
mod tests;
