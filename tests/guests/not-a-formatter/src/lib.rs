//! A tiny component that exports `run: func() -> u32` and nothing of the
//! formatter contract, for the host's "wrong world" refusal tests.

wit_bindgen::generate!({
    path: "wit",
    world: "not-a-formatter",
});

struct NotAFormatter;

impl Guest for NotAFormatter {
    fn run() -> u32 {
        42
    }
}

export!(NotAFormatter);
