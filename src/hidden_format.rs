//! Characters that change how text is shown without showing themselves (bidi controls,
//! zero-width characters, tag characters…): refused in names people and files are given, by
//! every edge that takes one (the widget's display names and uploads, WhatsApp profile and
//! document names).

/// Characters that change how text around them is shown without showing themselves: bidi
/// embeddings, overrides, isolates and marks, zero-width spaces and joiners, invisible
/// operators, tag characters, interlinear annotations, fillers that render as blank, line and
/// paragraph separators, and the byte-order mark (Unicode's `Cf`, `Zl` and `Zp`, plus the
/// blank fillers). Zero-width (non-)joiners are the exception where scripts need them: between
/// two letters or emoji (Persian, Indic scripts, emoji sequences), see [`has_hidden_format`].
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether `text` has a hidden formatting character, except a zero-width joiner or non-joiner
/// standing between two visible letters, marks or emoji.
pub fn has_hidden_format(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        if !is_hidden_format(c) {
            return false;
        }
        if c == '\u{200C}' || c == '\u{200D}' {
            let joins = |n: Option<&char>| {
                n.is_some_and(|&n| {
                    !n.is_ascii() && !is_hidden_format(n) && !n.is_whitespace() && !n.is_control()
                })
            };
            let before = i.checked_sub(1).and_then(|p| chars.get(p));
            return !(joins(before) && joins(chars.get(i + 1)));
        }
        true
    })
}
