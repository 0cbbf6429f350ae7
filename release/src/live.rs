//! Pure: where the `live` alias goes on promote, canary, finish and rollback.
//!
//! The alias remembers the version to roll back to in its Description
//! (`lamphp previous=<version>`), since Lambda keeps no history of an alias. A canary
//! is the alias's routing config: the current version keeps `live`, the new one gets
//! the weight; `--finish` moves `live` to it, and a rollback during a canary only drops
//! the weight. Rolling back swaps current and previous, so a second rollback undoes
//! the first.

use std::collections::HashMap;
use thiserror::Error;

pub const ALIAS: &str = "live";
const PREFIX: &str = "lamphp previous=";

/// The alias as Lambda reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alias {
    pub version: String,
    pub weights: HashMap<String, f64>,
    pub description: String,
}

/// The alias to write: its version, the canary (version, weight) if any, its Description.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub version: String,
    pub canary: Option<(String, f64)>,
    pub description: String,
}

#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    #[error("version {0} is already live; deploy something new first")]
    AlreadyLive(String),
    #[error("a canary of version {0} is running: finish it with `lamphp promote --finish` or drop it with `lamphp rollback` first")]
    CanaryRunning(String),
    #[error("no canary is running; `lamphp promote --canary PCT` starts one")]
    NoCanary,
    #[error(
        "`live` does not exist yet: the first promote cannot be a canary (run `lamphp promote`)"
    )]
    NoAliasForCanary,
    #[error("the canary weight must be between 1 and 99 percent, not {0}")]
    Percent(u8),
    #[error("`live` does not remember a previous version (its description is {0:?}): move it with `aws lambda update-alias`")]
    NoPrevious(String),
    #[error("`live` does not exist yet: nothing to roll back")]
    NoAlias,
}

/// The version `description` says to roll back to.
pub fn previous(description: &str) -> Option<&str> {
    description
        .strip_prefix(PREFIX)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn remember(version: &str) -> String {
    format!("{PREFIX}{version}")
}

/// The canary's version, if one is running (weights of 0 are none).
pub fn canary(alias: &Alias) -> Option<(&str, f64)> {
    alias
        .weights
        .iter()
        .find(|(_, w)| **w > 0.0)
        .map(|(v, w)| (v.as_str(), *w))
}

/// What no newly published version could make right, checked before publishing one:
/// a canary needs `live` to exist, and a plain promote needs no canary running.
pub fn may_publish(alias: Option<&Alias>, as_canary: bool) -> Result<(), PlanError> {
    match alias {
        None if as_canary => Err(PlanError::NoAliasForCanary),
        Some(alias) if !as_canary => match canary(alias) {
            Some((running, _)) => Err(PlanError::CanaryRunning(running.to_owned())),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `promote`: `live` moves to `new` at once.
pub fn promote(alias: Option<&Alias>, new: &str) -> Result<Target, PlanError> {
    let Some(alias) = alias else {
        return Ok(Target {
            version: new.to_owned(),
            canary: None,
            description: String::new(),
        });
    };
    if let Some((running, _)) = canary(alias) {
        return Err(PlanError::CanaryRunning(running.to_owned()));
    }
    if alias.version == new {
        return Err(PlanError::AlreadyLive(new.to_owned()));
    }
    Ok(Target {
        version: new.to_owned(),
        canary: None,
        description: remember(&alias.version),
    })
}

/// `promote --canary PCT`: `new` gets PCT percent of `live`'s requests; the same canary
/// again only changes its weight.
pub fn start_canary(alias: Option<&Alias>, new: &str, percent: u8) -> Result<Target, PlanError> {
    if !(1..=99).contains(&percent) {
        return Err(PlanError::Percent(percent));
    }
    let alias = alias.ok_or(PlanError::NoAliasForCanary)?;
    match canary(alias) {
        Some((running, _)) if running != new => {
            return Err(PlanError::CanaryRunning(running.to_owned()))
        }
        _ if alias.version == new => return Err(PlanError::AlreadyLive(new.to_owned())),
        _ => {}
    }
    Ok(Target {
        version: alias.version.clone(),
        canary: Some((new.to_owned(), f64::from(percent) / 100.0)),
        description: alias.description.clone(),
    })
}

/// `promote --finish`: the canary takes all of `live`.
pub fn finish(alias: Option<&Alias>) -> Result<Target, PlanError> {
    let alias = alias.ok_or(PlanError::NoCanary)?;
    let (new, _) = canary(alias).ok_or(PlanError::NoCanary)?;
    Ok(Target {
        version: new.to_owned(),
        canary: None,
        description: remember(&alias.version),
    })
}

/// `rollback`: drop a running canary, or move `live` back to the previous version.
pub fn rollback(alias: Option<&Alias>) -> Result<Target, PlanError> {
    let alias = alias.ok_or(PlanError::NoAlias)?;
    if canary(alias).is_some() {
        return Ok(Target {
            version: alias.version.clone(),
            canary: None,
            description: alias.description.clone(),
        });
    }
    let back = previous(&alias.description)
        .ok_or_else(|| PlanError::NoPrevious(alias.description.clone()))?;
    Ok(Target {
        version: back.to_owned(),
        canary: None,
        description: remember(&alias.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: &str, canary: Option<(&str, f64)>, previous: Option<&str>) -> Alias {
        Alias {
            version: version.into(),
            weights: canary.map(|(v, w)| (v.to_owned(), w)).into_iter().collect(),
            description: previous.map(remember).unwrap_or_default(),
        }
    }

    type Plan = Result<Target, PlanError>;

    fn target(version: &str, canary: Option<(&str, f64)>, previous: Option<&str>) -> Plan {
        Ok(Target {
            version: version.into(),
            canary: canary.map(|(v, w)| (v.to_owned(), w)),
            description: previous.map(remember).unwrap_or_default(),
        })
    }

    #[test]
    fn plans() {
        let at2 = alias("2", None, Some("1"));
        let canary3 = alias("2", Some(("3", 0.1)), Some("1"));
        let table: Vec<(&str, Plan, Plan)> = vec![
            ("first promote", promote(None, "1"), target("1", None, None)),
            (
                "promote",
                promote(Some(&at2), "3"),
                target("3", None, Some("2")),
            ),
            (
                "promote again",
                promote(Some(&at2), "2"),
                Err(PlanError::AlreadyLive("2".into())),
            ),
            (
                "promote in canary",
                promote(Some(&canary3), "4"),
                Err(PlanError::CanaryRunning("3".into())),
            ),
            (
                "canary",
                start_canary(Some(&at2), "3", 10),
                target("2", Some(("3", 0.1)), Some("1")),
            ),
            (
                "canary ramp",
                start_canary(Some(&canary3), "3", 50),
                target("2", Some(("3", 0.5)), Some("1")),
            ),
            (
                "other canary",
                start_canary(Some(&canary3), "4", 10),
                Err(PlanError::CanaryRunning("3".into())),
            ),
            (
                "canary of live",
                start_canary(Some(&at2), "2", 10),
                Err(PlanError::AlreadyLive("2".into())),
            ),
            (
                "canary first",
                start_canary(None, "1", 10),
                Err(PlanError::NoAliasForCanary),
            ),
            (
                "canary 0",
                start_canary(Some(&at2), "3", 0),
                Err(PlanError::Percent(0)),
            ),
            (
                "canary 100",
                start_canary(Some(&at2), "3", 100),
                Err(PlanError::Percent(100)),
            ),
            (
                "finish",
                finish(Some(&canary3)),
                target("3", None, Some("2")),
            ),
            (
                "finish nothing",
                finish(Some(&at2)),
                Err(PlanError::NoCanary),
            ),
            (
                "rollback canary",
                rollback(Some(&canary3)),
                target("2", None, Some("1")),
            ),
            (
                "rollback",
                rollback(Some(&at2)),
                target("1", None, Some("2")),
            ),
            (
                "rollback first",
                rollback(Some(&alias("1", None, None))),
                Err(PlanError::NoPrevious(String::new())),
            ),
            ("rollback none", rollback(None), Err(PlanError::NoAlias)),
            (
                "zero weight is no canary",
                promote(Some(&alias("2", Some(("3", 0.0)), Some("1"))), "3"),
                target("3", None, Some("2")),
            ),
        ];
        for (case, got, want) in table {
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn publishing_is_refused_when_no_version_could_be_promoted() {
        let at2 = alias("2", None, Some("1"));
        let canary3 = alias("2", Some(("3", 0.1)), Some("1"));
        let table = [
            (None, false, Ok(())),
            (None, true, Err(PlanError::NoAliasForCanary)),
            (Some(&at2), false, Ok(())),
            (Some(&at2), true, Ok(())),
            (
                Some(&canary3),
                false,
                Err(PlanError::CanaryRunning("3".into())),
            ),
            (Some(&canary3), true, Ok(())),
        ];
        for (alias, as_canary, want) in table {
            assert_eq!(may_publish(alias, as_canary), want, "{alias:?} {as_canary}");
        }
    }

    #[test]
    fn descriptions() {
        assert_eq!(previous("lamphp previous=7"), Some("7"));
        assert_eq!(previous("lamphp previous="), None);
        assert_eq!(previous("made by hand"), None);
    }
}
