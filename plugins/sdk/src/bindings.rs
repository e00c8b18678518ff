//! Bindings generated from `wit/formatter.wit`. Nothing here is part of the
//! SDK's API: the hand-written modules convert to and from these types so
//! plugin authors never see them.

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
    // `export_format!` expands in the plugin's crate, so the generated
    // `export!` macro must be reachable from there.
    pub_export_macro: true,
});
