//! What a plugin reports through `sink.report-warning` (contract 1.1.0):
//! the changes it had to make to the data to fit its format, counted per
//! code with the first few examples, for the job, its manifest, the CLI
//! and the callback.
//!
//! Everything here is bounded, since the text is the guest's: a plugin
//! reporting a warning per cell of a million-row export costs a counter
//! increment per call, and the stored summary stays a few KiB.

use serde::{Deserialize, Serialize};

use super::text::sanitize_guest_text;

/// Distinct codes kept per export; later codes are counted under
/// [`OVERFLOW_CODE`].
pub const MAX_CODES: usize = 16;
/// Examples kept per code: the first ones reported.
pub const MAX_EXAMPLES: usize = 5;
/// Longest code, in bytes.
pub const MAX_CODE_BYTES: usize = 64;
/// Longest example, in bytes; the rest is cut with a marker.
pub const MAX_EXAMPLE_BYTES: usize = 300;
/// Where the codes past [`MAX_CODES`] are counted.
pub const OVERFLOW_CODE: &str = "other-warnings";

/// One kind of change a plugin made, with how often and the first examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Lower-kebab-case, stable: `cell-truncated`, `glyph-missing`.
    pub code: String,
    /// Occurrences, across every part of the export.
    pub count: u64,
    /// The first examples reported, one line each.
    pub examples: Vec<String>,
}

/// The warnings of one export (or one part of it), in the order their
/// codes were first reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Warnings(Vec<Warning>);

impl Warnings {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Warning] {
        &self.0
    }

    /// Records `count` occurrences of `code` (guest text: cleaned and
    /// bounded here), keeping `example` if it is among the first.
    pub fn report(&mut self, code: &str, count: u64, example: &str) {
        let code = clean_code(code);
        let example = sanitize_guest_text(example, MAX_EXAMPLE_BYTES);
        self.add(
            &code,
            count.max(1),
            (!example.is_empty()).then_some(example),
        );
    }

    /// Adds another part's warnings to these.
    pub fn merge(&mut self, other: &Warnings) {
        for warning in &other.0 {
            self.add(&warning.code, warning.count, None);
            let examples = warning.examples.iter().cloned().map(Some);
            for example in examples {
                self.add(&warning.code, 0, example);
            }
        }
    }

    fn add(&mut self, code: &str, count: u64, example: Option<String>) {
        let index = match self.0.iter().position(|w| w.code == code) {
            Some(index) => index,
            None if self.0.len() < MAX_CODES - 1 || code == OVERFLOW_CODE => {
                self.0.push(Warning {
                    code: code.to_owned(),
                    count: 0,
                    examples: Vec::new(),
                });
                self.0.len() - 1
            }
            // One slot is kept for the overflow, so the total still adds up.
            None => return self.add(OVERFLOW_CODE, count, None),
        };
        let warning = &mut self.0[index];
        warning.count = warning.count.saturating_add(count);
        if let Some(example) = example
            && warning.examples.len() < MAX_EXAMPLES
        {
            warning.examples.push(example);
        }
    }

    /// One line for logs and CLI output: `cell-truncated x3, glyph-missing x1`.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("{} x{}", w.code, w.count))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A code as the contract asks for it: lower-kebab-case ASCII, bounded;
/// anything else is mapped onto that alphabet rather than refused, so a
/// sloppy plugin's warnings still reach the user.
fn clean_code(code: &str) -> String {
    let mut out = String::with_capacity(code.len().min(MAX_CODE_BYTES));
    for c in code.chars() {
        if out.len() == MAX_CODE_BYTES {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "unnamed-warning".to_owned()
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_code_and_only_the_first_examples_are_kept() {
        let mut warnings = Warnings::default();
        for row in 0..10 {
            warnings.report("cell-truncated", 1, &format!("row {row}"));
        }
        warnings.report("glyph-missing", 40, "");
        let all = warnings.as_slice();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].code, "cell-truncated");
        assert_eq!(all[0].count, 10);
        assert_eq!(
            all[0].examples,
            ["row 0", "row 1", "row 2", "row 3", "row 4"]
        );
        assert_eq!(all[1].count, 40);
        assert!(all[1].examples.is_empty());
        assert_eq!(warnings.summary(), "cell-truncated x10, glyph-missing x40");
    }

    #[test]
    fn guest_text_is_cleaned_and_bounded() {
        let mut warnings = Warnings::default();
        warnings.report("Cell Truncated!!\u{1b}[31m", 0, &"x\n".repeat(10_000));
        warnings.report("\u{1b}", 1, "\u{1b}[2Jline");
        let all = warnings.as_slice();
        assert_eq!(all[0].code, "cell-truncated-31m");
        // A count of zero still means "it happened".
        assert_eq!(all[0].count, 1);
        assert!(all[0].examples[0].len() <= MAX_EXAMPLE_BYTES + crate::text::TRUNCATED.len());
        assert!(!all[0].examples[0].contains('\n'));
        assert_eq!(all[1].code, "unnamed-warning");
        assert_eq!(all[1].examples, ["line"]);
        let long = "a".repeat(1000);
        warnings.report(&long, 1, "");
        assert_eq!(warnings.as_slice()[2].code.len(), MAX_CODE_BYTES);
    }

    #[test]
    fn codes_past_the_cap_are_counted_under_one_overflow_code() {
        let mut warnings = Warnings::default();
        for i in 0..100 {
            warnings.report(&format!("code-{i}"), 2, "e");
        }
        let all = warnings.as_slice();
        assert_eq!(all.len(), MAX_CODES);
        let overflow = all.last().unwrap();
        assert_eq!(overflow.code, OVERFLOW_CODE);
        assert_eq!(overflow.count, 2 * (100 - (MAX_CODES as u64 - 1)));
        assert_eq!(all.iter().map(|w| w.count).sum::<u64>(), 200);
    }

    #[test]
    fn merging_parts_adds_counts_and_keeps_examples_bounded() {
        let mut first = Warnings::default();
        first.report("cell-truncated", 3, "part 1 row 1");
        let mut second = Warnings::default();
        for i in 0..6 {
            second.report("cell-truncated", 1, &format!("part 2 row {i}"));
        }
        second.report("glyph-missing", 1, "x");
        first.merge(&second);
        let all = first.as_slice();
        assert_eq!(all[0].count, 9);
        assert_eq!(all[0].examples.len(), MAX_EXAMPLES);
        assert_eq!(all[0].examples[0], "part 1 row 1");
        assert_eq!(all[1].code, "glyph-missing");
        let json = serde_json::to_string(&first).unwrap();
        assert_eq!(serde_json::from_str::<Warnings>(&json).unwrap(), first);
    }
}
