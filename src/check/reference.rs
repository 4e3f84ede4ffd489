//! The field reference (`docs/reference.md`), generated from the schemas so that it cannot
//! drift from what the checker enforces. A test fails when the committed file is stale.

use std::fmt::Write;

use super::schema::{Bounds, FieldDefault, Kind, Ty};
use super::units::Unit;

/// The reference as Markdown.
pub fn reference() -> String {
    let mut out = String::from(
        "# Field reference\n\n\
         Generated from `src/check/schema.rs` (`SPRS_BLESS=1 cargo test --test integration check::reference` \
         rewrites it). Every field of every kind, with its type, unit, range and default. A default \
         is an sprs expression, evaluated like a field the record sets.\n",
    );
    let kinds = [
        (Kind::Data, "data NAME { .. }"),
        (Kind::Model, "model NAME { .. }"),
        (Kind::Schedule, "schedule NAME { .. }: pruning"),
        (Kind::Optimizer, "optimizer NAME { .. }: AdamW"),
        (Kind::Train, "train NAME { .. }"),
        (Kind::Eval, "eval = { .. } in a train"),
        (Kind::Bpe, "bpe { .. }: a tokenizer"),
        (Kind::Synthetic, "synthetic { .. }: a generated source"),
        (Kind::Fit, "fit NAME = LAW { .. }"),
    ];
    for (kind, title) in kinds {
        let _ = write!(out, "\n## `{title}`\n\n| field | type | default | meaning |\n|---|---|---|---|\n");
        for field in kind.fields() {
            let default = match field.default {
                FieldDefault::Required => "required".to_string(),
                FieldDefault::Absent => "not set".to_string(),
                FieldDefault::Expr(expr) => format!("`{expr}`"),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {default} | {} |",
                field.name,
                describe(field.ty),
                field.doc.replace('|', "\\|")
            );
        }
    }
    out.push_str("\n## Observables\n\n| name | meaning |\n|---|---|\n");
    for observable in crate::observables::Observable::ALL {
        let _ = writeln!(out, "| `{observable}` | {} |", observable.doc());
    }
    out
}

/// What a field means, for a language server's hover: for every kind of record that has a field
/// called `name`, its type, default and documentation (the text of `docs/reference.md`).
pub fn field_doc(name: &str) -> Option<String> {
    let kinds = [
        Kind::Data,
        Kind::Model,
        Kind::Schedule,
        Kind::Optimizer,
        Kind::Train,
        Kind::Eval,
        Kind::Bpe,
        Kind::Synthetic,
        Kind::Fit,
    ];
    let docs: Vec<String> = kinds
        .into_iter()
        .filter_map(|kind| kind.field(name).map(|field| (kind, field)))
        .map(|(kind, field)| {
            let default = match field.default {
                FieldDefault::Required => "required".to_string(),
                FieldDefault::Absent => "not set by default".to_string(),
                FieldDefault::Expr(expr) => format!("default `{expr}`"),
            };
            format!("`{name}` of {}: {}, {default}\n\n{}", kind.article(), describe(field.ty), field.doc)
        })
        .collect();
    (!docs.is_empty()).then(|| docs.join("\n\n---\n\n"))
}

fn words(words: &[&str]) -> String {
    words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
}

fn describe(ty: Ty) -> String {
    match ty {
        Ty::Count { min, max, unit } if unit == Unit::NONE => {
            format!("whole number in {}", Bounds::closed(min, max))
        }
        Ty::Count { min, max, unit } => {
            format!("whole number in {}, plain or in {unit}", Bounds::closed(min, max))
        }
        Ty::Real(bounds) => format!("number in {bounds}"),
        Ty::Fraction(bounds) => format!("fraction in {bounds}"),
        Ty::Word(list) => format!("one of {}", words(list)),
        Ty::Bool => "`true` or `false`".into(),
        Ty::Record(kind) => kind.article(),
        Ty::Words(list) => format!("list of {}", words(list)),
        Ty::Source => "a source".into(),
        Ty::Tokenizer => "a tokenizer".into(),
        Ty::Point => "a fraction (`of steps`, `of tokens`, `of compute`) or steps or tokens".into(),
        Ty::Interval => "a fraction of training or steps".into(),
        Ty::Budget => "tokens, steps, flops or tokens/param".into(),
        Ty::Betas => "a pair of numbers in [0, 1)".into(),
        Ty::FitOn => "sweeps, trains or `csv(..)`, each optionally `where COND`".into(),
        Ty::Law => "an expression over observables and parameters".into(),
        Ty::Params => "a record of start grids".into(),
        Ty::Loss => "`huber(delta)` or `mse`".into(),
        Ty::Holdout => "`largest(OBS, k)` or `smallest(OBS, k)`".into(),
    }
}
