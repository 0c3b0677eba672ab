//! What one expectation checks, compiled: the record-level rules (checked
//! on every valid event as it is validated) and the checkpoint-level ones
//! (over a checkpoint's events), with Great Expectations' semantics:
//! a map rule skips nulls (except `not_be_null`, for which a null is the
//! unexpected value), bounds are inclusive unless strict, a regex matches
//! anywhere in the value (Python's `re.search`), and a pair rule ignores a
//! row by its `ignore_row_if`, counting a row with one null as unexpected
//! otherwise (as GE's pandas engine does).

use std::cmp::Ordering;

use regex::Regex;

use super::column::{Column, Value};

/// A literal of a suite: a number, a string or a boolean.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A number.
    Number(f64),
    /// A string.
    Text(Box<str>),
    /// A boolean.
    Bool(bool),
}

impl Literal {
    /// How `value` compares with this literal, when they are of one kind.
    fn cmp_value(&self, value: &Value<'_>) -> Option<Ordering> {
        match (value, self) {
            (Value::Number(v), Literal::Number(l)) => v.partial_cmp(l),
            (Value::Text(v), Literal::Text(l)) => Some(v.as_ref().cmp(l.as_ref())),
            (Value::Bool(v), Literal::Bool(l)) => Some(v.cmp(l)),
            _ => None,
        }
    }
}

/// One side of a range.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The bound.
    pub value: Literal,
    /// Whether the bound itself is outside (`strict_min` / `strict_max`).
    pub strict: bool,
}

/// Which rows of a pair rule are left out (GE's `ignore_row_if`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreRow {
    /// Rows where both values are null (GE's default).
    BothMissing,
    /// Rows where either value is null.
    EitherMissing,
    /// No row.
    Neither,
}

/// A rule checked on each record.
#[derive(Clone, Debug)]
pub enum RecordRule {
    /// `expect_column_values_to_be_between`.
    Between {
        /// The column.
        column: Column,
        /// Lower bound, if any.
        min: Option<Bound>,
        /// Upper bound, if any.
        max: Option<Bound>,
    },
    /// `expect_column_values_to_not_be_null`.
    NotNull {
        /// The column.
        column: Column,
    },
    /// `expect_column_values_to_be_in_set` (`negated`: `…_not_be_in_set`).
    InSet {
        /// The column.
        column: Column,
        /// The values.
        set: Vec<Literal>,
        /// Whether the values are the unexpected ones.
        negated: bool,
    },
    /// `expect_column_values_to_match_regex`.
    Regex {
        /// The column.
        column: Column,
        /// The pattern, matched anywhere in the value.
        regex: Regex,
    },
    /// `expect_column_pair_values_a_to_be_greater_than_b`.
    Greater {
        /// Column A.
        a: Column,
        /// Column B.
        b: Column,
        /// `A >= B` instead of `A > B`.
        or_equal: bool,
        /// Rows left out.
        ignore: IgnoreRow,
    },
}

/// How one record fared against one record rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Outside the rule's domain (another event type, or a pair row its
    /// `ignore_row_if` leaves out).
    Skipped,
    /// In the domain with a null value, which a map rule does not check.
    Missing,
    /// As expected.
    Expected,
    /// Not as expected.
    Unexpected,
}

impl Outcome {
    fn of(expected: bool) -> Outcome {
        if expected {
            Outcome::Expected
        } else {
            Outcome::Unexpected
        }
    }
}

impl RecordRule {
    /// The columns it reads.
    pub fn columns(&self) -> Vec<Column> {
        match self {
            RecordRule::Between { column, .. }
            | RecordRule::NotNull { column }
            | RecordRule::InSet { column, .. }
            | RecordRule::Regex { column, .. } => vec![*column],
            RecordRule::Greater { a, b, .. } => vec![*a, *b],
        }
    }

    /// Checks one event.
    pub fn check(&self, e: &crate::event::Event) -> Outcome {
        match self {
            RecordRule::NotNull { column } => Outcome::of(column.value(e) != Value::Null),
            RecordRule::Between { column, min, max } => match column.value(e) {
                Value::Null => Outcome::Missing,
                v => Outcome::of(within(&v, min.as_ref(), max.as_ref())),
            },
            RecordRule::InSet { column, set, negated } => match column.value(e) {
                Value::Null => Outcome::Missing,
                v => {
                    let found = set.iter().any(|l| l.cmp_value(&v) == Some(Ordering::Equal));
                    Outcome::of(found != *negated)
                }
            },
            RecordRule::Regex { column, regex } => match column.value(e) {
                Value::Null => Outcome::Missing,
                Value::Text(t) => Outcome::of(regex.is_match(&t)),
                // Compiling allows text columns only.
                _ => Outcome::Unexpected,
            },
            RecordRule::Greater {
                a,
                b,
                or_equal,
                ignore,
            } => {
                let (va, vb) = (a.value(e), b.value(e));
                let nulls = usize::from(va == Value::Null) + usize::from(vb == Value::Null);
                match (ignore, nulls) {
                    (IgnoreRow::BothMissing, 2) | (IgnoreRow::EitherMissing, 1..) => Outcome::Skipped,
                    (_, 1..) => Outcome::Unexpected,
                    _ => Outcome::of(greater(&va, &vb, *or_equal)),
                }
            }
        }
    }
}

/// Whether `v` lies within the bounds.
fn within(v: &Value<'_>, min: Option<&Bound>, max: Option<&Bound>) -> bool {
    let above = min.is_none_or(|b| match b.value.cmp_value(v) {
        Some(Ordering::Greater) => true,
        Some(Ordering::Equal) => !b.strict,
        _ => false,
    });
    let below = max.is_none_or(|b| match b.value.cmp_value(v) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => !b.strict,
        _ => false,
    });
    above && below
}

/// `a > b` (or `>=`), for values of one kind.
fn greater(a: &Value<'_>, b: &Value<'_>, or_equal: bool) -> bool {
    let order = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    matches!(order, Some(Ordering::Greater)) || (or_equal && order == Some(Ordering::Equal))
}

/// A rule checked on a checkpoint's records as a whole (warn only).
#[derive(Clone, Debug)]
pub enum CheckpointRule {
    /// `expect_column_mean_to_be_between`.
    Mean {
        /// The column.
        column: Column,
        /// Lower bound, if any.
        min: Option<Bound>,
        /// Upper bound, if any.
        max: Option<Bound>,
    },
    /// `expect_column_proportion_of_non_null_values_to_be_between`.
    NonNullShare {
        /// The column.
        column: Column,
        /// Lower bound, if any.
        min: Option<Bound>,
        /// Upper bound, if any.
        max: Option<Bound>,
    },
    /// `expect_table_row_count_to_be_between`.
    RowCount {
        /// Lower bound, if any.
        min: Option<Bound>,
        /// Upper bound, if any.
        max: Option<Bound>,
    },
}

impl CheckpointRule {
    /// What it reads of a record in its domain: none for a null; else the
    /// column's value for a mean (a number column), and 0 for the others
    /// (only the count matters).
    pub fn value(&self, e: &crate::event::Event) -> Option<f64> {
        match self {
            CheckpointRule::Mean { column, .. } => match column.value(e) {
                Value::Number(v) => Some(v),
                _ => None,
            },
            CheckpointRule::NonNullShare { column, .. } => (column.value(e) != Value::Null).then_some(0.0),
            CheckpointRule::RowCount { .. } => Some(0.0),
        }
    }

    /// Whether `observed` (none: no value, as the mean of no number) is
    /// within the rule's bounds; GE fails a missing observation.
    pub fn holds(&self, observed: Option<f64>) -> bool {
        let (min, max) = match self {
            CheckpointRule::Mean { min, max, .. }
            | CheckpointRule::NonNullShare { min, max, .. }
            | CheckpointRule::RowCount { min, max } => (min, max),
        };
        observed.is_some_and(|v| !v.is_nan() && within(&Value::Number(v), min.as_ref(), max.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::position;

    fn bound(v: f64, strict: bool) -> Option<Bound> {
        Some(Bound {
            value: Literal::Number(v),
            strict,
        })
    }

    #[test]
    fn between_is_inclusive_unless_strict_and_skips_nulls() {
        let e = position(44, 3, false, 0, 200);
        let rule = |min, max| RecordRule::Between {
            column: Column::SpeedKph,
            min,
            max,
        };
        assert_eq!(rule(bound(200.0, false), None).check(&e), Outcome::Expected);
        assert_eq!(rule(bound(200.0, true), None).check(&e), Outcome::Unexpected);
        assert_eq!(rule(None, bound(200.0, false)).check(&e), Outcome::Expected);
        assert_eq!(rule(None, bound(199.9, false)).check(&e), Outcome::Unexpected);
        let other = RecordRule::Between {
            column: Column::ThrottlePct,
            min: bound(0.0, false),
            max: None,
        };
        assert_eq!(other.check(&e), Outcome::Missing);
        let not_null = RecordRule::NotNull {
            column: Column::ThrottlePct,
        };
        assert_eq!(not_null.check(&e), Outcome::Unexpected);
    }

    #[test]
    fn sets_regexes_and_pairs() {
        let e = position(44, 3, false, 0, 200);
        let set = |negated| RecordRule::InSet {
            column: Column::CarNumber,
            set: vec![Literal::Number(1.0), Literal::Number(44.0)],
            negated,
        };
        assert_eq!(set(false).check(&e), Outcome::Expected);
        assert_eq!(set(true).check(&e), Outcome::Unexpected);
        let regex = |p: &str| RecordRule::Regex {
            column: Column::SessionId,
            regex: Regex::new(p).expect("regex"),
        };
        assert_eq!(
            regex("test").check(&e),
            Outcome::Expected,
            "anywhere in the value"
        );
        assert_eq!(regex("^test$").check(&e), Outcome::Unexpected);
        let pair = |a, b, or_equal, ignore| RecordRule::Greater {
            a,
            b,
            or_equal,
            ignore,
        };
        let both = IgnoreRow::BothMissing;
        assert_eq!(
            pair(Column::SpeedKph, Column::Lap, false, both).check(&e),
            Outcome::Expected
        );
        assert_eq!(
            pair(Column::Lap, Column::SpeedKph, false, both).check(&e),
            Outcome::Unexpected
        );
        assert_eq!(
            pair(Column::Lap, Column::Lap, true, both).check(&e),
            Outcome::Expected
        );
        assert_eq!(
            pair(Column::Lap, Column::Lap, false, both).check(&e),
            Outcome::Unexpected
        );
        // One null: unexpected unless ignored; both null: ignored by default.
        assert_eq!(
            pair(Column::Rpm, Column::Lap, false, both).check(&e),
            Outcome::Unexpected
        );
        let either = IgnoreRow::EitherMissing;
        assert_eq!(
            pair(Column::Rpm, Column::Lap, false, either).check(&e),
            Outcome::Skipped
        );
        assert_eq!(
            pair(Column::Rpm, Column::GLat, false, both).check(&e),
            Outcome::Skipped
        );
        let neither = IgnoreRow::Neither;
        assert_eq!(
            pair(Column::Rpm, Column::GLat, false, neither).check(&e),
            Outcome::Unexpected
        );
    }

    #[test]
    fn a_checkpoint_rule_fails_without_an_observation() {
        let rule = CheckpointRule::RowCount {
            min: bound(1.0, false),
            max: None,
        };
        assert!(rule.holds(Some(1.0)));
        assert!(!rule.holds(Some(0.0)));
        assert!(!rule.holds(None));
        assert!(!rule.holds(Some(f64::NAN)));
    }
}
