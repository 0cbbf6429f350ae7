//! `sam/template.yaml`, validated offline: `cfn-lint` passes, and the CloudFormation the
//! SAM transform (`aws-sam-translator`, `transform.py` here) makes of it is inspected for
//! each parameter combination that changes the stack's shape: the routing (host → listener
//! rule → target group → qualifier), the invoke permissions, the session table, the
//! function's layer, EFS mount and architecture, the buckets' expiry and IAM's scope.
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

/// The stack one `sam deploy` with `REQUIRED` and `extra` would create.
fn stack(extra: &[(&str, &str)]) -> Stack {
    let params: Vec<(&str, &str)> = REQUIRED.iter().chain(extra).copied().collect();
    let template = transform(&params);
    cfn::deploy(&template, &params).unwrap_or_else(|why| panic!("{extra:?} refused: {why:?}"))
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
    let install = "pip install cfn-lint";
    let output = run_tool(Command::new("cfn-lint").arg(template_path()), install);
    assert!(
        output.status.success(),
        "cfn-lint found problems in sam/template.yaml:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shapes a deploy can take: the stack's own layer or a published one, gateway
/// endpoints or none, x86_64 or arm64, a staging release or none.
#[test]
fn every_shape_routes_mounts_and_scopes_alike() {
    struct Case {
        params: &'static [(&'static str, &'static str)],
        own_layer: bool,
        route_tables: &'static [&'static str],
        architecture: &'static str,
        release: Option<&'static str>,
    }
    let cases = [
        Case {
            params: &[],
            own_layer: true,
            route_tables: &[],
            architecture: "x86_64",
            release: None,
        },
        Case {
            params: &[
                ("LayerArn", LAYER_ARN),
                ("RouteTableIds", "rtb-01,rtb-02"),
                ("Release", "3f2a9c0d1b7e4f60"),
            ],
            own_layer: false,
            route_tables: &["rtb-01", "rtb-02"],
            architecture: "x86_64",
            release: Some("3f2a9c0d1b7e4f60"),
        },
        Case {
            params: &[
                ("Architecture", "arm64"),
                ("LayerArn", LAYER_ARN),
                ("RouteTableIds", "rtb-01"),
            ],
            own_layer: false,
            route_tables: &["rtb-01"],
            architecture: "arm64",
            release: None,
        },
    ];
    for case in cases {
        let stack = stack(case.params);
        let context = format!("{:?}", case.params);
        routing(&stack);
        load_balancer(&stack);
        function(
            &stack,
            case.own_layer,
            case.architecture,
            case.release,
            &context,
        );
        endpoints(&stack, case.route_tables, &context);
        session_table(&stack);
        buckets(&stack);
        security_groups(&stack);
        iam(&stack);
        outputs(&stack);
    }
}

/// The stack's own layer is `make layer`'s x86_64 zip: an arm64 function must be given one.
#[test]
fn arm64_without_a_layer_arn_is_refused() {
    let params: Vec<(&str, &str)> = REQUIRED
        .iter()
        .copied()
        .chain([("Architecture", "arm64")])
        .collect();
    let refused = cfn::deploy(&transform(&params), &params)
        .err()
        .expect("an arm64 stack with the x86_64 layer deployed");
    assert!(
        refused.iter().any(|r| r.contains("LayerArn")),
        "{refused:?}"
    );
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

/// StagingDomain → the unqualified function ($LATEST), ProductionDomain → the `live` alias,
/// each through its own target group and invoke permission.
fn routing(stack: &Stack) {
    let (alias_id, _) = only(stack, "AWS::Lambda::Alias");
    let qualifiers = [
        (STAGING, arn_of("Function")),
        (PRODUCTION, reference(alias_id)),
    ];
    let rules: Vec<_> = stack
        .of_type("AWS::ElasticLoadBalancingV2::ListenerRule")
        .collect();
    assert_eq!(rules.len(), qualifiers.len(), "one listener rule per host");
    let permissions: Vec<_> = stack.of_type("AWS::Lambda::Permission").collect();
    assert_eq!(
        permissions.len(),
        qualifiers.len(),
        "one invoke permission per qualifier"
    );
    for (host, target) in qualifiers {
        let (_, rule) = rules
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
        let actions = rule["Properties"]["Actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0]["Type"], "forward");
        let group_id = referenced(&actions[0]["TargetGroupArn"]);
        let group = stack.resource(group_id);
        assert_eq!(group["Type"], "AWS::ElasticLoadBalancingV2::TargetGroup");
        let props = &group["Properties"];
        assert_eq!(props["TargetType"], "lambda");
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
            .find(|(_, p)| p["Properties"]["FunctionName"] == target)
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
    let role = stack.resource("FunctionRole");
    let props = &role["Properties"];
    assert!(
        props.get("ManagedPolicyArns").is_none(),
        "managed policies grant more than the function uses"
    );
    assert_eq!(
        props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        json!({ "Service": "lambda.amazonaws.com" })
    );
    let statements: Vec<&Value> = props["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    let grants = |resource: Value| -> Vec<String> {
        let mut actions: Vec<String> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && s["Resource"] == resource)
            .flat_map(|s| match &s["Action"] {
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                one => vec![one.as_str().unwrap().to_string()],
            })
            .collect();
        actions.sort();
        actions
    };
    let (log_group, _) = only(stack, "AWS::Logs::LogGroup");
    let (table, _) = only(stack, "AWS::DynamoDB::Table");
    let (fs, _) = only(stack, "AWS::EFS::FileSystem");
    let expected: [(Value, &[&str]); 5] = [
        (
            arn_of(log_group),
            &["logs:CreateLogStream", "logs:PutLogEvents"],
        ),
        (
            arn_of(table),
            &[
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        ),
        (
            json!({ "Fn::Sub": "${OffloadBucket.Arn}/*" }),
            &["s3:GetObject", "s3:PutObject"],
        ),
        (
            arn_of(fs),
            &[
                "elasticfilesystem:ClientMount",
                "elasticfilesystem:ClientWrite",
            ],
        ),
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
    for (resource, actions) in &expected {
        assert_eq!(
            grants(resource.clone()),
            *actions,
            "the role's grants on {resource}"
        );
    }
    assert_eq!(
        statements.len(),
        expected.len(),
        "the role has statements beyond those the function needs: {statements:?}"
    );
    let efs = statements
        .iter()
        .find(|s| s["Resource"] == arn_of(fs))
        .unwrap();
    assert_eq!(
        efs["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"],
        arn_of(only(stack, "AWS::EFS::AccessPoint").0),
        "EFS only through the access point"
    );
}

fn outputs(stack: &Stack) {
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
}
