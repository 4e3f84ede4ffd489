//! Arithmetic and comparisons on values, with units checked.

use super::units::Unit;
use super::value::{Found, Loc, Num, Val, V};
use super::{CheckError, Checker};
use crate::syntax::ast::{self, BinaryOp};
use crate::syntax::FileId;

impl Checker {
    pub(super) fn binary(&mut self, op: BinaryOp, lhs: Val, rhs: Val, at: Loc) -> Option<Val> {
        let v = match (op, &lhs.v, &rhs.v) {
            (BinaryOp::And | BinaryOp::Or, V::Bool(a), V::Bool(b)) => {
                V::Bool(if op == BinaryOp::And { *a && *b } else { *a || *b })
            }
            (BinaryOp::Eq | BinaryOp::Ne, V::Str(a), V::Str(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (BinaryOp::Eq | BinaryOp::Ne, V::Word(a), V::Word(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (BinaryOp::Eq | BinaryOp::Ne, V::Bool(a), V::Bool(b)) => V::Bool((a == b) == (op == BinaryOp::Eq)),
            (_, V::Num(a), V::Num(b)) => return self.numeric(op, *a, *b, at),
            _ => {
                let expected = match op {
                    BinaryOp::And | BinaryOp::Or => "booleans",
                    BinaryOp::Eq | BinaryOp::Ne => "two values of the same type",
                    _ => "numbers",
                };
                let help = Some(format!("`{}` takes {expected}", op.symbol()));
                return self.mismatch(at, expected, &format!("{} and {}", lhs.v.found(), rhs.v.found()), help);
            }
        };
        Some(Val { v, at })
    }

    fn numeric(&mut self, op: BinaryOp, a: Num, b: Num, at: Loc) -> Option<Val> {
        if a.of.is_some() || b.of.is_some() {
            let message = "a qualified fraction such as `25% of compute` cannot be used in arithmetic".to_string();
            self.emit(at, |span| CheckError::BadQualifier {
                message,
                span,
                label: "qualified fraction in arithmetic".into(),
            });
            return None;
        }
        let mismatch = |verb: &'static str| CheckError::UnitMismatch {
            verb,
            lhs: a.unit.to_string(),
            rhs: b.unit.to_string(),
            span: at.span.into(),
            op: op.symbol(),
        };
        let same_unit = a.unit == b.unit;
        let (value, unit) = match op {
            BinaryOp::Add | BinaryOp::Sub if !same_unit => {
                let verb = if op == BinaryOp::Add { "add" } else { "subtract" };
                self.emit(at, |_| mismatch(verb));
                return None;
            }
            BinaryOp::Add => (a.value + b.value, a.unit),
            BinaryOp::Sub => (a.value - b.value, a.unit),
            BinaryOp::Mul => (a.value * b.value, a.unit.times(b.unit)?),
            BinaryOp::Div => {
                if b.value == 0.0 {
                    self.emit(at, |span| CheckError::BadArithmetic { what: "division by zero".into(), span });
                    return None;
                }
                (a.value / b.value, a.unit.per(b.unit)?)
            }
            BinaryOp::Pow => {
                if !b.unit.is_none() {
                    return self.mismatch(at, "a plain exponent", &b.unit, None);
                }
                let unit = if a.unit.is_none() {
                    Unit::NONE
                } else if b.value.fract() == 0.0 && b.value.abs() <= 8.0 {
                    a.unit.pow(b.value as i32)?
                } else {
                    let help = Some("a quantity with a unit can only be raised to a whole power".to_string());
                    return self.mismatch(at, "a whole exponent", &crate::format::number(b.value), help);
                };
                (a.value.powf(b.value), unit)
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if !same_unit {
                    self.emit(at, |_| mismatch("compare"));
                    return None;
                }
                let result = match op {
                    BinaryOp::Eq => a.value == b.value,
                    BinaryOp::Ne => a.value != b.value,
                    BinaryOp::Lt => a.value < b.value,
                    BinaryOp::Le => a.value <= b.value,
                    BinaryOp::Gt => a.value > b.value,
                    _ => a.value >= b.value,
                };
                return Some(Val { v: V::Bool(result), at });
            }
            BinaryOp::And | BinaryOp::Or => {
                return self.mismatch(at, "booleans", "numbers", None);
            }
        };
        if !value.is_finite() {
            self.emit(at, |span| CheckError::BadArithmetic { what: "the result is not a finite number".into(), span });
            return None;
        }
        Some(Val { v: V::Num(Num { value, unit, of: None, percent: false }), at })
    }

    /// Applies a list's unit (`[10, 20] tokens/param`) to one element.
    pub(super) fn apply_unit(&mut self, value: Val, unit: &ast::UnitAst, file: FileId) -> Option<Val> {
        let numerator = Unit::word(&unit.numerator.node)?;
        let unit_value = match &unit.denominator {
            Some(den) => numerator.per(Unit::word(&den.node)?)?,
            None => numerator,
        };
        match value.v {
            V::Num(n) if super::builtins::is_plain(&n) => {
                Some(Val { v: V::Num(Num { unit: unit_value, ..n }), at: value.at })
            }
            other => {
                let help = Some(format!(
                    "the unit `{}` after the list applies to every element",
                    self.text(Loc { file, span: unit.span })
                ));
                self.mismatch(value.at, "a plain number", &other, help)
            }
        }
    }
}

pub(super) fn unit_of(unit: &ast::UnitAst) -> Option<Unit> {
    // The grammar admits only unit words, so both lookups succeed.
    let numerator = Unit::word(&unit.numerator.node)?;
    match &unit.denominator {
        Some(den) => numerator.per(Unit::word(&den.node)?),
        None => Some(numerator),
    }
}
