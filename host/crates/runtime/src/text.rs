//! Text a plugin hands to the host (refusal messages, log lines, stderr,
//! descriptions) is untrusted: it may be megabytes long, span many lines or
//! carry terminal escapes that rewrite an operator's screen. Everything a
//! guest says passes through [`sanitize_guest_text`] before it reaches a
//! log, an error, a database row or an API response.

/// Longest refusal or trap message kept from a guest, in bytes.
pub const MAX_GUEST_MESSAGE: usize = 1024;

/// What replaces the cut-off end of a truncated text.
pub const TRUNCATED: &str = "…[truncated]";

/// Makes guest text safe to show: one line, no control characters, no
/// terminal escape sequences, no bidirectional overrides, at most
/// `max_bytes` bytes (cut on a character boundary, with [`TRUNCATED`] at the
/// end when something was cut; a budget smaller than the marker gives the
/// marker alone).
///
/// Newlines and tabs become spaces and runs of whitespace collapse, so a
/// multi-line message reads as one line. Escape sequences (CSI `ESC [ … final`,
/// OSC `ESC ] … BEL/ST`, and two-byte `ESC x`) are removed whole rather than
/// leaving their visible tail behind.
pub fn sanitize_guest_text(text: &str, max_bytes: usize) -> String {
    // Never scan more than needed: a guest may send megabytes.
    let mut out = String::with_capacity(text.len().min(max_bytes) + TRUNCATED.len());
    let mut chars = text.chars().peekable();
    let mut truncated = false;
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        let keep = match c {
            '\u{1b}' => {
                skip_escape(&mut chars);
                None
            }
            // C1 CSI / OSC introducers behave like their ESC forms.
            '\u{9b}' => {
                skip_csi(&mut chars);
                None
            }
            '\u{9d}' => {
                skip_osc(&mut chars);
                None
            }
            c if c.is_whitespace() => {
                pending_space = !out.is_empty();
                None
            }
            c if c.is_control() || is_invisible_format(c) => None,
            c => Some(c),
        };
        let Some(c) = keep else { continue };
        let needed = c.len_utf8() + usize::from(pending_space);
        if out.len() + needed > max_bytes {
            truncated = true;
            break;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if truncated {
        // Make room for the marker within the budget (a budget smaller than
        // the marker leaves only the marker).
        let mut cut = max_bytes.saturating_sub(TRUNCATED.len()).min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push_str(TRUNCATED);
    }
    out
}

/// Characters that change how the surrounding text is displayed without
/// being visible: bidirectional overrides and isolates (the "Trojan Source"
/// trick), zero-width characters, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'
    )
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
            chars.next();
            skip_osc(chars);
        }
        // A two-character escape (`ESC c`, `ESC 7`, ...).
        Some(_) => {
            chars.next();
        }
        None => {}
    }
}

/// CSI: parameter and intermediate bytes, then one final byte in `@`..=`~`.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
        if !(' '..='?').contains(&c) {
            // Not a well-formed sequence: stop skipping here.
            break;
        }
    }
}

/// OSC and other string sequences: up to BEL, ST (`ESC \`) or the C1 ST.
fn skip_osc(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TRUNCATED, sanitize_guest_text};

    #[test]
    fn plain_text_passes_unchanged() {
        assert_eq!(
            sanitize_guest_text("refusing row 0 on purpose", 100),
            "refusing row 0 on purpose"
        );
        assert_eq!(sanitize_guest_text("zoë 😀 ok", 100), "zoë 😀 ok");
    }

    #[test]
    fn escapes_and_control_characters_are_removed() {
        let hostile =
            "\u{1b}[31mred\u{1b}[0m \u{1b}]0;owned title\u{7}clear\u{1b}c\u{0}\u{8}bell\u{7}";
        assert_eq!(sanitize_guest_text(hostile, 100), "red clearbell");
        assert_eq!(
            sanitize_guest_text("abc\u{202e}fed\u{2066}x\u{200b}y", 100),
            "abcfedxy"
        );
        assert_eq!(sanitize_guest_text("\u{9b}2Jwiped", 100), "wiped");
    }

    #[test]
    fn lines_become_one_line() {
        assert_eq!(
            sanitize_guest_text("  first\n\n  second\r\n\tthird  ", 100),
            "first second third"
        );
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_a_marker() {
        let long = "é".repeat(10_000);
        let cut = sanitize_guest_text(&long, 64);
        assert!(cut.len() <= 64, "{} bytes", cut.len());
        assert!(cut.ends_with(TRUNCATED), "{cut}");
        assert!(cut.starts_with("éé"));
        // A budget smaller than the marker still says it was cut.
        assert_eq!(sanitize_guest_text("abcdef", 3), TRUNCATED);
        // Exactly at the budget: nothing is cut.
        assert_eq!(sanitize_guest_text("abc", 3), "abc");
    }

    #[test]
    fn megabytes_of_input_cost_only_the_budget() {
        let huge = "x".repeat(8 << 20);
        let cut = sanitize_guest_text(&huge, 1024);
        assert!(cut.len() <= 1024);
        assert!(cut.capacity() < 4096, "{}", cut.capacity());
    }
}
