//! `sam/template.yaml`, validated offline: `cfn-lint` passes, and the CloudFormation the
//! SAM transform (`aws-sam-translator`, `transform.py` here) makes of it is inspected for
//! each parameter combination that changes the stack's shape: the routing (host → listener
//! rule → target group → qualifier or ECS service, weighted with `Compute=both`), the
//! invoke permissions, the session table, the function's layer, EFS mount and
//! architecture, the ECS task definition, services and scaling, the buckets' expiry and
//! IAM's scope. Each stack is also linted as the concrete template it is.
//! Needs cfn-lint and aws-sam-translator from PyPI (`make test` installs them).

mod cfn;

use cfn::Stack;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STAGING: &str = "staging.example.com";
const PRODUCTION: &str = "www.example.com";
const CERTIFICATE: &str = "arn:aws:acm:eu-west-1:123456789012:certificate/0f6a";
const LAYER_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:layer:lamphp-php82:3";
const ELB: &str = "elasticloadbalancing.amazonaws.com";
const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lamphp:php8.4-x86_64";
const RELEASE: &str = "3f2a9c0d1b7e4f60";
/// serve's default `--health-path`, which the image does not change.
const HEALTH_PATH: &str = "/_lamphp/health";

/// What serves the hosts (the `Compute` parameter).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Compute {
    Lambda,
    Ecs,
    /// Each host's requests split, this percentage to ECS.
    Both(u64),
}

impl Compute {
    fn serves_lambda(self) -> bool {
        self != Compute::Ecs
    }

    fn serves_ecs(self) -> bool {
        self != Compute::Lambda
    }
}

/// What one target group of a host sends its requests to.
#[derive(Clone, Copy, Debug)]
enum Side {
    Lambda,
    Ecs,
}

/// The parameters every deploy needs; each case adds its own.
const REQUIRED: [(&str, &str); 7] = [
    ("VpcId", "vpc-0123456789abcdef0"),
    ("PrivateSubnetA", "subnet-0aaaaaaaaaaaaaaa1"),
    ("PrivateSubnetB", "subnet-0bbbbbbbbbbbbbbb2"),
    (
        "PublicSubnetIds",
        "subnet-0ccccccccccccccc3,subnet-0ddddddddddddddd4",
    ),
    ("StagingDomain", STAGING),
    ("ProductionDomain", PRODUCTION),
    ("CertificateArn", CERTIFICATE),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template_path() -> PathBuf {
    repo().join("sam/template.yaml")
}

/// Runs a PyPI tool, failing with how to install it when it is not there.
fn run_tool(command: &mut Command, install: &str) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}; {install} (or run `make test`)"))
}

/// The SAM transform of the template with these parameter values, as CloudFormation JSON.
fn transform(params: &[(&str, &str)]) -> Value {
    let install = "pip install aws-sam-translator";
    let probe = run_tool(
        Command::new("python3").args(["-c", "import samtranslator"]),
        install,
    );
    assert!(
        probe.status.success(),
        "aws-sam-translator is missing: {install} (or run `make test`)"
    );
    let values: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let output = run_tool(
        Command::new("python3")
            .arg(repo().join("tests/sam/transform.py"))
            .arg(template_path())
            .arg(Value::Object(values).to_string()),
        install,
    );
    assert!(
        output.status.success(),
        "the SAM transform failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the transform prints JSON")
}

/// `REQUIRED` and `extra`.
fn with_required<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    REQUIRED.iter().chain(extra).copied().collect()
}

/// The transformed template and the stack one `sam deploy` with `REQUIRED` and `extra`
/// would create.
fn deployed(extra: &[(&str, &str)]) -> (Value, Stack) {
    let params = with_required(extra);
    let template = transform(&params);
    let stack =
        cfn::deploy(&template, &params).unwrap_or_else(|why| panic!("{extra:?} refused: {why:?}"));
    (template, stack)
}

/// The stack one `sam deploy` with `REQUIRED` and `extra` would create.
fn stack(extra: &[(&str, &str)]) -> Stack {
    deployed(extra).1
}

/// A parameter's value among `params`.
fn param<'a>(params: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// cfn-lint's verdict on a template file, failing with what it found.
fn assert_lints_clean(path: &Path, what: &str, args: &[&str]) {
    let install = "pip install cfn-lint";
    let output = run_tool(Command::new("cfn-lint").arg(path).args(args), install);
    assert!(
        output.status.success(),
        "cfn-lint found problems in {what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// cfn-lint on the stack itself, as the plain template it is once the parameters are
/// applied: the branches it takes, with concrete values (Fargate sizes, weights) where
/// the template has parameters. The parameters stay declared for the `Fn::Sub`s that name
/// them; those the resolved stack no longer refers to are not a finding here (W2001).
fn lint_stack(template: &Value, stack: &Stack, context: &str) {
    // The conditions are decided: the entries keep no `Condition` naming them.
    let strip = |section: &serde_json::Map<String, Value>| -> Value {
        let mut section = section.clone();
        for entry in section.values_mut() {
            entry.as_object_mut().unwrap().remove("Condition");
        }
        Value::Object(section)
    };
    let concrete = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template["Parameters"],
        "Resources": strip(&stack.resources),
        "Outputs": strip(&stack.outputs),
    });
    let path = std::env::temp_dir().join(format!(
        "lamphp-sam-{}-{:x}.json",
        std::process::id(),
        name_hash(context)
    ));
    std::fs::write(&path, concrete.to_string()).unwrap();
    // Left behind when it fails, to be linted again by hand.
    assert_lints_clean(
        &path,
        &format!("the stack {context}"),
        &["--ignore-checks", "W2001"],
    );
    std::fs::remove_file(&path).unwrap();
}

/// A file name for a context string (FNV-1a).
fn name_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

fn arn_of(id: &str) -> Value {
    json!({ "Fn::GetAtt": [id, "Arn"] })
}

/// The logical id a `{"Ref": id}` names.
fn referenced(value: &Value) -> &str {
    value["Ref"]
        .as_str()
        .unwrap_or_else(|| panic!("not a Ref: {value}"))
}

/// The one resource of a type.
fn only<'a>(stack: &'a Stack, kind: &'a str) -> (&'a str, &'a Value) {
    let all: Vec<_> = stack.of_type(kind).collect();
    assert_eq!(all.len(), 1, "expected one {kind}, found {}", all.len());
    all[0]
}

#[test]
fn cfn_lint_passes() {
    assert_lints_clean(&template_path(), "sam/template.yaml", &[]);
}

/// The shapes a deploy can take: the stack's own layer or a published one, gateway
/// endpoints or none, x86_64 or arm64, a staging release or none, and each `Compute`.
#[test]
fn every_shape_routes_mounts_and_scopes_alike() {
    let ecs = [("Compute", "ecs"), ("ImageUri", IMAGE)];
    let cases: [(Compute, &[(&str, &str)]); 6] = [
        (Compute::Lambda, &[]),
        (
            Compute::Lambda,
            &[
                ("LayerArn", LAYER_ARN),
                ("RouteTableIds", "rtb-01,rtb-02"),
                ("Release", RELEASE),
            ],
        ),
        (
            Compute::Lambda,
            &[
                ("Architecture", "arm64"),
                ("LayerArn", LAYER_ARN),
                ("RouteTableIds", "rtb-01"),
            ],
        ),
        (Compute::Ecs, &ecs),
        (
            Compute::Ecs,
            &[
                ecs[0],
                ecs[1],
                ("Release", RELEASE),
                ("Architecture", "arm64"),
                ("LayerArn", LAYER_ARN),
            ],
        ),
        (
            Compute::Both(30),
            &[
                ("Compute", "both"),
                ("ImageUri", IMAGE),
                ("EcsTrafficPercent", "30"),
                ("Release", RELEASE),
            ],
        ),
    ];
    for (compute, params) in cases {
        let (template, stack) = deployed(params);
        let context = format!("{params:?}");
        let architecture = param(params, "Architecture").unwrap_or("x86_64");
        let release = param(params, "Release");
        let route_tables: Vec<&str> =
            param(params, "RouteTableIds").map_or(vec![], |t| t.split(',').collect());
        lint_stack(&template, &stack, &context);
        routing(&stack, compute, release, &context);
        load_balancer(&stack);
        function(
            &stack,
            param(params, "LayerArn").is_none(),
            architecture,
            release,
            &context,
        );
        endpoints(&stack, &route_tables, &context);
        session_table(&stack);
        buckets(&stack);
        security_groups(&stack);
        iam(&stack);
        if compute.serves_ecs() {
            ecs_tasks(&stack, architecture, release);
        } else {
            no_ecs(&stack, &context);
        }
        outputs(&stack, compute);
    }
}

/// What CloudFormation refuses before it creates anything.
#[test]
fn incomplete_parameters_are_refused() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        // The stack's own layer is `make layer`'s x86_64 zip: an arm64 function must be
        // given one.
        (&[("Architecture", "arm64")], "LayerArn"),
        // Tasks need an image.
        (&[("Compute", "ecs")], "ImageUri"),
        (&[("Compute", "both")], "ImageUri"),
    ];
    for (extra, why) in cases {
        let params = with_required(extra);
        let refused = cfn::deploy(&transform(&params), &params)
            .err()
            .unwrap_or_else(|| panic!("{extra:?} deployed"));
        assert!(
            refused.iter().any(|r| r.contains(why)),
            "{extra:?}: {refused:?}"
        );
    }
}

/// With `Compute=both`, every `EcsTrafficPercent` CloudFormation accepts splits each host
/// between the function and the tasks: that many to ECS, the rest to Lambda.
#[test]
fn both_splits_each_host_by_ecs_traffic_percent() {
    let base = [("Compute", "both"), ("ImageUri", IMAGE)];
    let template = transform(&with_required(&base));
    let allowed = template["Parameters"]["EcsTrafficPercent"]["AllowedValues"]
        .as_array()
        .expect("EcsTrafficPercent has allowed values")
        .clone();
    assert!(allowed.len() > 2, "{allowed:?}");
    for percent in allowed {
        let percent = percent.as_str().unwrap();
        let params = with_required(&[base[0], base[1], ("EcsTrafficPercent", percent)]);
        let stack = cfn::deploy(&template, &params).unwrap();
        routing(
            &stack,
            Compute::Both(percent.parse().unwrap()),
            None,
            percent,
        );
    }
}

/// A later `sam deploy` must not move production: no AutoPublishAlias (which publishes a
/// version and repoints its alias on every deploy), one version published with the stack
/// and `live` pointing at it.
#[test]
fn production_moves_only_when_promoted() {
    let stack = stack(&[]);
    // AutoPublishAlias would add a second version (its logical id changing with the
    // code) and a second alias: `only` counts them.
    let (version_id, version) = only(&stack, "AWS::Lambda::Version");
    assert_eq!(version["Properties"]["FunctionName"], reference("Function"));
    assert!(
        version["Properties"].get("CodeSha256").is_none(),
        "a version that changes with the code is republished on every deploy"
    );
    let (_, alias) = only(&stack, "AWS::Lambda::Alias");
    let alias = &alias["Properties"];
    assert_eq!(alias["Name"], "live");
    assert_eq!(alias["FunctionName"], reference("Function"));
    assert_eq!(
        alias["FunctionVersion"],
        json!({ "Fn::GetAtt": [version_id, "Version"] })
    );
}

/// FunctionUrl: none adds nothing; buffered and streaming put a public URL on `live` in
/// that invoke mode, with both permissions a new URL needs, and streaming tells the
/// function so (LAMPHP_RESPONSE_MODE).
#[test]
fn a_function_url_on_live_in_the_mode_asked() {
    for (mode, invoke_mode, response_mode) in [
        ("none", None, None),
        ("buffered", Some("BUFFERED"), None),
        ("streaming", Some("RESPONSE_STREAM"), Some("streaming")),
    ] {
        let context = format!("FunctionUrl={mode}");
        let (template, stack) = deployed(&[("FunctionUrl", mode)]);
        let (alias_id, _) = only(&stack, "AWS::Lambda::Alias");
        let urls: Vec<_> = stack.of_type("AWS::Lambda::Url").collect();
        let on_alias: Vec<_> = stack
            .of_type("AWS::Lambda::Permission")
            .filter(|(_, p)| p["Properties"]["FunctionName"] == reference(alias_id))
            .map(|(_, p)| &p["Properties"])
            .filter(|p| p["Principal"] == "*")
            .collect();
        let (_, function) = only(&stack, "AWS::Lambda::Function");
        let env = &function["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env.get("LAMPHP_RESPONSE_MODE").and_then(Value::as_str),
            response_mode,
            "{context}"
        );
        let Some(invoke_mode) = invoke_mode else {
            assert!(urls.is_empty(), "{context}");
            assert!(on_alias.is_empty(), "{context}");
            assert!(stack.outputs.get("ProductionFunctionUrl").is_none());
            continue;
        };
        assert_eq!(urls.len(), 1, "{context}");
        let (url_id, url) = urls[0];
        let url = &url["Properties"];
        assert_eq!(url["TargetFunctionArn"], reference(alias_id), "{context}");
        assert_eq!(url["AuthType"], "NONE", "{context}");
        assert_eq!(url["InvokeMode"], invoke_mode, "{context}");
        assert_eq!(
            stack.outputs["ProductionFunctionUrl"]["Value"],
            json!({ "Fn::GetAtt": [url_id, "FunctionUrl"] }),
            "{context}"
        );
        let granted = |action: &str| on_alias.iter().any(|p| p["Action"] == action);
        assert!(granted("lambda:InvokeFunctionUrl"), "{context}");
        assert!(
            on_alias
                .iter()
                .any(|p| p["Action"] == "lambda:InvokeFunction"
                    && p["InvokedViaFunctionUrl"] == true),
            "{context}: InvokeFunction, only through the URL, is needed since October 2025"
        );
        assert!(
            on_alias
                .iter()
                .filter(|p| p["Action"] == "lambda:InvokeFunctionUrl")
                .all(|p| p["FunctionUrlAuthType"] == "NONE"),
            "{context}"
        );
        lint_stack(&template, &stack, &context);
    }
}

/// StagingDomain → the unqualified function ($LATEST) and/or StagingService,
/// ProductionDomain → the `live` alias and/or ProductionService, each through its own
/// target group (and invoke permission, for Lambda), weighted when both serve.
fn routing(stack: &Stack, compute: Compute, release: Option<&str>, context: &str) {
    let (alias_id, _) = only(stack, "AWS::Lambda::Alias");
    let hosts = [
        (STAGING, arn_of("Function"), "StagingService"),
        (PRODUCTION, reference(alias_id), "ProductionService"),
    ];
    let rules: Vec<_> = stack
        .of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
        .collect();
    assert_eq!(rules.len(), hosts.len(), "one listener rule per host");
    let permissions: Vec<_> = stack.of_type("AWS::Lambda::Permission").collect();
    let per_host = |serves: bool| if serves { hosts.len() } else { 0 };
    assert_eq!(
        permissions.len(),
        per_host(compute.serves_lambda()),
        "{context}: one invoke permission per qualifier that serves"
    );
    let groups_of = |kind: &str| {
        stack
            .of_type("AWS::ElasticLoadBalancingV2::TargetGroup")
            .filter(|(_, g)| g["Properties"]["TargetType"] == kind)
            .count()
    };
    assert_eq!(
        groups_of("lambda"),
        per_host(compute.serves_lambda()),
        "{context}"
    );
    assert_eq!(groups_of("ip"), per_host(compute.serves_ecs()), "{context}");
    let expected: Vec<(Side, Option<u64>)> = match compute {
        Compute::Lambda => vec![(Side::Lambda, None)],
        Compute::Ecs => vec![(Side::Ecs, None)],
        Compute::Both(ecs) => vec![(Side::Lambda, Some(100 - ecs)), (Side::Ecs, Some(ecs))],
    };
    for (host, target, service_id) in hosts {
        let (rule_id, rule) = rules
            .iter()
            .find(|(_, r)| {
                r["Properties"]["Conditions"]
                    == json!([{ "Field": "host-header", "HostHeaderConfig": { "Values": [host] } }])
            })
            .unwrap_or_else(|| panic!("no listener rule for the host {host}"));
        let listener = stack.resource(referenced(&rule["Properties"]["ListenerArn"]));
        assert_eq!(
            listener["Properties"]["Protocol"], "HTTPS",
            "{host} is served over HTTPS"
        );
        let forwards = forwarded(rule);
        assert_eq!(
            forwards.len(),
            expected.len(),
            "{context}: {host} forwards to {forwards:?}"
        );
        for ((group_id, weight), (side, expected_weight)) in forwards.into_iter().zip(&expected) {
            assert_eq!(
                weight, *expected_weight,
                "{context}: {host} → {group_id}'s weight"
            );
            match side {
                Side::Lambda => lambda_side(stack, host, group_id, &target, &permissions),
                Side::Ecs => ecs_side(stack, group_id, service_id, rule_id, release),
            }
        }
    }
}

/// The target groups a rule's one forward action names, with their weights if it has
/// several (ForwardConfig); an unweighted forward names one.
fn forwarded(rule: &Value) -> Vec<(&str, Option<u64>)> {
    let actions = rule["Properties"]["Actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let action = &actions[0];
    assert_eq!(action["Type"], "forward");
    let Some(config) = action.get("ForwardConfig") else {
        return vec![(referenced(&action["TargetGroupArn"]), None)];
    };
    assert!(
        action.get("TargetGroupArn").is_none(),
        "a forward takes TargetGroupArn or ForwardConfig: {action}"
    );
    let weight = |w: &Value| -> u64 {
        w.as_u64()
            .or_else(|| w.as_str()?.parse().ok())
            .unwrap_or_else(|| panic!("not a weight: {w}"))
    };
    config["TargetGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (referenced(&g["TargetGroupArn"]), Some(weight(&g["Weight"]))))
        .collect()
}

/// A Lambda target group for `target` (a qualifier), with the permission that lets the
/// load balancer invoke it.
fn lambda_side(
    stack: &Stack,
    host: &str,
    group_id: &str,
    target: &Value,
    permissions: &[(&str, &Value)],
) {
    let group = stack.resource(group_id);
    assert_eq!(group["Type"], "AWS::ElasticLoadBalancingV2::TargetGroup");
    let props = &group["Properties"];
    assert_eq!(props["TargetType"], "lambda", "{group_id}");
    for absent in ["Port", "Protocol", "VpcId"] {
        assert!(
            props.get(absent).is_none(),
            "{group_id}: a Lambda target group takes no {absent}"
        );
    }
    assert_eq!(
        props["TargetGroupAttributes"],
        json!([{ "Key": "lambda.multi_value_headers.enabled", "Value": "true" }]),
        "{group_id}"
    );
    assert_eq!(
        props["Targets"],
        json!([{ "Id": target }]),
        "{host} → {group_id}"
    );

    let (permission_id, permission) = permissions
        .iter()
        .find(|(_, p)| p["Properties"]["FunctionName"] == *target)
        .unwrap_or_else(|| panic!("no invoke permission for {target}"));
    let perm = &permission["Properties"];
    assert_eq!(perm["Principal"], ELB);
    assert_eq!(perm["Action"], "lambda:InvokeFunction");
    // The permission names the group by its fixed name, with a wildcard for the
    // suffix ELB adds, and the group waits for the permission: no cycle.
    let (name, name_vars) = sub(&props["Name"]);
    let (source, source_vars) = sub(&perm["SourceArn"]);
    assert_eq!(
        name_vars, source_vars,
        "{group_id}'s name and {permission_id}'s SourceArn"
    );
    assert!(
        source.ends_with(&format!(":targetgroup/{name}/*")),
        "{permission_id}'s SourceArn {source} does not cover {group_id} ({name})"
    );
    assert!(
        name.len() - "${Id}".len() + 8 <= 32,
        "target group names are at most 32 characters: {name}"
    );
    assert_eq!(
        group["DependsOn"],
        json!(permission_id),
        "{group_id} must wait for {permission_id}"
    );
}

/// An ip target group on serve's health path, the service whose container `php` (port
/// 8080) registers in it, and that service's scaling.
fn ecs_side(stack: &Stack, group_id: &str, service_id: &str, rule_id: &str, release: Option<&str>) {
    let group = &stack.resource(group_id)["Properties"];
    assert_eq!(group["TargetType"], "ip", "{group_id}");
    assert_eq!(
        (&group["Protocol"], &group["Port"]),
        (&json!("HTTP"), &json!(8080)),
        "{group_id}"
    );
    assert_eq!(group["VpcId"], REQUIRED[0].1, "{group_id}");
    assert_eq!(group["HealthCheckPath"], HEALTH_PATH, "{group_id}");
    assert_eq!(group["Matcher"], json!({ "HttpCode": "200" }), "{group_id}");
    // The ALB stops sending before serve stops answering (its 25 s drain).
    let delay: u64 = group["TargetGroupAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
        .and_then(|a| a["Value"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("{group_id}: the default deregistration delay is 300 s"));
    assert!(delay < 25, "{group_id}: deregistration delay {delay} s");

    let service = stack.resource(service_id);
    assert_eq!(service["Type"], "AWS::ECS::Service");
    let props = &service["Properties"];
    assert_eq!(
        props["LoadBalancers"],
        json!([{ "TargetGroupArn": reference(group_id), "ContainerName": "php", "ContainerPort": 8080 }]),
        "{service_id}"
    );
    assert_eq!(
        props["TaskDefinition"],
        reference(only(stack, "AWS::ECS::TaskDefinition").0)
    );
    assert_eq!(
        props["Cluster"],
        reference(only(stack, "AWS::ECS::Cluster").0)
    );
    assert_eq!(props["LaunchType"], "FARGATE", "{service_id}");
    // Creating a service whose group no listener forwards to fails; its tasks mount EFS.
    let depends = service["DependsOn"].as_array().unwrap();
    for id in
        std::iter::once(rule_id).chain(stack.of_type("AWS::EFS::MountTarget").map(|(id, _)| id))
    {
        assert!(
            depends.contains(&json!(id)),
            "{service_id} must wait for {id}"
        );
    }
    assert!(
        props["HealthCheckGracePeriodSeconds"]
            .as_u64()
            .is_some_and(|s| s > 0),
        "{service_id}"
    );
    let deployment = &props["DeploymentConfiguration"];
    assert_eq!(
        deployment["DeploymentCircuitBreaker"],
        json!({ "Enable": true, "Rollback": true }),
        "{service_id}"
    );
    assert_eq!(
        (
            &deployment["MinimumHealthyPercent"],
            &deployment["MaximumPercent"]
        ),
        (&json!(100), &json!(200)),
        "{service_id}"
    );
    let network = &props["NetworkConfiguration"]["AwsvpcConfiguration"];
    assert_eq!(network["AssignPublicIp"], "DISABLED", "{service_id}");
    assert_eq!(
        network["Subnets"],
        json!([REQUIRED[1].1, REQUIRED[2].1]),
        "{service_id}: the private subnets"
    );
    assert_eq!(
        network["SecurityGroups"],
        json!([reference("TaskSecurityGroup")]),
        "{service_id}"
    );
    // Nothing to serve without a release: no task, until a deploy sets one.
    let (min_tasks, desired) = match release {
        Some(_) => (json!("1"), None),
        None => (json!(0), Some(&json!(0))),
    };
    assert_eq!(props.get("DesiredCount"), desired, "{service_id}");

    // One scalable target for the service, tracking CPU and the ECS group's requests.
    let resource_id = json!({ "Fn::Sub": format!("service/${{Cluster}}/${{{service_id}.Name}}") });
    let targets: Vec<_> = stack
        .of_type("AWS::ApplicationAutoScaling::ScalableTarget")
        .filter(|(_, t)| t["Properties"]["ResourceId"] == resource_id)
        .collect();
    assert_eq!(targets.len(), 1, "{service_id}: one scalable target");
    let (target_id, target) = targets[0];
    let target = &target["Properties"];
    assert_eq!(target["ServiceNamespace"], "ecs");
    assert_eq!(target["ScalableDimension"], "ecs:service:DesiredCount");
    assert_eq!(target["MinCapacity"], min_tasks, "{target_id}");
    assert_eq!(target["MaxCapacity"], "4", "{target_id}");
    let mut metrics: Vec<(&str, &Value)> = stack
        .of_type("AWS::ApplicationAutoScaling::ScalingPolicy")
        .filter(|(_, p)| p["Properties"]["ScalingTargetId"] == reference(target_id))
        .map(|(id, p)| {
            let props = &p["Properties"];
            assert_eq!(props["PolicyType"], "TargetTrackingScaling", "{id}");
            let config = &props["TargetTrackingScalingPolicyConfiguration"];
            let metric = &config["PredefinedMetricSpecification"];
            (metric["PredefinedMetricType"].as_str().unwrap(), metric)
        })
        .collect();
    metrics.sort_by_key(|(kind, _)| *kind);
    let kinds: Vec<&str> = metrics.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(
        kinds,
        [
            "ALBRequestCountPerTarget",
            "ECSServiceAverageCPUUtilization"
        ],
        "{target_id}"
    );
    let (lb_id, _) = only(stack, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    assert_eq!(
        metrics[0].1["ResourceLabel"],
        json!({ "Fn::Join": ["/", [
            { "Fn::GetAtt": [lb_id, "LoadBalancerFullName"] },
            { "Fn::GetAtt": [group_id, "TargetGroupFullName"] },
        ]] }),
        "{target_id}: requests per target of {group_id}"
    );
}

/// A `Fn::Sub` with variables: (the string, its variables).
fn sub(value: &Value) -> (&str, &Value) {
    let args = value["Fn::Sub"]
        .as_array()
        .unwrap_or_else(|| panic!("not a Fn::Sub with variables: {value}"));
    (args[0].as_str().unwrap(), &args[1])
}

/// HTTPS with the certificate, a 404 for unknown hosts; HTTP redirected to HTTPS.
fn load_balancer(stack: &Stack) {
    let (lb_id, lb) = only(stack, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    assert_eq!(lb["Properties"]["Scheme"], "internet-facing");
    assert_eq!(
        lb["Properties"]["Subnets"],
        json!(REQUIRED[3].1.split(',').collect::<Vec<_>>())
    );
    let listeners: Vec<_> = stack
        .of_type("AWS::ElasticLoadBalancingV2::Listener")
        .collect();
    assert_eq!(listeners.len(), 2);
    for (id, listener) in listeners {
        let props = &listener["Properties"];
        assert_eq!(props["LoadBalancerArn"], reference(lb_id), "{id}");
        match props["Protocol"].as_str() {
            Some("HTTPS") => {
                assert_eq!(props["Port"], 443);
                assert_eq!(
                    props["Certificates"],
                    json!([{ "CertificateArn": CERTIFICATE }])
                );
                let action = &props["DefaultActions"][0];
                assert_eq!(action["Type"], "fixed-response");
                assert_eq!(action["FixedResponseConfig"]["StatusCode"], "404");
            }
            Some("HTTP") => {
                assert_eq!(props["Port"], 80);
                let action = &props["DefaultActions"][0];
                assert_eq!(action["Type"], "redirect");
                assert_eq!(action["RedirectConfig"]["Protocol"], "HTTPS");
                assert_eq!(action["RedirectConfig"]["Port"], "443");
                assert_eq!(action["RedirectConfig"]["StatusCode"], "HTTP_301");
            }
            other => panic!("{id}: unexpected protocol {other:?}"),
        }
    }
}

fn function(
    stack: &Stack,
    own_layer: bool,
    architecture: &str,
    release: Option<&str>,
    context: &str,
) {
    let function = stack.resource("Function");
    assert_eq!(function["Type"], "AWS::Lambda::Function");
    let props = &function["Properties"];
    assert_eq!(props["Runtime"], "provided.al2023");
    assert_eq!(
        props["Handler"], "index.php",
        "the default front controller"
    );
    assert_eq!(props["Architectures"], json!([architecture]), "{context}");
    assert_eq!(props["Role"], arn_of("FunctionRole"));

    let layers: Vec<_> = stack.of_type("AWS::Lambda::LayerVersion").collect();
    if own_layer {
        assert_eq!(
            layers.len(),
            1,
            "{context}: the stack publishes its own layer"
        );
        let (layer_id, layer) = layers[0];
        assert_eq!(props["Layers"], json!([reference(layer_id)]), "{context}");
        // `make layer`'s output (layer/build.sh: target/layer/lamphp-php<PHP>-<arch>.zip).
        assert_eq!(
            layer["Properties"]["Content"],
            json!({ "S3Bucket": "packaged", "S3Key": "target/layer/lamphp-php8.4-x86_64.zip" })
        );
        assert_eq!(
            layer["Properties"]["CompatibleArchitectures"],
            json!(["x86_64"])
        );
        assert_eq!(
            layer["Properties"]["CompatibleRuntimes"],
            json!(["provided.al2023"])
        );
    } else {
        assert!(
            layers.is_empty(),
            "{context}: a LayerArn is given, yet the stack publishes a layer"
        );
        assert_eq!(props["Layers"], json!([LAYER_ARN]), "{context}");
    }

    // EFS through the access point, at /mnt/site, once the mount targets exist.
    let (access_point_id, access_point) = only(stack, "AWS::EFS::AccessPoint");
    assert_eq!(
        props["FileSystemConfigs"],
        json!([{ "Arn": arn_of(access_point_id), "LocalMountPath": "/mnt/site" }])
    );
    let (fs_id, fs) = only(stack, "AWS::EFS::FileSystem");
    assert_eq!(access_point["Properties"]["FileSystemId"], reference(fs_id));
    // A file system policy makes EFS ask IAM (without one, any client that reaches a
    // mount target gets in); this one grants the account's IAM policies, nobody else.
    let statements = fs["Properties"]["FileSystemPolicy"]["Statement"]
        .as_array()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{fs_id} has no file system policy"));
    for statement in statements {
        assert_eq!(
            statement["Principal"]["AWS"]["Fn::Sub"],
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
            "{fs_id}'s policy grants beyond the account's IAM"
        );
    }
    let mount_targets: Vec<&str> = stack
        .of_type("AWS::EFS::MountTarget")
        .map(|(id, _)| id)
        .collect();
    assert!(!mount_targets.is_empty());
    let depends: Vec<&str> = function["DependsOn"]
        .as_array()
        .expect("the function depends on the mount targets")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for id in &mount_targets {
        assert!(depends.contains(id), "the function does not depend on {id}");
    }
    let subnets = props["VpcConfig"]["SubnetIds"].as_array().unwrap();
    for (id, target) in stack.of_type("AWS::EFS::MountTarget") {
        assert!(
            subnets.contains(&target["Properties"]["SubnetId"]),
            "{id} is not in a subnet of the function"
        );
    }

    let env = &props["Environment"]["Variables"];
    assert_eq!(env["LAMPHP_RELEASES"], "/mnt/site/releases");
    assert_eq!(
        env["LAMPHP_SESSION_TABLE"],
        reference(only(stack, "AWS::DynamoDB::Table").0)
    );
    assert_eq!(env["LAMPHP_OFFLOAD_BUCKET"], reference("OffloadBucket"));
    assert_eq!(
        env.get("LAMPHP_RELEASE").and_then(Value::as_str),
        release,
        "{context}"
    );
}

fn endpoints(stack: &Stack, route_tables: &[&str], context: &str) {
    let endpoints: Vec<_> = stack.of_type("AWS::EC2::VPCEndpoint").collect();
    if route_tables.is_empty() {
        assert!(
            endpoints.is_empty(),
            "{context}: endpoints without route tables"
        );
        return;
    }
    let mut services: Vec<String> = endpoints
        .iter()
        .map(|(id, e)| {
            let props = &e["Properties"];
            assert_eq!(props["VpcEndpointType"], "Gateway", "{id}");
            assert_eq!(props["RouteTableIds"], json!(route_tables), "{id}");
            assert_eq!(props["VpcId"], REQUIRED[0].1, "{id}");
            let service = props["ServiceName"]["Fn::Sub"].as_str().unwrap();
            service.rsplit('.').next().unwrap().to_string()
        })
        .collect();
    services.sort();
    assert_eq!(services, ["dynamodb", "s3"], "{context}");
}

fn session_table(stack: &Stack) {
    let (id, table) = only(stack, "AWS::DynamoDB::Table");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST", "{id}");
    assert_eq!(
        props["KeySchema"],
        json!([{ "AttributeName": "id", "KeyType": "HASH" }])
    );
    assert_eq!(
        props["AttributeDefinitions"],
        json!([{ "AttributeName": "id", "AttributeType": "S" }])
    );
    assert_eq!(
        props["TimeToLiveSpecification"],
        json!({ "AttributeName": "expires", "Enabled": true })
    );
}

/// Both buckets private, each with an expiry rule: offloaded responses live a day,
/// release bundles a week.
fn buckets(stack: &Stack) {
    for (id, days) in [("OffloadBucket", 1), ("ReleaseBucket", 7)] {
        let props = &stack.resource(id)["Properties"];
        let rules = props["LifecycleConfiguration"]["Rules"].as_array().unwrap();
        assert!(
            rules
                .iter()
                .any(|r| r["Status"] == "Enabled" && r["ExpirationInDays"] == days),
            "{id}: no enabled {days}-day expiry rule"
        );
        for block in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(
                props["PublicAccessBlockConfiguration"][block], true,
                "{id}: {block}"
            );
        }
    }
}

/// NFS only from the function; the load balancer takes 80 and 443 only.
fn security_groups(stack: &Stack) {
    let function_sg = &stack.resource("Function")["Properties"]["VpcConfig"]["SecurityGroupIds"];
    assert_eq!(function_sg.as_array().unwrap().len(), 1);
    let function_sg = &function_sg[0];
    for (id, target) in stack.of_type("AWS::EFS::MountTarget") {
        let groups = target["Properties"]["SecurityGroups"].as_array().unwrap();
        for group in groups {
            let rules = stack.resource(referenced(group))["Properties"]["SecurityGroupIngress"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(!rules.is_empty(), "{id}: nothing may reach EFS");
            for rule in rules {
                assert_eq!(
                    (
                        &rule["FromPort"],
                        &rule["ToPort"],
                        &rule["SourceSecurityGroupId"]
                    ),
                    (&json!(2049), &json!(2049), function_sg),
                    "{id}: EFS takes NFS from the function only"
                );
            }
        }
    }
    let (_, lb) = only(stack, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    for group in lb["Properties"]["SecurityGroups"].as_array().unwrap() {
        for rule in stack.resource(referenced(group))["Properties"]["SecurityGroupIngress"]
            .as_array()
            .unwrap()
        {
            let port = rule["FromPort"].as_u64().unwrap();
            assert!(port == 80 || port == 443, "the load balancer takes {port}");
            assert_eq!(rule["ToPort"], port);
        }
    }
}

/// Every statement of the function's role is scoped to the resource it is for, but the
/// ENI actions Lambda needs for a VPC, which EC2 does not scope.
fn iam(stack: &Stack) {
    let (log_group, _) = only_of(stack, "AWS::Logs::LogGroup", "LogGroup");
    let expected: [(Value, &[&str]); 5] = [
        (
            arn_of(log_group),
            &["logs:CreateLogStream", "logs:PutLogEvents"],
        ),
        (
            arn_of(only(stack, "AWS::DynamoDB::Table").0),
            &SESSION_ACTIONS,
        ),
        (
            json!({ "Fn::Sub": "${OffloadBucket.Arn}/*" }),
            &["s3:GetObject", "s3:PutObject"],
        ),
        (arn_of(only(stack, "AWS::EFS::FileSystem").0), &EFS_ACTIONS),
        (
            json!("*"),
            &[
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:UnassignPrivateIpAddresses",
            ],
        ),
    ];
    role_grants(stack, "FunctionRole", "lambda.amazonaws.com", &expected);
}

/// What a session store needs of its table (no Scan: TTL sweeps).
const SESSION_ACTIONS: [&str; 4] = [
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
];

const EFS_ACTIONS: [&str; 2] = [
    "elasticfilesystem:ClientMount",
    "elasticfilesystem:ClientWrite",
];

/// The resource of a type whose logical id is `id`, when the stack may have several.
fn only_of<'a>(stack: &'a Stack, kind: &str, id: &'a str) -> (&'a str, &'a Value) {
    let resource = stack.resource(id);
    assert_eq!(resource["Type"], kind, "{id}");
    (id, resource)
}

/// A role assumed by `principal` whose inline policies allow exactly `expected` (resource,
/// sorted actions) and no more, with no managed policy, EFS only through the access point.
fn role_grants(stack: &Stack, role_id: &str, principal: &str, expected: &[(Value, &[&str])]) {
    let props = &stack.resource(role_id)["Properties"];
    assert!(
        props.get("ManagedPolicyArns").is_none(),
        "{role_id}: managed policies grant more than is used"
    );
    assert_eq!(
        props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        json!({ "Service": principal }),
        "{role_id}"
    );
    let statements: Vec<&Value> = props["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    let grants = |resource: &Value| -> Vec<String> {
        let mut actions: Vec<String> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && s["Resource"] == *resource)
            .flat_map(|s| match &s["Action"] {
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                one => vec![one.as_str().unwrap().to_string()],
            })
            .collect();
        actions.sort();
        actions
    };
    for (resource, actions) in expected {
        assert_eq!(
            grants(resource),
            *actions,
            "{role_id}'s grants on {resource}"
        );
    }
    assert_eq!(
        statements.len(),
        expected.len(),
        "{role_id} has statements beyond those it needs: {statements:?}"
    );
    let fs = arn_of(only(stack, "AWS::EFS::FileSystem").0);
    let efs = statements
        .iter()
        .find(|s| s["Resource"] == fs)
        .unwrap_or_else(|| panic!("{role_id} cannot mount EFS"));
    assert_eq!(
        efs["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"],
        arn_of(only(stack, "AWS::EFS::AccessPoint").0),
        "{role_id}: EFS only through the access point"
    );
}

/// What the release command reads from the stack: the function always, the ECS names when
/// ECS serves.
fn outputs(stack: &Stack, compute: Compute) {
    for name in [
        "FunctionName",
        "ReleaseBucket",
        "StagingUrl",
        "ProductionUrl",
        "LoadBalancerDnsName",
    ] {
        assert!(stack.outputs.contains_key(name), "no output {name}");
    }
    assert_eq!(
        stack.outputs["FunctionName"]["Value"],
        reference("Function")
    );
    assert_eq!(
        stack.outputs["ReleaseBucket"]["Value"],
        reference("ReleaseBucket")
    );
    let ecs_outputs = [
        "ClusterName",
        "StagingServiceName",
        "ProductionServiceName",
        "TaskDefinitionFamily",
    ];
    if !compute.serves_ecs() {
        for name in ecs_outputs {
            assert!(
                !stack.outputs.contains_key(name),
                "{compute:?}: output {name}"
            );
        }
        return;
    }
    let value = |name: &str| &stack.outputs[name]["Value"];
    assert_eq!(
        value("ClusterName"),
        &reference(only(stack, "AWS::ECS::Cluster").0)
    );
    for service in ["StagingService", "ProductionService"] {
        assert_eq!(
            value(&format!("{service}Name")),
            &json!({ "Fn::GetAtt": [service, "Name"] }),
            "Ref of a service is its ARN"
        );
    }
    assert_eq!(
        value("TaskDefinitionFamily"),
        &only(stack, "AWS::ECS::TaskDefinition").1["Properties"]["Family"]
    );
}

/// The stack with `Compute=lambda` has nothing of ECS: no cluster, task definition,
/// service, scaling, roles for tasks or rules admitting them.
fn no_ecs(stack: &Stack, context: &str) {
    let ecs: Vec<&String> = stack
        .resources
        .iter()
        .filter(|(_, r)| {
            let kind = r["Type"].as_str().unwrap();
            kind.starts_with("AWS::ECS::")
                || kind.starts_with("AWS::ApplicationAutoScaling::")
                || kind == "AWS::EC2::SecurityGroupIngress"
                || r["Properties"]["AssumeRolePolicyDocument"]
                    .to_string()
                    .contains("ecs-tasks")
        })
        .map(|(id, _)| id)
        .collect();
    assert!(ecs.is_empty(), "{context}: {ecs:?}");
    assert_eq!(
        stack.of_type("AWS::Logs::LogGroup").count(),
        1,
        "{context}: the function's log group only"
    );
}

/// The one task definition both services run: Fargate, the architecture asked for, the
/// container `php` on 8080 with serve's health check, the EFS access point with IAM and
/// TLS at /mnt/site, the release and the session table in its environment, logs in the
/// stack's group; its roles scoped to what tasks and ECS need; EFS admitting the tasks.
fn ecs_tasks(stack: &Stack, architecture: &str, release: Option<&str>) {
    let (definition_id, definition) = only(stack, "AWS::ECS::TaskDefinition");
    // A replaced revision stays active, for a service to be moved back to it.
    assert_eq!(
        definition["UpdateReplacePolicy"], "Retain",
        "{definition_id}"
    );
    let props = &definition["Properties"];
    assert_eq!(props["RequiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(props["NetworkMode"], "awsvpc");
    assert_eq!(
        (&props["Cpu"], &props["Memory"]),
        (&json!("512"), &json!("1024")),
        "the default size"
    );
    let cpu_architecture = match architecture {
        "arm64" => "ARM64",
        _ => "X86_64",
    };
    assert_eq!(
        props["RuntimePlatform"],
        json!({ "OperatingSystemFamily": "LINUX", "CpuArchitecture": cpu_architecture }),
        "{architecture}"
    );
    assert_eq!(props["TaskRoleArn"], arn_of("TaskRole"));
    assert_eq!(props["ExecutionRoleArn"], arn_of("TaskExecutionRole"));

    let containers = props["ContainerDefinitions"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{definition_id}: one container");
    let php = &containers[0];
    assert_eq!(php["Name"], "php");
    assert_eq!(php["Image"], IMAGE);
    assert_eq!(
        php["PortMappings"],
        json!([{ "ContainerPort": 8080, "Protocol": "tcp" }])
    );
    assert_eq!(
        php["StopTimeout"], 30,
        "serve drains 25 s, ECS kills at this"
    );
    assert_eq!(
        php["HealthCheck"]["Command"],
        json!(["CMD", "/opt/bootstrap", "health"])
    );

    // EFS: the function's access point, IAM-authorized (the task role), over TLS.
    let (fs_id, _) = only(stack, "AWS::EFS::FileSystem");
    let (access_point_id, _) = only(stack, "AWS::EFS::AccessPoint");
    let mounts = php["MountPoints"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["ContainerPath"], "/mnt/site");
    let volume = props["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == mounts[0]["SourceVolume"])
        .expect("the mount's volume");
    assert_eq!(
        volume["EFSVolumeConfiguration"],
        json!({
            "FilesystemId": reference(fs_id),
            "TransitEncryption": "ENABLED",
            "AuthorizationConfig": { "AccessPointId": reference(access_point_id), "IAM": "ENABLED" },
        })
    );

    let env: serde_json::Map<String, Value> = php["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["Name"].as_str().unwrap().to_string(), e["Value"].clone()))
        .collect();
    assert_eq!(env["LAMPHP_RELEASES"], "/mnt/site/releases");
    assert_eq!(env.get("LAMPHP_RELEASE").and_then(Value::as_str), release);
    assert_eq!(env["_HANDLER"], "index.php", "the function's Handler");
    // A docroot pinned in the task definition would outlive a later LAMPHP_RELEASE.
    assert!(
        !env.contains_key("LAMPHP_ROOT"),
        "the release decides the docroot"
    );
    assert_eq!(
        env["LAMPHP_SESSION_TABLE"],
        reference(only(stack, "AWS::DynamoDB::Table").0)
    );
    assert!(
        env["LAMPHP_TRUSTED_PROXIES"]
            .as_str()
            .is_some_and(|p| !p.is_empty()),
        "serve must believe the ALB's X-Forwarded-*"
    );
    assert!(
        !env.contains_key("LAMPHP_OFFLOAD_BUCKET"),
        "serve does not offload"
    );

    let logs = &php["LogConfiguration"];
    assert_eq!(logs["LogDriver"], "awslogs");
    let group = referenced(&logs["Options"]["awslogs-group"]);
    assert_eq!(stack.resource(group)["Type"], "AWS::Logs::LogGroup");

    // The task role: sessions and EFS, nothing of Lambda, S3 or the release bucket.
    let expected: [(Value, &[&str]); 2] = [
        (
            arn_of(only(stack, "AWS::DynamoDB::Table").0),
            &SESSION_ACTIONS,
        ),
        (arn_of(fs_id), &EFS_ACTIONS),
    ];
    role_grants(stack, "TaskRole", "ecs-tasks.amazonaws.com", &expected);
    let policies = stack.resource("TaskRole")["Properties"]["Policies"].to_string();
    for unrelated in ["lambda:", "s3:", "ReleaseBucket", "OffloadBucket"] {
        assert!(
            !policies.contains(unrelated),
            "the task role grants {unrelated}"
        );
    }
    // The execution role: ECS's own pull-and-log policy, nothing else.
    let execution = &stack.resource("TaskExecutionRole")["Properties"];
    assert_eq!(
        execution["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        json!({ "Service": "ecs-tasks.amazonaws.com" })
    );
    assert_eq!(
        execution["ManagedPolicyArns"],
        json!([{ "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" }])
    );
    assert!(execution.get("Policies").is_none());

    // Tasks take 8080 from the load balancer only; EFS takes NFS from them.
    let (lb_id, lb) = only(stack, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    let alb_groups = lb["Properties"]["SecurityGroups"].as_array().unwrap();
    assert_eq!(alb_groups.len(), 1, "{lb_id}");
    let tasks_group = &stack.resource("TaskSecurityGroup")["Properties"];
    for rule in tasks_group["SecurityGroupIngress"].as_array().unwrap() {
        assert_eq!(
            (
                &rule["FromPort"],
                &rule["ToPort"],
                &rule["SourceSecurityGroupId"]
            ),
            (&json!(8080), &json!(8080), &alb_groups[0]),
            "tasks take 8080 from the load balancer only"
        );
    }
    let efs_groups: Vec<&Value> = stack
        .of_type("AWS::EFS::MountTarget")
        .flat_map(|(_, t)| t["Properties"]["SecurityGroups"].as_array().unwrap())
        .collect();
    let from_tasks: Vec<_> = stack.of_type("AWS::EC2::SecurityGroupIngress").collect();
    assert_eq!(from_tasks.len(), 1, "{from_tasks:?}");
    let rule = &from_tasks[0].1["Properties"];
    assert!(efs_groups.contains(&&rule["GroupId"]), "{rule}");
    assert_eq!(
        (
            &rule["FromPort"],
            &rule["ToPort"],
            &rule["SourceSecurityGroupId"]
        ),
        (&json!(2049), &json!(2049), &reference("TaskSecurityGroup")),
        "EFS takes NFS from the tasks"
    );
}

/// The SES statements of a role: (resources, sorted actions).
fn ses_grants(stack: &Stack, role_id: &str) -> Vec<(Value, Vec<String>)> {
    stack.resource(role_id)["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .filter(|s| s.to_string().contains("ses:"))
        .map(|s| {
            let mut actions: Vec<String> = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            actions.sort();
            (s["Resource"].clone(), actions)
        })
        .collect()
}

/// The mail settings the function and the container get.
fn mail_env(stack: &Stack, compute: Compute) -> Vec<serde_json::Map<String, Value>> {
    let keep =
        |(k, v): (&String, &Value)| k.starts_with("LAMPHP_MAIL").then(|| (k.clone(), v.clone()));
    // The function exists with every Compute.
    let vars = &stack.resource("Function")["Properties"]["Environment"]["Variables"];
    let mut envs = vec![vars.as_object().unwrap().iter().filter_map(keep).collect()];
    if compute.serves_ecs() {
        let (_, definition) = only(stack, "AWS::ECS::TaskDefinition");
        let php = &definition["Properties"]["ContainerDefinitions"][0];
        let pairs: serde_json::Map<String, Value> = php["Environment"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["Name"].as_str().unwrap().to_owned(), e["Value"].clone()))
            .collect();
        envs.push(pairs.iter().filter_map(keep).collect());
    }
    envs
}

/// With MailFrom, the function (and with ECS the tasks) may send as that one SES identity,
/// MailFrom's domain unless MailIdentity names another, with the configuration set if one
/// is given, and run with LAMPHP_MAIL=ses; without it, nothing of SES at all.
#[test]
fn mail_from_grants_sending_as_its_identity_only() {
    let identity = |name: &str| {
        json!({ "Fn::Sub": [
            "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Identity}",
            { "Identity": name },
        ] })
    };
    let set = json!({ "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${MailConfigurationSet}" });
    let actions = vec!["ses:SendEmail".to_owned(), "ses:SendRawEmail".to_owned()];
    let ecs = [("Compute", "ecs"), ("ImageUri", IMAGE)];
    let both = [("Compute", "both"), ("ImageUri", IMAGE)];
    let from = ("MailFrom", "site@mail.example.com");
    type Case<'a> = (
        Compute,
        Vec<(&'a str, &'a str)>,
        Option<(Value, Option<&'a str>)>,
    );
    let cases: [Case; 5] = [
        (Compute::Lambda, vec![], None),
        (Compute::Both(50), both.to_vec(), None),
        (
            Compute::Lambda,
            vec![from],
            Some((json!([identity("mail.example.com")]), None)),
        ),
        (
            Compute::Ecs,
            [&ecs[..], &[from, ("MailIdentity", "site@mail.example.com")]].concat(),
            Some((json!([identity("site@mail.example.com")]), None)),
        ),
        (
            Compute::Both(50),
            [&both[..], &[from, ("MailConfigurationSet", "tracked")]].concat(),
            Some((json!([identity("mail.example.com"), set]), Some("tracked"))),
        ),
    ];
    for (compute, params, mail) in cases {
        let (template, stack) = deployed(&params);
        let context = format!("{params:?}");
        lint_stack(&template, &stack, &context);
        let mut roles = vec!["FunctionRole"];
        if compute.serves_ecs() {
            roles.push("TaskRole");
        }
        for role in roles {
            let grants = ses_grants(&stack, role);
            match &mail {
                None => assert!(
                    grants.is_empty(),
                    "{context}: {role} grants SES: {grants:?}"
                ),
                Some((resources, _)) => assert_eq!(
                    grants,
                    [(resources.clone(), actions.clone())],
                    "{context}: {role}"
                ),
            }
        }
        for env in mail_env(&stack, compute) {
            let want: serde_json::Map<String, Value> = match &mail {
                None => Default::default(),
                Some((_, set)) => [
                    Some(("LAMPHP_MAIL", "ses")),
                    Some(("LAMPHP_MAIL_FROM", from.1)),
                    set.map(|s| ("LAMPHP_MAIL_CONFIGURATION_SET", s)),
                ]
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect(),
            };
            assert_eq!(env, want, "{context}");
        }
    }
}
