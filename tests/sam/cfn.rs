//! What CloudFormation does with a (transformed) template and the parameter values of one
//! deploy, before it creates anything: defaults, `AllowedValues`, `Rules`, `Conditions`,
//! and the intrinsics that depend on parameters alone (`Ref` to a parameter, `Fn::If`,
//! `Fn::Join`, `Fn::FindInMap`, `AWS::NoValue`). The SAM transform leaves all of these to CloudFormation,
//! so one transformed template is many stacks; the tests inspect the one a deploy makes.
//! Whatever depends on created resources (`Ref` to a resource, `Fn::GetAtt`, `Fn::Sub`)
//! stays as written, for the tests to compare against.

use serde_json::{Map, Value};

/// The stack one deploy would create: resources and outputs whose conditions hold, with
/// parameter-only intrinsics resolved.
pub struct Stack {
    pub resources: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

impl Stack {
    pub fn resource(&self, id: &str) -> &Value {
        self.resources
            .get(id)
            .unwrap_or_else(|| panic!("no resource {id} in the stack"))
    }

    /// (logical id, resource) of every resource of a type.
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
            .map(|(id, r)| (id.as_str(), r))
    }
}

/// The stack `template` makes with these parameter values, or the reasons CloudFormation
/// would refuse them (a value outside `AllowedValues`, a failed `Rules` assertion).
pub fn deploy(template: &Value, given: &[(&str, &str)]) -> Result<Stack, Vec<String>> {
    let scope = Scope {
        params: parameters(template, given)?,
        conditions: template["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        mappings: template["Mappings"].clone(),
    };
    let refused = scope.rules(&template["Rules"]);
    if !refused.is_empty() {
        return Err(refused);
    }
    Ok(Stack {
        resources: scope.section(&template["Resources"]),
        outputs: scope.section(&template["Outputs"]),
    })
}

/// Each parameter's value: given, else its default; list types become JSON arrays.
fn parameters(template: &Value, given: &[(&str, &str)]) -> Result<Map<String, Value>, Vec<String>> {
    let declared = template["Parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some((name, _)) = given.iter().find(|(name, _)| !declared.contains_key(*name)) {
        return Err(vec![format!("the template has no parameter {name}")]);
    }
    let mut params = Map::new();
    let mut refused = Vec::new();
    for (name, spec) in &declared {
        let value = match given.iter().find(|(n, _)| n == name) {
            Some((_, v)) => v.to_string(),
            None => match &spec["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    refused.push(format!("parameter {name} needs a value"));
                    continue;
                }
            },
        };
        if let Some(allowed) = spec["AllowedValues"].as_array() {
            if !allowed.iter().any(|a| a.as_str() == Some(&value)) {
                refused.push(format!("{name}={value} is not one of {allowed:?}"));
            }
        }
        let kind = spec["Type"].as_str().unwrap_or_default();
        let value = if kind == "CommaDelimitedList" || kind.starts_with("List<") {
            Value::Array(value.split(',').map(|s| Value::from(s.trim())).collect())
        } else {
            Value::from(value)
        };
        params.insert(name.clone(), value);
    }
    if refused.is_empty() {
        Ok(params)
    } else {
        Err(refused)
    }
}

struct Scope {
    params: Map<String, Value>,
    conditions: Map<String, Value>,
    mappings: Value,
}

impl Scope {
    /// The entries of `Resources` or `Outputs` whose `Condition` holds, resolved.
    fn section(&self, section: &Value) -> Map<String, Value> {
        let entries = section.as_object().cloned().unwrap_or_default();
        entries
            .into_iter()
            .filter(|(_, entry)| {
                entry["Condition"]
                    .as_str()
                    .is_none_or(|c| self.condition(c))
            })
            .filter_map(|(id, entry)| Some((id, self.resolve(&entry)?)))
            .collect()
    }

    /// The `AssertDescription` of every assertion that fails in a rule that applies.
    fn rules(&self, rules: &Value) -> Vec<String> {
        let rules = rules.as_object().cloned().unwrap_or_default();
        let applying = rules
            .values()
            .filter(|rule| rule.get("RuleCondition").is_none_or(|c| self.truth(c)));
        applying
            .flat_map(|rule| rule["Assertions"].as_array().cloned().unwrap_or_default())
            .filter(|assertion| !self.truth(&assertion["Assert"]))
            .map(|assertion| {
                assertion["AssertDescription"]
                    .as_str()
                    .unwrap_or("a rule failed")
                    .to_string()
            })
            .collect()
    }

    fn condition(&self, name: &str) -> bool {
        let condition = self
            .conditions
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name} in the template"));
        self.truth(condition)
    }

    /// A condition function's value.
    fn truth(&self, expr: &Value) -> bool {
        let (function, args) = single(expr).unwrap_or_else(|| panic!("not a condition: {expr}"));
        let args_list = || args.as_array().cloned().unwrap_or_default();
        match function {
            "Fn::Equals" => {
                let [a, b] =
                    <[Value; 2]>::try_from(args_list()).expect("Fn::Equals takes two values");
                self.resolve(&a) == self.resolve(&b)
            }
            "Fn::Not" => !self.truth(&args_list()[0]),
            "Fn::And" => args_list().iter().all(|c| self.truth(c)),
            "Fn::Or" => args_list().iter().any(|c| self.truth(c)),
            "Condition" => self.condition(args.as_str().expect("Condition takes a name")),
            other => panic!("condition function {other} is not handled here"),
        }
    }

    /// `value` with parameter-only intrinsics resolved; `None` for `AWS::NoValue`, which
    /// removes the key or list item holding it.
    fn resolve(&self, value: &Value) -> Option<Value> {
        match single(value) {
            Some(("Ref", Value::String(name))) if name == "AWS::NoValue" => None,
            Some(("Ref", Value::String(name))) if self.params.contains_key(name) => {
                Some(self.params[name].clone())
            }
            Some(("Fn::If", Value::Array(args))) if args.len() == 3 => {
                let condition = args[0].as_str().expect("Fn::If names a condition");
                self.resolve(&args[if self.condition(condition) { 1 } else { 2 }])
            }
            Some(("Fn::FindInMap", Value::Array(args))) if args.len() == 3 => {
                let keys: Vec<Value> = args.iter().filter_map(|a| self.resolve(a)).collect();
                let path: Option<Vec<&str>> = keys.iter().map(Value::as_str).collect();
                let path = path.filter(|p| p.len() == 3);
                let path = path.unwrap_or_else(|| panic!("Fn::FindInMap with keys {keys:?}"));
                let found = &self.mappings[path[0]][path[1]][path[2]];
                assert!(!found.is_null(), "no {path:?} in the mappings");
                Some(found.clone())
            }
            Some(("Fn::Join", Value::Array(args))) if args.len() == 2 => {
                let list = self.resolve(&args[1])?;
                let parts: Option<Vec<&str>> = list
                    .as_array()
                    .and_then(|l| l.iter().map(Value::as_str).collect());
                match (args[0].as_str(), parts) {
                    (Some(separator), Some(parts)) => Some(Value::from(parts.join(separator))),
                    _ => Some(serde_json::json!({ "Fn::Join": [args[0], list] })),
                }
            }
            // MailFrom's domain: `Fn::Select` of an `Fn::Split` of a resolved string.
            Some(("Fn::Split", Value::Array(args))) if args.len() == 2 => {
                let text = self.resolve(&args[1])?;
                match (args[0].as_str(), text.as_str()) {
                    (Some(separator), Some(text)) => {
                        Some(Value::from_iter(text.split(separator).map(Value::from)))
                    }
                    _ => Some(serde_json::json!({ "Fn::Split": [args[0], text] })),
                }
            }
            Some(("Fn::Select", Value::Array(args))) if args.len() == 2 => {
                let list = self.resolve(&args[1])?;
                match (args[0].as_u64(), list.as_array()) {
                    (Some(index), Some(items)) => {
                        let item = items.get(index as usize);
                        Some(item.cloned().unwrap_or_else(|| {
                            panic!("Fn::Select {index} of {items:?}: CloudFormation refuses it")
                        }))
                    }
                    _ => Some(serde_json::json!({ "Fn::Select": [args[0], list] })),
                }
            }
            _ => Some(match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                        .collect(),
                ),
                Value::Array(items) => {
                    Value::Array(items.iter().filter_map(|v| self.resolve(v)).collect())
                }
                other => other.clone(),
            }),
        }
    }
}

/// An intrinsic function call: an object with exactly one key.
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    let (key, arg) = map.iter().next()?;
    (map.len() == 1).then_some((key.as_str(), arg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({
            "Parameters": {
                "Arch": { "Type": "String", "Default": "x86_64", "AllowedValues": ["x86_64", "arm64"] },
                "Layer": { "Type": "String", "Default": "" },
                "Tables": { "Type": "CommaDelimitedList", "Default": "" },
                "Pct": { "Type": "Number", "Default": "30" },
            },
            "Rules": { "ArmNeedsLayer": {
                "RuleCondition": { "Fn::Equals": [{ "Ref": "Arch" }, "arm64"] },
                "Assertions": [{ "Assert": { "Fn::Not": [{ "Fn::Equals": [{ "Ref": "Layer" }, ""] }] },
                                 "AssertDescription": "arm64 needs Layer" }],
            }},
            "Mappings": { "Share": { "30": { "Rest": 70 } } },
            "Conditions": {
                "Own": { "Fn::Equals": [{ "Ref": "Layer" }, ""] },
                "Tables": { "Fn::Not": [{ "Fn::Equals": [{ "Fn::Join": ["", { "Ref": "Tables" }] }, ""] }] },
                "OwnAndTables": { "Fn::And": [{ "Condition": "Own" }, { "Condition": "Tables" }] },
            },
            "Resources": {
                "L": { "Type": "Layer", "Condition": "Own" },
                "E": { "Type": "Endpoint", "Condition": "Tables", "Properties": { "Ids": { "Ref": "Tables" } } },
                "B": { "Type": "Both", "Condition": "OwnAndTables" },
                "F": { "Type": "Function", "Properties": {
                    "Layers": [{ "Fn::If": ["Own", { "Ref": "L" }, { "Ref": "Layer" }] }],
                    "Arch": [{ "Ref": "Arch" }],
                    "Maybe": { "Fn::If": ["Own", { "Ref": "AWS::NoValue" }, "set"] },
                    "Arn": { "Fn::GetAtt": ["L", "Arn"] },
                    "Rest": { "Fn::FindInMap": ["Share", { "Ref": "Pct" }, "Rest"] },
                }},
            },
        })
    }

    /// What a deploy gives: its resources' ids, F's Layers and F's Maybe; or a refusal.
    type Expected = Result<(&'static [&'static str], Value, Value), &'static str>;

    #[test]
    fn deploys_resolve_parameters_conditions_and_rules() {
        let cases: &[(&[(&str, &str)], Expected)] = &[
            (&[], Ok((&["F", "L"], json!([{ "Ref": "L" }]), json!(null)))),
            (
                &[("Layer", "arn:l"), ("Tables", "a,b")],
                Ok((&["E", "F"], json!(["arn:l"]), json!("set"))),
            ),
            (
                &[("Tables", "a")],
                Ok((&["B", "E", "F", "L"], json!([{ "Ref": "L" }]), json!(null))),
            ),
            (&[("Arch", "arm64")], Err("arm64 needs Layer")),
            (&[("Arch", "sparc")], Err("Arch=sparc is not one of")),
            (&[("Nope", "x")], Err("no parameter Nope")),
        ];
        for (given, expected) in cases {
            match (deploy(&template(), given), expected) {
                (Ok(stack), Ok((ids, layers, maybe))) => {
                    let mut got: Vec<&str> = stack.resources.keys().map(String::as_str).collect();
                    got.sort();
                    assert_eq!(&got, ids, "{given:?}");
                    let f = stack.resource("F");
                    assert_eq!(&f["Properties"]["Layers"], layers, "{given:?}");
                    assert_eq!(
                        f["Properties"].get("Maybe").unwrap_or(&Value::Null),
                        maybe,
                        "{given:?}"
                    );
                    assert_eq!(
                        f["Properties"]["Arn"],
                        json!({ "Fn::GetAtt": ["L", "Arn"] })
                    );
                    assert_eq!(f["Properties"]["Rest"], 70, "{given:?}");
                }
                (Err(refused), Err(why)) => {
                    assert!(
                        refused.iter().any(|r| r.contains(why)),
                        "{given:?}: {refused:?}"
                    )
                }
                (Ok(_), Err(why)) => panic!("{given:?} deployed; expected a refusal: {why}"),
                (Err(refused), Ok(_)) => panic!("{given:?} refused: {refused:?}"),
            }
        }
        let stack = deploy(&template(), &[("Tables", "a,b")]).unwrap();
        assert_eq!(stack.resource("E")["Properties"]["Ids"], json!(["a", "b"]));
    }
}
