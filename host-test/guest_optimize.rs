//! Shrinks a built component with Binaryen's optimiser (`wasm-opt`), from `host-test/build.rs`.
//!
//! rustc hands `wasm-component-ld` a core module LLVM already optimised as a whole (fat LTO); Binaryen's
//! passes over the wasm itself (`-O3`, low memory declared unused) still make its code markedly smaller
//! at the same speed (the figures: README, "Component size"). A component wraps its core modules, so
//! this finds the largest one, optimises it on its own and writes the component back around it with
//! every other section as it was — except `component-name`, a debugging aid nothing reads. The result
//! is validated before it replaces the input; a module Binaryen cannot read fails the build.

use std::path::Path;

use wasm_encoder::{Component, RawSection};
use wasm_opt::{Feature, OptimizationOptions, Pass};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// The custom section `wasm-component-ld` writes with the component's own names; only debuggers read it.
const COMPONENT_NAME_SECTION: &str = "component-name";

/// Optimise the component at `path` in place; `scratch` is a directory for the module's round trip.
pub fn optimize_component(path: &Path, scratch: &Path) -> Result<(), String> {
    let original = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let sections = top_level_sections(&original)?;
    let (main_module, _) = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.id == wasm_encoder::ComponentSectionId::CoreModule as u8)
        .max_by_key(|(_, s)| s.range.len())
        .ok_or("the component has no core module")?;

    let before = scratch.join("core-module.wasm");
    let after = scratch.join("core-module.opt.wasm");
    std::fs::write(&before, &original[sections[main_module].range.clone()])
        .map_err(|e| format!("writing {}: {e}", before.display()))?;
    OptimizationOptions::new_opt_level_3()
        // What rustc's wasm32-wasip2 target emits; Binaryen must accept every instruction it meets.
        .enable_feature(Feature::BulkMemory)
        .enable_feature(Feature::SignExt)
        .enable_feature(Feature::MutableGlobals)
        .enable_feature(Feature::TruncSat)
        .enable_feature(Feature::Multivalue)
        .enable_feature(Feature::ReferenceTypes)
        // rustc puts the stack and the data above the first KiB, which nothing reads or writes:
        // Binaryen may fold constant offsets into loads and stores.
        .low_memory_unused(true)
        .debug_info(false)
        // Not part of -O3: folds functions that differ only in constants (~1 KB here, pages no slower).
        .add_pass(Pass::MergeSimilarFunctions)
        .add_pass(Pass::StripDebug)
        .add_pass(Pass::StripProducers)
        .add_pass(Pass::StripTargetFeatuers) // sic: the crate spells it so
        .run(&before, &after)
        .map_err(|e| format!("wasm-opt on the component's core module: {e}"))?;
    let optimized =
        std::fs::read(&after).map_err(|e| format!("reading {}: {e}", after.display()))?;
    for scratch_file in [&before, &after] {
        let _ = std::fs::remove_file(scratch_file);
    }

    let mut component = Component::new();
    for (index, section) in sections.iter().enumerate() {
        let data = if index == main_module {
            &optimized[..]
        } else {
            &original[section.range.clone()]
        };
        component.section(&RawSection {
            id: section.id,
            data,
        });
    }
    let rewritten = component.finish();
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(&rewritten)
        .map_err(|e| format!("the optimised component does not validate: {e}"))?;
    std::fs::write(path, &rewritten).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// One section of the component itself (not of a module nested in it).
struct Section {
    id: u8,
    /// The section's contents, without its id and size.
    range: std::ops::Range<usize>,
}

/// The component's own sections, in order, but for the `component-name` custom section.
fn top_level_sections(component: &[u8]) -> Result<Vec<Section>, String> {
    let mut sections = Vec::new();
    // Payloads of nested modules and components come between their section and its `End`.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("reading the component: {e}"))?;
        match &payload {
            Payload::Version { encoding, .. }
                if depth == 0 && *encoding != wasmparser::Encoding::Component =>
            {
                return Err("expected a component, found a core module".into());
            }
            Payload::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        let dropped =
            matches!(&payload, Payload::CustomSection(c) if c.name() == COMPONENT_NAME_SECTION);
        if depth == 0 && !dropped {
            if let Some((id, range)) = payload.as_section() {
                sections.push(Section {
                    id,
                    range: usize::try_from(range.start).map_err(|e| e.to_string())?
                        ..usize::try_from(range.end).map_err(|e| e.to_string())?,
                });
            }
        }
        if matches!(
            payload,
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. }
        ) {
            depth += 1;
        }
    }
    Ok(sections)
}
