//! What a component declares, checked before it is compiled: a component
//! may nest any number of core modules, each with its own memories and
//! tables, and instantiate them many times. The memory budget counts what
//! they use (see `sandbox::MemoryLimiter`); these caps refuse at load a
//! component built to multiply host structures.
//!
//! The caps leave room for every toolchain we know: a Rust component
//! (wasm32-wasip2) has one memory, two or three tables and about five core
//! instances; componentize-py's Python components link a dozen shared
//! libraries into one memory, with a few dozen core instances.

use wasmparser::{Parser, Payload};

/// Linear memories a component may define in all its core modules.
pub(crate) const MAX_MEMORIES: usize = 4;
/// Tables a component may define in all its core modules.
pub(crate) const MAX_TABLES: usize = 64;
/// Core module instances a component may create.
pub(crate) const MAX_CORE_INSTANCES: usize = 128;
/// Core modules a component may embed.
pub(crate) const MAX_CORE_MODULES: usize = 64;
/// Component instances (nested components) a component may create.
pub(crate) const MAX_COMPONENT_INSTANCES: usize = 64;

/// Counts what the component declares and says which cap it passes, if any.
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let mut memories = 0usize;
    let mut tables = 0usize;
    let mut core_instances = 0usize;
    let mut modules = 0usize;
    let mut component_instances = 0usize;
    // `parse_all` walks nested modules and components too.
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("malformed component: {e}"))?;
        match payload {
            Payload::MemorySection(section) => memories += section.count() as usize,
            Payload::TableSection(section) => tables += section.count() as usize,
            Payload::InstanceSection(section) => core_instances += section.count() as usize,
            Payload::ComponentInstanceSection(section) => {
                component_instances += section.count() as usize
            }
            Payload::ModuleSection { .. } => modules += 1,
            _ => {}
        }
    }
    for (what, count, cap) in [
        ("linear memories", memories, MAX_MEMORIES),
        ("tables", tables, MAX_TABLES),
        ("core instances", core_instances, MAX_CORE_INSTANCES),
        ("core modules", modules, MAX_CORE_MODULES),
        (
            "component instances",
            component_instances,
            MAX_COMPONENT_INSTANCES,
        ),
    ] {
        if count > cap {
            return Err(format!(
                "it declares {count} {what}; a plugin may have at most {cap}"
            ));
        }
    }
    Ok(())
}

/// Hand-assembled components for the tests: `memories` core modules, each
/// with one memory of `pages` 64 KiB pages, each instantiated once. No
/// exports, no imports.
#[cfg(test)]
pub(crate) fn component_with_memories(memories: usize, pages: u32) -> Vec<u8> {
    fn leb(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    let mut memory = vec![1, 0x00];
    leb(u64::from(pages), &mut memory);
    section(5, &memory, &mut module);

    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    for _ in 0..memories {
        section(1, &module, &mut component);
    }
    let mut instances = Vec::new();
    leb(memories as u64, &mut instances);
    for index in 0..memories {
        instances.push(0x00);
        leb(index as u64, &mut instances);
        instances.push(0); // no instantiation arguments
    }
    section(2, &instances, &mut component);
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_within_the_caps_passes() {
        assert_eq!(check(&component_with_memories(MAX_MEMORIES, 1)), Ok(()));
    }

    #[test]
    fn too_many_memories_are_refused() {
        let error = check(&component_with_memories(7, 1)).unwrap_err();
        assert_eq!(
            error,
            format!("it declares 7 linear memories; a plugin may have at most {MAX_MEMORIES}")
        );
    }
}
