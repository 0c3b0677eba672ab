//! Reading an expectation suite: Great Expectations 1.x's JSON
//! (`{"name", "expectations": [{"type", "kwargs", "meta"}]}`) into compiled
//! [`Expectation`]s, each problem named by the expectation's index and type.
//!
//! racecast's own settings live in an expectation's `meta.racecast`:
//! `event_type` (the expectation applies to that event type's records
//! only), `action` (`quarantine`: a failing record is quarantined with
//! reason `expectation:<name>`; `warn`, the default: counted, kept) and
//! `name` (default `<column>:<type without "expect_">`). Arguments GE's
//! results depend on but racecast does not evaluate (`row_condition`) are
//! refused rather than ignored; `result_format`, `catch_exceptions`,
//! `severity` and descriptive keys are accepted and ignored.

use serde_json::{Map, Value};

use super::column::{Column, JOINED, Kind};
use super::rule::{Bound, CheckpointRule, IgnoreRow, Literal, RecordRule};
use super::{Action, Expectation, Rule, SuiteError};
use crate::event::EventType;

/// Keys an expectation may have (GE 1.x writes these).
const EXPECTATION_KEYS: [&str; 9] = [
    "type",
    "kwargs",
    "meta",
    "id",
    "severity",
    "notes",
    "description",
    "rendered_content",
    "expectation_context",
];
/// Keys a suite may have.
const SUITE_KEYS: [&str; 6] = ["name", "id", "expectations", "meta", "notes", "suite_parameters"];
/// Arguments every expectation takes and racecast ignores.
const IGNORED_KWARGS: [&str; 3] = ["result_format", "catch_exceptions", "include_config"];

/// The expectation types racecast evaluates, and their arguments.
const TYPES: [(&str, &[&str]); 9] = [
    (
        "expect_column_values_to_be_between",
        &[
            "column",
            "min_value",
            "max_value",
            "strict_min",
            "strict_max",
            "mostly",
        ],
    ),
    ("expect_column_values_to_not_be_null", &["column", "mostly"]),
    (
        "expect_column_values_to_be_in_set",
        &["column", "value_set", "mostly"],
    ),
    (
        "expect_column_values_to_not_be_in_set",
        &["column", "value_set", "mostly"],
    ),
    (
        "expect_column_values_to_match_regex",
        &["column", "regex", "mostly"],
    ),
    (
        "expect_column_pair_values_a_to_be_greater_than_b",
        &["column_A", "column_B", "or_equal", "ignore_row_if", "mostly"],
    ),
    (
        "expect_column_mean_to_be_between",
        &["column", "min_value", "max_value", "strict_min", "strict_max"],
    ),
    (
        "expect_column_proportion_of_non_null_values_to_be_between",
        &["column", "min_value", "max_value", "strict_min", "strict_max"],
    ),
    (
        "expect_table_row_count_to_be_between",
        &["min_value", "max_value", "strict_min", "strict_max"],
    ),
];

/// The names of the expectation types racecast evaluates.
pub fn supported_types() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(t, _)| *t)
}

/// Reads a suite's JSON.
pub fn parse(text: &str) -> Result<(String, Vec<Expectation>, String), SuiteError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SuiteError::Json(e.to_string()))?;
    let Value::Object(suite) = value else {
        return Err(SuiteError::Suite("a suite is a JSON object".into()));
    };
    if let Some(key) = suite.keys().find(|k| !SUITE_KEYS.contains(&k.as_str())) {
        return Err(SuiteError::Suite(format!(
            "unknown key `{key}` (a GE 1.x suite has {})",
            SUITE_KEYS.join(", ")
        )));
    }
    let name = match suite.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(SuiteError::Suite("`name` must be a non-empty string".into())),
    };
    let Some(Value::Array(list)) = suite.get("expectations") else {
        return Err(SuiteError::Suite("`expectations` must be a list".into()));
    };
    let mut out: Vec<Expectation> = Vec::with_capacity(list.len());
    for (index, value) in list.iter().enumerate() {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let fail = |problem: String| SuiteError::Expectation {
            index,
            kind: kind.clone(),
            problem,
        };
        let expectation = expectation(index, value).map_err(fail)?;
        if let Some(other) = out.iter().find(|o| o.name == expectation.name) {
            return Err(fail(format!(
                "its name `{}` is also expectation #{}'s: set meta.racecast.name on one of them",
                expectation.name, other.index
            )));
        }
        out.push(expectation);
    }
    let fingerprint = fingerprint(&Value::Array(list.clone()));
    Ok((name, out, fingerprint))
}

/// One expectation, or what is wrong with it.
fn expectation(index: usize, value: &Value) -> Result<Expectation, String> {
    let Value::Object(object) = value else {
        return Err("an expectation is a JSON object".into());
    };
    if object.contains_key("expectation_type") {
        return Err("`expectation_type` is GE 0.x's key: a GE 1.x suite names it `type`".into());
    }
    if let Some(key) = object.keys().find(|k| !EXPECTATION_KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key `{key}`"));
    }
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or("`type` must be a string")?;
    let Some((kind, allowed)) = TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(kind)) else {
        return Err(format!(
            "racecast does not evaluate this type; it evaluates {}",
            supported_types().collect::<Vec<_>>().join(", ")
        ));
    };
    let empty = Map::new();
    let kwargs = match object.get("kwargs") {
        None => &empty,
        Some(Value::Object(k)) => k,
        Some(_) => return Err("`kwargs` must be an object".into()),
    };
    for key in kwargs.keys() {
        if key == "row_condition" || key == "condition_parser" {
            return Err(format!(
                "`{key}` is not supported: scope an expectation to an event type with meta.racecast.event_type"
            ));
        }
        if !allowed.contains(&key.as_str()) && !IGNORED_KWARGS.contains(&key.as_str()) {
            return Err(format!(
                "unknown argument `{key}` (it takes {})",
                allowed.join(", ")
            ));
        }
    }
    let args = Args(kwargs);
    let settings = Settings::read(object.get("meta"))?;
    let rule = rule(kind, &args, settings.event_type)?;
    let mostly = match args.0.get("mostly") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .filter(|m| (0.0..=1.0).contains(m))
            .ok_or("`mostly` must be a number from 0 to 1")?,
    };
    if matches!(rule, Rule::Checkpoint(_)) && settings.action == Some(Action::Quarantine) {
        return Err("a checkpoint-level expectation can only warn (meta.racecast.action `warn`)".into());
    }
    let name = match settings.name {
        Some(name) => name,
        None => default_name(kind, &rule),
    };
    Ok(Expectation {
        index,
        kind,
        name: name.into(),
        event_type: settings.event_type,
        action: settings.action.unwrap_or(Action::Warn),
        mostly,
        rule,
    })
}

/// `<column>:<type without "expect_">`, e.g. `speed_kph:column_values_to_be_between`.
fn default_name(kind: &str, rule: &Rule) -> String {
    let short = kind.trim_start_matches("expect_");
    let columns: Vec<&str> = match rule {
        Rule::Record(r) => r.columns().iter().map(|c| c.name()).collect(),
        Rule::Checkpoint(
            CheckpointRule::Mean { column, .. } | CheckpointRule::NonNullShare { column, .. },
        ) => {
            vec![column.name()]
        }
        Rule::Checkpoint(CheckpointRule::RowCount { .. }) => vec![],
    };
    if columns.is_empty() {
        short.to_owned()
    } else {
        format!("{}:{short}", columns.join("+"))
    }
}

/// `meta.racecast`.
struct Settings {
    event_type: Option<EventType>,
    action: Option<Action>,
    name: Option<String>,
}

impl Settings {
    fn read(meta: Option<&Value>) -> Result<Settings, String> {
        let mut out = Settings {
            event_type: None,
            action: None,
            name: None,
        };
        let Some(ours) = meta.and_then(|m| m.get("racecast")) else {
            return Ok(out);
        };
        let Value::Object(ours) = ours else {
            return Err("meta.racecast must be an object".into());
        };
        for (key, value) in ours {
            let text = value
                .as_str()
                .ok_or(format!("meta.racecast.{key} must be a string"))?;
            match key.as_str() {
                "event_type" => {
                    let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                    out.event_type = Some(EventType::parse(text).ok_or(format!(
                        "meta.racecast.event_type `{text}` is not an event type ({})",
                        names.join(", ")
                    ))?);
                }
                "action" => {
                    out.action = Some(match text {
                        "quarantine" => Action::Quarantine,
                        "warn" => Action::Warn,
                        _ => {
                            return Err(format!(
                                "meta.racecast.action `{text}` is neither quarantine nor warn"
                            ));
                        }
                    });
                }
                "name" => {
                    let fine = |c: char| c.is_ascii_alphanumeric() || "_-.:+".contains(c);
                    if text.is_empty() || text.len() > 100 || !text.chars().all(fine) {
                        return Err(format!(
                            "meta.racecast.name `{text}` must be 1-100 characters of letters, digits and _-.:+"
                        ));
                    }
                    out.name = Some(text.to_owned());
                }
                other => {
                    return Err(format!(
                        "unknown key meta.racecast.{other} (event_type, action, name)"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The compiled rule of a known type.
fn rule(kind: &str, args: &Args<'_>, scope: Option<EventType>) -> Result<Rule, String> {
    let record = |r: RecordRule| Ok(Rule::Record(r));
    match kind {
        "expect_column_values_to_be_between" => {
            let column = args.column("column", scope)?;
            let (min, max) = args.range(column.kind(), true)?;
            record(RecordRule::Between { column, min, max })
        }
        "expect_column_values_to_not_be_null" => record(RecordRule::NotNull {
            column: args.column("column", scope)?,
        }),
        "expect_column_values_to_be_in_set" | "expect_column_values_to_not_be_in_set" => {
            let column = args.column("column", scope)?;
            let Some(Value::Array(values)) = args.0.get("value_set") else {
                return Err("`value_set` must be a list".into());
            };
            let set = values
                .iter()
                .map(|v| args.literal("value_set", v, column))
                .collect::<Result<_, _>>()?;
            let negated = kind.contains("not_be_in_set");
            record(RecordRule::InSet { column, set, negated })
        }
        "expect_column_values_to_match_regex" => {
            let column = args.column("column", scope)?;
            if column.kind() != Kind::Text {
                return Err(format!(
                    "column `{}` holds {}s, a regex needs text",
                    column.name(),
                    column.kind().as_str()
                ));
            }
            let pattern = match args.0.get("regex") {
                None | Some(Value::Null) => "(?s).*",
                Some(Value::String(p)) => p,
                Some(_) => return Err("`regex` must be a string".into()),
            };
            let regex = regex::Regex::new(pattern).map_err(|e| format!("malformed regex: {e}"))?;
            record(RecordRule::Regex { column, regex })
        }
        "expect_column_pair_values_a_to_be_greater_than_b" => {
            let (a, b) = (args.column("column_A", scope)?, args.column("column_B", scope)?);
            if a.kind() != b.kind() {
                return Err(format!(
                    "column_A `{}` and column_B `{}` hold different kinds",
                    a.name(),
                    b.name()
                ));
            }
            let or_equal = args.flag("or_equal")?;
            let ignore = match args.0.get("ignore_row_if").and_then(Value::as_str) {
                None => IgnoreRow::BothMissing,
                Some("both_values_are_missing") => IgnoreRow::BothMissing,
                Some("either_value_is_missing") => IgnoreRow::EitherMissing,
                Some("neither") => IgnoreRow::Neither,
                Some(other) => {
                    return Err(format!(
                        "ignore_row_if `{other}` is not both_values_are_missing, either_value_is_missing or neither"
                    ));
                }
            };
            record(RecordRule::Greater {
                a,
                b,
                or_equal,
                ignore,
            })
        }
        "expect_column_mean_to_be_between" | "expect_column_proportion_of_non_null_values_to_be_between" => {
            let column = args.column("column", scope)?;
            let (min, max) = args.range(Kind::Number, false)?;
            if kind.contains("mean") {
                if column.kind() != Kind::Number {
                    return Err(format!(
                        "column `{}` holds {}s: it has no mean",
                        column.name(),
                        column.kind().as_str()
                    ));
                }
                Ok(Rule::Checkpoint(CheckpointRule::Mean { column, min, max }))
            } else {
                Ok(Rule::Checkpoint(CheckpointRule::NonNullShare {
                    column,
                    min,
                    max,
                }))
            }
        }
        _ => {
            let (min, max) = args.range(Kind::Number, false)?;
            Ok(Rule::Checkpoint(CheckpointRule::RowCount { min, max }))
        }
    }
}

/// An expectation's `kwargs`.
struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    /// The column argument `key`, checked against the expectation's scope.
    fn column(&self, key: &str, scope: Option<EventType>) -> Result<Column, String> {
        let name = self
            .0
            .get(key)
            .and_then(Value::as_str)
            .ok_or(format!("`{key}` must name a column"))?;
        let Some(column) = Column::named(name) else {
            if JOINED.contains(&name) {
                return Err(format!(
                    "column `{name}` is joined from the entry list after validation: an expectation can check the event's own columns"
                ));
            }
            let known: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
            return Err(format!(
                "silver.telemetry_enriched has no column `{name}` (it has {})",
                known.join(", ")
            ));
        };
        if let (Some(only), Some(scope)) = (column.only_on(), scope)
            && only != scope
        {
            return Err(format!(
                "column `{name}` is set on {only} events only, and the expectation is scoped to {scope} events"
            ));
        }
        Ok(column)
    }

    /// A literal of `column`'s kind.
    fn literal(&self, key: &str, value: &Value, column: Column) -> Result<Literal, String> {
        let literal = match value {
            Value::Number(n) => n.as_f64().map(Literal::Number),
            Value::String(s) => Some(Literal::Text(s.as_str().into())),
            Value::Bool(b) => Some(Literal::Bool(*b)),
            _ => None,
        };
        let kind_of = |l: &Literal| match l {
            Literal::Number(_) => Kind::Number,
            Literal::Text(_) => Kind::Text,
            Literal::Bool(_) => Kind::Bool,
        };
        match literal {
            Some(l) if kind_of(&l) == column.kind() => Ok(l),
            _ => Err(format!(
                "`{key}` holds {value}, and column `{}` holds {}s",
                column.name(),
                column.kind().as_str()
            )),
        }
    }

    /// A boolean argument (absent or null: false).
    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("`{key}` must be true or false")),
        }
    }

    /// `min_value` / `max_value` with `strict_min` / `strict_max`, of
    /// values of `kind`; `one_needed`: GE refuses both bounds null.
    fn range(&self, kind: Kind, one_needed: bool) -> Result<(Option<Bound>, Option<Bound>), String> {
        let bound = |key: &str, strict: &str| -> Result<Option<Bound>, String> {
            let value = match self.0.get(key) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::Number(n)) if kind == Kind::Number => {
                    Literal::Number(n.as_f64().unwrap_or(f64::NAN))
                }
                Some(Value::String(s)) if kind == Kind::Text => Literal::Text(s.as_str().into()),
                Some(other) => {
                    return Err(format!(
                        "`{key}` is {other}, and the column holds {}s",
                        kind.as_str()
                    ));
                }
            };
            Ok(Some(Bound {
                value,
                strict: self.flag(strict)?,
            }))
        };
        let (min, max) = (
            bound("min_value", "strict_min")?,
            bound("max_value", "strict_max")?,
        );
        if one_needed && min.is_none() && max.is_none() {
            return Err("min_value and max_value cannot both be null".into());
        }
        if let (Some(a), Some(b)) = (&min, &max) {
            let inverted = match (&a.value, &b.value) {
                (Literal::Number(x), Literal::Number(y)) => x > y,
                (Literal::Text(x), Literal::Text(y)) => x > y,
                _ => false,
            };
            if inverted {
                return Err(format!(
                    "min_value {} is above max_value {}",
                    self.0["min_value"], self.0["max_value"]
                ));
            }
        }
        Ok((min, max))
    }
}

/// 16 hex digits that change when what a suite checks changes: a CRC-64
/// of its expectations' JSON as parsed (formatting and whitespace aside).
pub fn fingerprint(expectations: &Value) -> String {
    const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);
    format!("{:016x}", CRC.checksum(expectations.to_string().as_bytes()))
}
