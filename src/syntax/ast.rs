//! The abstract syntax tree. It owns its strings and every node carries a span, so that later
//! phases (and plans that outlive the source buffer) never borrow from the source text.

use super::span::{Ident, Span};

/// One parsed `.sprs` file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub version: Option<Ident>,
    pub items: Vec<Item>,
}

/// A top-level item with its `///` docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub docs: Vec<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    Use(Use),
    Let { name: Ident, value: Expr },
    Record { kind: RecordKind, name: Ident, body: RecordBody },
    Sweep(Sweep),
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
    Data,
    Model,
    Schedule,
    Optimizer,
    Train,
}

impl RecordKind {
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
    Fields(Record),
    Expr(Expr),
}

/// `use ORIGIN::{names}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    pub origin: UseOrigin,
    pub names: Vec<UseName>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UseOrigin {
    /// `std::schedules`: the segments before the imported names.
    Module { segments: Vec<String>, span: Span },
    /// `"lib/common.sprs"`: a file relative to the importing file.
    File { path: String, span: Span },
}

impl UseOrigin {
    pub fn span(&self) -> Span {
        match self {
            UseOrigin::Module { span, .. } | UseOrigin::File { span, .. } => *span,
        }
    }
}

/// `name` or `name as alias`.
#[derive(Debug, Clone, PartialEq)]
pub struct UseName {
    pub name: Ident,
    pub alias: Option<Ident>,
}

impl UseName {
    /// The name this import binds in the importing file.
    pub fn local(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.name)
    }
}

/// `{ path = expr, ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `path = expr`, with the `///` docs written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub docs: Vec<String>,
    pub path: Path,
    pub value: Expr,
    pub span: Span,
}

/// A dotted field path such as `model.width`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.node.as_str()).collect();
        names.join(".")
    }
}

/// `sweep NAME = TRAIN { entries }`
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub name: Ident,
    pub base: Ident,
    pub entries: Vec<SweepEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SweepEntry {
    /// `path in [..]` or `(a, b) in [(..), (..)]`.
    Axis(Axis),
    /// `path = expr`
    Override(Field),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub paths: Vec<Path>,
    /// Written as a tuple of paths, so each value must be a tuple of the same length.
    pub tuple: bool,
    pub values: Expr,
    pub span: Span,
}

/// `fit NAME = LAW { fields }` or `fit NAME { fields }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub name: Ident,
    pub base: Option<Ident>,
    pub body: Record,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// A unit as written after a number or list: `tokens`, `tokens/param`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitAst {
    pub numerator: Ident,
    pub denominator: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number with its magnitude suffix and `%` already applied.
    Number {
        value: f64,
        percent: bool,
        unit: Option<UnitAst>,
    },
    /// `[a, b]`, optionally with a unit that applies to every element.
    List {
        items: Vec<Expr>,
        unit: Option<UnitAst>,
    },
    Tuple(Vec<Expr>),
    Str(String),
    Bool(bool),
    SelfRef,
    Name(String),
    Record(Record),
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `BASE { overrides }`
    Derive {
        base: Box<Expr>,
        record: Record,
    },
    /// `value of basis`, as in `25% of compute`.
    Of {
        value: Box<Expr>,
        basis: Ident,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `value where cond`
    Where {
        value: Box<Expr>,
        cond: Box<Expr>,
    },
}

/// A call argument: positional, or `name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
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
