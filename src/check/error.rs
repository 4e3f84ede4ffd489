//! Checker diagnostics: names and imports (`E01xx`), types, units and values (`E02xx`),
//! shapes and schedules (`E03xx`), laws (`E05xx`) and warnings (`W00xx`).

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// A mistake found while checking a file: names, types, units, ranges, sweeps, laws and fits
/// (codes E01xx-E06xx, W0xxx).
///
/// Each variant is documented by its `#[error]` message, its code and its help, which
/// docs/errors.md lists; its fields are what the message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, Error, Diagnostic)]
pub enum CheckError {
    #[error("cannot find `{name}` in this scope")]
    #[diagnostic(code(sprs::E0101))]
    UnknownName {
        name: String,
        #[label("not defined")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("{kind} has no field `{field}`")]
    #[diagnostic(code(sprs::E0102))]
    UnknownField {
        field: String,
        kind: String,
        #[label("unknown field")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` is defined more than once")]
    #[diagnostic(code(sprs::E0103), help("rename one of them, or import it with `as` under another name"))]
    Duplicate {
        name: String,
        #[label("defined again here")]
        span: SourceSpan,
        #[label("first defined here")]
        first: SourceSpan,
    },

    #[error("cannot find {what}")]
    #[diagnostic(code(sprs::E0104))]
    ImportNotFound {
        what: String,
        #[label("not found")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{module}` has no item `{name}`")]
    #[diagnostic(code(sprs::E0105))]
    NotInModule {
        name: String,
        module: String,
        #[label("not in `{module}`")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("import cycle: {chain}")]
    #[diagnostic(code(sprs::E0106), help("move what both files need into a third file that imports neither"))]
    ImportCycle {
        chain: String,
        #[label("this import closes the cycle")]
        span: SourceSpan,
    },

    #[error("`{name}` refers to itself: {chain}")]
    #[diagnostic(code(sprs::E0107), help("break the cycle by giving one of these a value that does not refer back"))]
    ItemCycle {
        name: String,
        chain: String,
        #[label("this reference closes the cycle")]
        span: SourceSpan,
    },

    #[error("field `{field}` depends on itself: {chain}")]
    #[diagnostic(code(sprs::E0108), help("`self.x` reads the final value of field `x`; give one field of the cycle a value that does not read the others"))]
    FieldCycle {
        field: String,
        chain: String,
        #[label("this reference is part of the cycle")]
        span: SourceSpan,
    },

    #[error("`self` can only be used inside a record")]
    #[diagnostic(code(sprs::E0109), help("`self.field` refers to a sibling field of the record being defined"))]
    SelfOutsideRecord {
        #[label("not inside a record")]
        span: SourceSpan,
    },

    #[error("sweep axis `{path}` is not a field of a train")]
    #[diagnostic(code(sprs::E0110))]
    UnknownAxisPath {
        path: String,
        #[label("no such field")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` is not an observable or a config path")]
    #[diagnostic(code(sprs::E0111))]
    UnknownObservable {
        name: String,
        #[label("unknown here")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("field `{field}` is set more than once")]
    #[diagnostic(code(sprs::E0112), help("remove one of the two"))]
    DuplicateField {
        field: String,
        #[label("set again here")]
        span: SourceSpan,
        #[label("first set here")]
        first: SourceSpan,
    },

    #[error("cannot import `{path}`: {reason}")]
    #[diagnostic(code(sprs::E0114))]
    UseRefused {
        path: String,
        reason: String,
        #[label("not importable")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{path}` is outside the project")]
    #[diagnostic(code(sprs::E0115))]
    OutsideProject {
        path: String,
        #[label("outside the project root")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("references nest more than {max} levels deep")]
    #[diagnostic(code(sprs::E0113), help("an item that names an item that names an item ... this deep is almost certainly generated; flatten the chain"))]
    TooDeep {
        max: usize,
        #[label("reached from here")]
        span: SourceSpan,
    },

    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(sprs::E0201))]
    WrongType {
        expected: String,
        found: String,
        #[label("expected {expected}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("cannot {verb} {lhs} and {rhs}")]
    #[diagnostic(
        code(sprs::E0202),
        help("both sides of `+`, `-` and comparisons must have the same unit; `*` and `/` combine units")
    )]
    UnitMismatch {
        verb: &'static str,
        lhs: String,
        rhs: String,
        #[label("{lhs} {op} {rhs}")]
        span: SourceSpan,
        op: &'static str,
    },

    #[error("`{field}` expects {expected}, found {found}")]
    #[diagnostic(code(sprs::E0203))]
    FieldUnit {
        field: String,
        expected: String,
        found: String,
        #[label("{found}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{field}` must be {range}, found {value}")]
    #[diagnostic(code(sprs::E0204))]
    OutOfRange {
        field: String,
        range: String,
        value: String,
        #[label("out of range")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("`{field}` must be a whole number, found {value}")]
    #[diagnostic(code(sprs::E0205))]
    NotWhole {
        field: String,
        value: String,
        #[label("not a whole number")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("missing field `{field}` in {kind}")]
    #[diagnostic(code(sprs::E0206))]
    MissingField {
        field: String,
        kind: String,
        #[label("`{field}` is required here")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("{what}")]
    #[diagnostic(code(sprs::E0207))]
    BadArithmetic {
        what: String,
        #[label("here")]
        span: SourceSpan,
    },

    #[error("{message}")]
    #[diagnostic(code(sprs::E0208))]
    BadCall {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("file `{path}` does not exist")]
    #[diagnostic(code(sprs::E0209))]
    FileNotFound {
        path: String,
        #[label("no such file")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(
        code(sprs::E0213),
        help("name a regular file that you can read: sprs does not read folders, devices or pipes")
    )]
    Unreadable {
        path: String,
        reason: String,
        #[label("cannot be read")]
        span: SourceSpan,
    },

    #[error("{what} has {count} elements, more than the {max} a value may have")]
    #[diagnostic(
        code(sprs::E0214),
        help("a value this large is almost always a typo (a grid step, a nested list); shrink it")
    )]
    TooManyElements {
        what: String,
        count: String,
        max: u64,
        #[label("too large")]
        span: SourceSpan,
    },

    #[error("`{sweep}` has {count} trials, more than the limit of {max}")]
    #[diagnostic(code(sprs::E0215))]
    TooManyTrials {
        sweep: String,
        count: String,
        max: u64,
        #[label("{count} trials")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("`{fit}` has a start grid of {count} points, more than the limit of {max}")]
    #[diagnostic(code(sprs::E0216))]
    TooManyStarts {
        fit: String,
        count: String,
        max: u64,
        #[label("the product of these grids")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("each token of this generated corpus takes about {draws} random draws, more than the {max} allowed")]
    #[diagnostic(code(sprs::E0218))]
    CostlyGeneration {
        draws: String,
        max: String,
        #[label("too many successors to draw")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("internal error: {what}")]
    #[diagnostic(
        code(sprs::E0219),
        help("this is a bug in sprs, not in the file: please report it with the file that shows it")
    )]
    Internal {
        what: String,
        #[label("while checking this")]
        span: SourceSpan,
    },

    #[error("{message}")]
    #[diagnostic(code(sprs::E0217))]
    DataMismatch {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("{message}")]
    #[diagnostic(
        code(sprs::E0210),
        help("write a fraction qualified by `of steps`, `of tokens` or `of compute`, as in `25% of compute`")
    )]
    BadQualifier {
        message: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
    },

    #[error("axis sets {expected} fields but this value has {found}")]
    #[diagnostic(code(sprs::E0211), help("each value of a tuple axis is a tuple with one element per path"))]
    AxisArity {
        expected: usize,
        found: usize,
        #[label("expected a tuple of {expected}")]
        span: SourceSpan,
    },

    #[error("sweep axis has no values")]
    #[diagnostic(
        code(sprs::E0212),
        help("an empty axis makes the sweep empty; give it at least one value or remove it")
    )]
    EmptyAxis {
        #[label("no values")]
        span: SourceSpan,
    },

    #[error("`heads` ({heads}) does not divide `width` ({width})")]
    #[diagnostic(code(sprs::E0301))]
    HeadsDivide {
        heads: u64,
        width: u64,
        #[label("{heads} heads")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("rotary positions need an even number of dimensions per head; `width / heads` is {head_dim}")]
    #[diagnostic(code(sprs::E0313))]
    OddHeadDim {
        head_dim: u64,
        heads: u64,
        #[label("{heads} heads of {head_dim}")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    #[error("pruning ends before it starts")]
    #[diagnostic(code(sprs::E0302), help("`end` must be at or after `start`"))]
    ScheduleOrder {
        #[label("ends here")]
        span: SourceSpan,
        #[label("starts here")]
        start: Option<SourceSpan>,
    },

    #[error("sparsity {sparsity} needs a pruning method, but `method` is `none`")]
    #[diagnostic(code(sprs::E0303), help("set `method = magnitude` (or `random`), or set `sparsity = 0%`"))]
    SparsityWithoutMethod {
        sparsity: String,
        #[label("nothing prunes to this")]
        span: SourceSpan,
    },

    #[error("the law uses `{name}`, which is neither an observable nor a declared parameter")]
    #[diagnostic(code(sprs::E0501))]
    LawUnknownName {
        name: String,
        #[label("not an observable or a parameter")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    #[error("{message}")]
    #[diagnostic(
        code(sprs::E0502),
        help("a law is arithmetic (`+ - * / ^`) over plain numbers, observables, config paths and parameters, with `exp`, `log`, `sqrt`, `min` and `max`")
    )]
    NotALaw {
        message: String,
        #[label("not part of a law")]
        span: SourceSpan,
    },

    #[error("unused {kind} `{name}`")]
    #[diagnostic(code(sprs::W0001), severity(Warning), help("remove it, or prefix its name with `_` to keep it"))]
    UnusedItem {
        kind: &'static str,
        name: String,
        #[label("never used")]
        span: SourceSpan,
    },

    #[error("planned without the data files that are not here ({count}): {files}")]
    #[diagnostic(
        code(sprs::W0007),
        severity(Warning),
        help("what needs their contents (their size: W0005 and E0311) is not checked; `sprs check` and `sprs run` need them")
    )]
    PlannedWithoutData {
        count: usize,
        files: String,
        #[label("not here")]
        span: SourceSpan,
    },

    #[error("unused import `{name}`")]
    #[diagnostic(code(sprs::W0002), severity(Warning), help("remove it"))]
    UnusedImport {
        name: String,
        #[label("never used")]
        span: SourceSpan,
    },

    #[error("trial `{name}` is the same as {other}")]
    #[diagnostic(
        code(sprs::W0003),
        severity(Warning),
        help("two trials with the same resolved configuration are run once")
    )]
    DuplicateTrial {
        name: String,
        other: String,
        #[label("duplicates an earlier trial")]
        span: SourceSpan,
    },

    #[error("parameter `{name}` is not used by the law")]
    #[diagnostic(code(sprs::W0004), severity(Warning), help("remove it from `params`, or use it in `law`"))]
    UnusedParam {
        name: String,
        #[label("declared here")]
        span: SourceSpan,
    },
}
