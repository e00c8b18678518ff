//! Warnings the user sees (contract 1.1.0): what the plugin had to change
//! in the data to fit its format.

/// Tell the user that the file differs from the rows: a value cut at the
/// format's limit, a character the font cannot draw, a number rounded.
/// The host counts `count` more occurrences of `code` and keeps the first
/// few `example`s; the job, its manifest, the CLI and the callback show
/// them, so nobody receives a silently altered file. A log line reaches
/// only the operator; a warning reaches whoever asked for the export.
///
/// `code` is a stable lower-kebab-case name (`cell-truncated`); `example`
/// is one line naming the row and column where it helps, or empty. Report
/// each occurrence, or count them and report once with the total: the
/// host adds them up either way.
///
/// Outside a component (native unit tests) the warning goes to stderr and
/// to [`crate::testing::take_warnings`].
pub fn warn(code: &str, count: u64, example: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::exporter::formatter::sink::report_warning(code, count, example);
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[warning {code} x{count}] {example}");
        native::REPORTED
            .with_borrow_mut(|all| all.push((code.to_owned(), count, example.to_owned())));
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;

    thread_local! {
        /// Warnings reported on this thread: (code, count, example).
        pub(crate) static REPORTED: RefCell<Vec<(String, u64, String)>> =
            const { RefCell::new(Vec::new()) };
    }
}
