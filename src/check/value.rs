//! Values of the language. Records are lazy: each field is a definition that is evaluated on
//! first use with `self` bound to the record that holds it, which is what makes `self` late-bound
//! (deriving a record and overriding `width` changes every field that reads `self.width`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use super::builtins::Builtin;
use super::schema::Kind;
use super::units::Unit;
pub use crate::config::Basis;
use crate::syntax::ast::Expr;
pub use crate::syntax::Loc;
use crate::syntax::{FileId, Ident};

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub struct Val {
    pub v: V,
    pub at: Loc,
}

/// A number with its unit, and an `of` qualifier if it is a qualified fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num {
    pub value: f64,
    pub unit: Unit,
    pub of: Option<Basis>,
    /// Written with `%` (kept for display only).
    pub percent: bool,
}

impl Num {
    pub fn plain(value: f64) -> Num {
        Num { value, unit: Unit::NONE, of: None, percent: false }
    }
}

#[derive(Debug, Clone)]
pub enum V {
    Num(Num),
    Str(String),
    Bool(bool),
    /// An enum word such as `cosine` or `global`.
    Word(String),
    List(Items),
    Tuple(Items),
    Record(Rc<Obj>),
    /// A builtin function, before it is called.
    Builtin(Builtin),
    /// The result of calling a builtin that builds a value of a field's type:
    /// `text("a.txt")`, `huber(1e-3)`, `largest(C, 3)`, `csv(...)`.
    Call {
        name: Builtin,
        args: Vec<Val>,
        named: Vec<(String, Val)>,
    },
    /// An expression kept unevaluated: a law, a `where` condition, a derived CSV column.
    Expr(Rc<Expr>),
    /// `VALUE where COND`: trials or data rows filtered by a condition over observables.
    Filtered {
        base: Box<Val>,
        cond: Rc<Expr>,
    },
    /// A reference to a sweep (only meaningful as the data of a fit).
    Sweep(String),
}

/// What was found where something else was expected, for "expected X, found Y": a value, a
/// unit (a quantity in it), or words that already describe it.
pub trait Found {
    /// A short description: "a plain number", "the word `cubic`".
    fn found(&self) -> String;
}

impl<T: Found + ?Sized> Found for &T {
    fn found(&self) -> String {
        (**self).found()
    }
}

impl Found for str {
    fn found(&self) -> String {
        self.to_string()
    }
}

impl Found for String {
    fn found(&self) -> String {
        self.clone()
    }
}

impl Found for Unit {
    fn found(&self) -> String {
        format!("a quantity in {self}")
    }
}

impl Found for V {
    fn found(&self) -> String {
        match self {
            V::Num(n) if n.of.is_some() => "a qualified fraction".into(),
            V::Num(n) if n.unit.is_none() => "a plain number".into(),
            V::Num(n) => n.unit.found(),
            V::Str(_) => "a string".into(),
            V::Bool(_) => "a boolean".into(),
            V::Word(w) => format!("the word `{w}`"),
            V::List(_) => "a list".into(),
            V::Tuple(_) => "a tuple".into(),
            V::Record(obj) => match (obj.kind, &obj.class) {
                (Some(kind), Some(class)) => format!("{} `{class}`", kind.article()),
                (Some(kind), None) => kind.article(),
                (None, _) => "a record".into(),
            },
            V::Builtin(name) => format!("the function `{name}`"),
            V::Call { name, .. } => format!("`{name}(..)`"),
            V::Expr(_) => "an expression".into(),
            V::Filtered { .. } => "a filtered set".into(),
            V::Sweep(name) => format!("the sweep `{name}`"),
        }
    }
}

/// The most values a list or tuple may hold, counting the values of the lists and tuples nested
/// in it: a file of a few lines could otherwise build lists of lists of gigabytes.
pub const MAX_ELEMENTS: u64 = 100_000;

/// The elements of a list or tuple. Shared: a value named in many places is not copied. It knows
/// its weight (how many values it holds, nested ones included), so that a limit on it is checked
/// in constant time however the value was built.
#[derive(Debug, Clone)]
pub struct Items {
    vals: Rc<[Val]>,
    weight: u64,
}

impl Items {
    pub fn new(vals: Vec<Val>) -> Items {
        let weight = vals.iter().map(|v| v.v.weight()).fold(0u64, u64::saturating_add);
        Items { vals: vals.into(), weight }
    }

    /// The values held, nested ones included; a scalar or an empty list counts one.
    pub fn weight(&self) -> u64 {
        self.weight.max(1)
    }
}

impl std::ops::Deref for Items {
    type Target = [Val];

    fn deref(&self) -> &[Val] {
        &self.vals
    }
}

impl V {
    /// How many values this is (see [`Items::weight`]).
    pub fn weight(&self) -> u64 {
        match self {
            V::List(items) | V::Tuple(items) => items.weight(),
            _ => 1,
        }
    }
}

/// How a field of a record is defined.
#[derive(Debug, Clone)]
pub enum Def {
    /// An expression written in a file, evaluated with `self` bound to the holding record.
    Expr { expr: Rc<Expr>, file: FileId },
    /// A value computed elsewhere (a sweep axis value, evaluated once).
    Val(Val),
    /// A nested record with dotted overrides applied on top: `model.width = 96`.
    Patch { base: Box<Def>, patches: Vec<Patch> },
}

/// `a.b.c = def` applied to the record in field `a`: `path` is `[b, c]`.
#[derive(Debug, Clone)]
pub struct Patch {
    pub path: Vec<Ident>,
    pub def: Def,
    pub file: FileId,
}

/// One field of a record.
#[derive(Debug, Clone)]
pub struct Slot {
    pub name: String,
    pub def: Def,
    /// Where the field's name was written (for duplicate and unknown-field labels).
    pub at: Loc,
}

/// The state of a field during evaluation, for caching and cycle detection.
#[derive(Debug, Clone)]
pub enum Cached {
    InProgress,
    Done(Option<Val>),
}

/// A lazily evaluated record.
#[derive(Debug)]
pub struct Obj {
    pub kind: Option<Kind>,
    /// The named record it derives from, for messages (`llama`, `journey`).
    pub class: Option<String>,
    pub slots: Vec<Slot>,
    pub at: Loc,
    pub cache: RefCell<HashMap<String, Cached>>,
}

impl Obj {
    pub fn new(kind: Option<Kind>, class: Option<String>, slots: Vec<Slot>, at: Loc) -> Obj {
        Obj { kind, class, slots, at, cache: RefCell::new(HashMap::new()) }
    }

    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.percent && self.unit.is_none() {
            write!(f, "{}%", crate::format::number(self.value * 100.0))?;
        } else {
            f.write_str(&crate::format::number(self.value))?;
        }
        if !self.unit.is_none() {
            write!(f, " {}", self.unit)?;
        }
        if let Some(of) = self.of {
            let basis = match of {
                Basis::Steps => "steps",
                Basis::Tokens => "tokens",
                Basis::Compute => "compute",
            };
            write!(f, " of {basis}")?;
        }
        Ok(())
    }
}
