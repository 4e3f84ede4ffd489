//! Units of measure: products of powers of `tokens`, `params`, `flops`, `steps`, `sequences`.

use std::fmt;

use crate::syntax::UNITS as BASES;

/// Integer exponents of the five base units; all zero is a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unit([i8; 5]);

impl Unit {
    pub const NONE: Unit = Unit([0; 5]);
    pub const TOKENS: Unit = Unit([1, 0, 0, 0, 0]);
    pub const PARAMS: Unit = Unit([0, 1, 0, 0, 0]);
    pub const FLOPS: Unit = Unit([0, 0, 1, 0, 0]);
    pub const STEPS: Unit = Unit([0, 0, 0, 1, 0]);
    pub const SEQUENCES: Unit = Unit([0, 0, 0, 0, 1]);
    pub const TOKENS_PER_PARAM: Unit = Unit([1, -1, 0, 0, 0]);

    /// A unit word as the grammar admits it (`tokens`, `token`, `FLOPs`, ...).
    pub fn word(word: &str) -> Option<Unit> {
        let lower = word.to_ascii_lowercase();
        let index = BASES.iter().position(|(plural, singular)| lower == *plural || lower == *singular)?;
        let mut exps = [0; 5];
        exps[index] = 1;
        Some(Unit(exps))
    }

    pub fn is_none(self) -> bool {
        self == Unit::NONE
    }

    pub fn times(self, other: Unit) -> Option<Unit> {
        self.zip(other, |a, b| a.checked_add(b))
    }

    pub fn per(self, other: Unit) -> Option<Unit> {
        self.zip(other, |a, b| a.checked_sub(b))
    }

    /// The unit raised to an integer power, if the exponents stay small.
    pub fn pow(self, n: i32) -> Option<Unit> {
        let mut out = [0i8; 5];
        for (o, e) in out.iter_mut().zip(self.0) {
            *o = i8::try_from(i32::from(e).checked_mul(n)?).ok()?;
        }
        Some(Unit(out))
    }

    fn zip(self, other: Unit, f: impl Fn(i8, i8) -> Option<i8>) -> Option<Unit> {
        let mut out = [0i8; 5];
        for ((o, a), b) in out.iter_mut().zip(self.0).zip(other.0) {
            *o = f(a, b)?;
        }
        Some(Unit(out))
    }
}

impl fmt::Display for Unit {
    /// `tokens`, `tokens/param`, `tokens*steps`, `1/step`; a plain number prints as `a plain number`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("a plain number");
        }
        let part = |positive: bool, singular: bool| {
            let words: Vec<String> = BASES
                .iter()
                .zip(self.0)
                .filter(|(_, e)| if positive { *e > 0 } else { *e < 0 })
                .map(|((plural, single), e)| {
                    let word = if singular { single } else { plural };
                    match e.abs() {
                        1 => word.to_string(),
                        n => format!("{word}^{n}"),
                    }
                })
                .collect();
            words.join("*")
        };
        let num = part(true, false);
        let den = part(false, true);
        match (num.is_empty(), den.is_empty()) {
            (_, true) => f.write_str(&num),
            (true, false) => write!(f, "1/{den}"),
            (false, false) => write!(f, "{num}/{den}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_ratios() {
        assert_eq!(Unit::word("FLOPs"), Some(Unit::FLOPS));
        assert_eq!(Unit::word("param"), Some(Unit::PARAMS));
        assert_eq!(Unit::TOKENS.per(Unit::PARAMS), Some(Unit::TOKENS_PER_PARAM));
        assert_eq!(Unit::TOKENS_PER_PARAM.to_string(), "tokens/param");
        assert_eq!(Unit::NONE.per(Unit::STEPS).unwrap().to_string(), "1/step");
        assert_eq!(Unit::TOKENS.pow(2).unwrap().to_string(), "tokens^2");
        assert_eq!(Unit::TOKENS_PER_PARAM.times(Unit::PARAMS), Some(Unit::TOKENS));
    }
}
