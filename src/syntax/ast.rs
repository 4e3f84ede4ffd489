//! The abstract syntax tree. It owns its strings and every node carries a span, so that later
//! phases (and plans that outlive the source buffer) never borrow from the source text.

use super::span::{Ident, Span};

/// One parsed `.sprs` file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// `sprs 1` at the top, if written.
    pub version: Option<Ident>,
    /// The items, in file order.
    pub items: Vec<Item>,
}

/// A top-level item with its `///` docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The `///` lines above the item, without the slashes.
    pub docs: Vec<String>,
    /// What the item is.
    pub kind: ItemKind,
    /// The item's text, docs excluded.
    pub span: Span,
}

/// The forms of a top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// `use std::schedules::{gmp}` or `use "lib.sprs"::{base}`.
    Use(Use),
    /// `let NAME = EXPR`.
    Let {
        /// The name bound.
        name: Ident,
        /// Its value.
        value: Expr,
    },
    /// `KIND NAME { fields }` or `KIND NAME = EXPR`.
    Record {
        /// `data`, `model`, `schedule`, `optimizer` or `train`.
        kind: RecordKind,
        /// The name bound.
        name: Ident,
        /// `{ fields }` or `= EXPR`.
        body: RecordBody,
    },
    /// `sweep NAME = TRAIN { .. }`.
    Sweep(Sweep),
    /// `fit NAME = LAW { .. }`.
    Fit(Fit),
}

impl Item {
    /// The name the item defines, if it defines exactly one (`use` items may define several).
    pub fn name(&self) -> Option<&Ident> {
        match &self.kind {
            ItemKind::Use(_) => None,
            ItemKind::Let { name, .. } | ItemKind::Record { name, .. } => Some(name),
            ItemKind::Sweep(sweep) => Some(&sweep.name),
            ItemKind::Fit(fit) => Some(&fit.name),
        }
    }
}

/// The five record item kinds: `data`, `model`, `schedule`, `optimizer`, `train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `data`.
    Data,
    /// `model`.
    Model,
    /// `schedule`.
    Schedule,
    /// `optimizer`.
    Optimizer,
    /// `train`.
    Train,
}

impl RecordKind {
    /// The keyword as written.
    pub fn keyword(self) -> &'static str {
        match self {
            RecordKind::Data => "data",
            RecordKind::Model => "model",
            RecordKind::Schedule => "schedule",
            RecordKind::Optimizer => "optimizer",
            RecordKind::Train => "train",
        }
    }
}

/// `KIND NAME { fields }` or `KIND NAME = EXPR`.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordBody {
    /// `{ fields }`.
    Fields(Record),
    /// `= EXPR`, such as `= llama { width = 64 }`.
    Expr(Expr),
}

/// `use ORIGIN::{names}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    /// Where the names come from.
    pub origin: UseOrigin,
    /// The names imported.
    pub names: Vec<UseName>,
}

/// Where a `use` imports from.
#[derive(Debug, Clone, PartialEq)]
pub enum UseOrigin {
    /// `std::schedules`: the segments before the imported names.
    Module {
        /// The path's segments, `std` first.
        segments: Vec<String>,
        /// Where the path is written.
        span: Span,
    },
    /// `"lib/common.sprs"`: a file relative to the importing file.
    File {
        /// The path as written.
        path: String,
        /// Where the string is written.
        span: Span,
    },
}

impl UseOrigin {
    /// Where the origin is written.
    pub fn span(&self) -> Span {
        match self {
            UseOrigin::Module { span, .. } | UseOrigin::File { span, .. } => *span,
        }
    }
}

/// `name` or `name as alias`.
#[derive(Debug, Clone, PartialEq)]
pub struct UseName {
    /// The name in the imported file.
    pub name: Ident,
    /// The name it is bound to here, if renamed.
    pub alias: Option<Ident>,
}

impl UseName {
    /// The name this import binds in the importing file.
    pub fn local(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.name)
    }

    /// From the name to the alias, if any.
    pub fn span(&self) -> Span {
        Span::new(self.name.span.start, self.local().span.end)
    }
}

/// `{ path = expr, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// From `{` to `}`.
    pub span: Span,
}

/// `path = expr`, with the `///` docs written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The `///` lines above the field, without the slashes.
    pub docs: Vec<String>,
    /// The field (or nested field) set.
    pub path: Path,
    /// Its value.
    pub value: Expr,
    /// From the path to the end of the value.
    pub span: Span,
}

/// A dotted field path such as `model.width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The names, outermost first.
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The path as written: `model.width`.
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.node.as_str()).collect();
        names.join(".")
    }
}

/// `sweep NAME = TRAIN { entries }`
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The sweep's name.
    pub name: Ident,
    /// The train it varies.
    pub base: Ident,
    /// Its axes and overrides, in order.
    pub entries: Vec<SweepEntry>,
    /// The whole sweep.
    pub span: Span,
}

/// One line of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepEntry {
    /// `path in [..]` or `(a, b) in [(..), (..)]`.
    Axis(Axis),
    /// `path = expr`
    Override(Field),
}

/// A sweep axis: the paths it sets and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The paths set: one, or several zipped as a tuple.
    pub paths: Vec<Path>,
    /// Written as a tuple of paths, so each value must be a tuple of the same length.
    pub tuple: bool,
    /// The values, a list.
    pub values: Expr,
    /// The whole axis.
    pub span: Span,
}

/// `fit NAME = LAW { fields }` or `fit NAME { fields }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The fit's name.
    pub name: Ident,
    /// The law or fit it derives from, if any.
    pub base: Option<Ident>,
    /// Its fields.
    pub body: Record,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

impl Expr {
    /// The expressions directly inside this one, in file order (a record's field values, a
    /// call's arguments).
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::SelfRef | ExprKind::Name(_) => {
                Vec::new()
            }
            ExprKind::List { items, .. } | ExprKind::Tuple(items) => items.iter().collect(),
            ExprKind::Record(record) => record.fields.iter().map(|f| &f.value).collect(),
            ExprKind::Field { base, .. } => vec![base],
            ExprKind::Call { callee, args } => {
                std::iter::once(&**callee).chain(args.iter().map(|a| &a.value)).collect()
            }
            ExprKind::Derive { base, record } => {
                std::iter::once(&**base).chain(record.fields.iter().map(|f| &f.value)).collect()
            }
            ExprKind::Of { value, .. } => vec![value],
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Where { value, cond } => vec![value, cond],
        }
    }

    /// Whether `self` appears in it.
    pub fn uses_self(&self) -> bool {
        matches!(self.kind, ExprKind::SelfRef) || self.children().iter().any(|c| c.uses_self())
    }
}

/// A unit as written after a number or list: `tokens`, `tokens/param`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitAst {
    /// `tokens` in `tokens/param`.
    pub numerator: Ident,
    /// `param` in `tokens/param`.
    pub denominator: Option<Ident>,
    /// The whole unit.
    pub span: Span,
}

/// The forms of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number with its magnitude suffix and `%` already applied.
    Number {
        /// The value, scaled (`10M` is 1e7, `25%` is 0.25).
        value: f64,
        /// Whether it was written with `%`.
        percent: bool,
        /// The unit written after it.
        unit: Option<UnitAst>,
    },
    /// `[a, b]`, optionally with a unit that applies to every element.
    List {
        /// The elements.
        items: Vec<Expr>,
        /// The unit written after the list.
        unit: Option<UnitAst>,
    },
    /// `(a, b)`.
    Tuple(Vec<Expr>),
    /// `"text"`, unescaped.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// `self`: the record being defined.
    SelfRef,
    /// A name: an item, a builtin, an observable or a word.
    Name(String),
    /// `{ fields }`.
    Record(Record),
    /// `base.name`.
    Field {
        /// The record.
        base: Box<Expr>,
        /// The field.
        name: Ident,
    },
    /// `callee(args)`.
    Call {
        /// The function.
        callee: Box<Expr>,
        /// The arguments, in order.
        args: Vec<Arg>,
    },
    /// `BASE { overrides }`
    Derive {
        /// The record derived from.
        base: Box<Expr>,
        /// The fields set.
        record: Record,
    },
    /// `value of basis`, as in `25% of compute`.
    Of {
        /// The fraction.
        value: Box<Expr>,
        /// `steps`, `tokens` or `compute`.
        basis: Ident,
    },
    /// `-x` or `not x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// What it applies to.
        operand: Box<Expr>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left side.
        lhs: Box<Expr>,
        /// The right side.
        rhs: Box<Expr>,
    },
    /// `value where cond`
    Where {
        /// The sweep, train or source filtered.
        value: Box<Expr>,
        /// The condition.
        cond: Box<Expr>,
    },
}

/// A call argument: positional, or `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name, for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`.
    Neg,
    /// `not`.
    Not,
}

/// An infix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `^`.
    Pow,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `and`.
    And,
    /// `or`.
    Or,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}
