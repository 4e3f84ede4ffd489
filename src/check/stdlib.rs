//! The standard library: `stdlib/*.sprs`, embedded in the binary.

/// Each module's name (as in `std::NAME`) and source.
pub const MODULES: &[(&str, &str)] = &[
    ("models", include_str!("../../stdlib/models.sprs")),
    ("schedules", include_str!("../../stdlib/schedules.sprs")),
    ("optimizers", include_str!("../../stdlib/optimizers.sprs")),
    ("data", include_str!("../../stdlib/data.sprs")),
    ("laws", include_str!("../../stdlib/laws.sprs")),
];

/// Stdlib items every file has without `use`: (module, item).
pub const PRELUDE: &[(&str, &str)] = &[("optimizers", "adamw"), ("schedules", "dense")];

/// The source of the stdlib module `std::NAME`, if there is one.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(m, _)| *m == name).map(|(_, text)| *text)
}

/// The module that defines a stdlib item, for "add `use std::models::llama`" help.
/// A cheap textual scan: stdlib items start a line with their kind keyword.
pub fn home_of(name: &str) -> Option<&'static str> {
    MODULES.iter().find_map(|(module, text)| {
        text.lines()
            .any(|line| {
                let mut words = line.split_whitespace();
                matches!(words.next(), Some("data" | "model" | "schedule" | "optimizer" | "train" | "fit" | "let"))
                    && words.next() == Some(name)
            })
            .then_some(*module)
    })
}
