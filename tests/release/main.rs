//! The release flow end to end (issue 6, item 4): the `lamphp` command against moto's
//! Lambda control plane and S3, with the function's Invoke routed ([`proxy`]) to `cargo
//! lambda watch` running the real `bootstrap`, a temporary directory standing in for EFS.
//! What each host serves is checked in the configuration (the release of `$LATEST` and
//! of each version `live` routes to) and by serving a page of that release with
//! `bootstrap local`, as the function would with that configuration.
//!
//! With ECS (`ecs_services_are_released_with_the_function`), moto's ECS holds a cluster,
//! one task definition family and the staging and production services; what they serve
//! is checked in the revision each service runs (its container `php`'s LAMPHP_RELEASE).
//!
//! moto 5.2.1 does not enforce `publish_version`'s CodeSha256/RevisionId guards nor
//! UpdateFunctionConfiguration's RevisionId, and reports no RevisionId in a function's
//! configuration, so those guards are exercised only against AWS.

#[path = "../lambda/emulator.rs"]
mod emulator;
#[path = "../parity/http.rs"]
mod http;
#[path = "../offload/moto.rs"]
mod moto;
mod proxy;
#[path = "../serve/server.rs"]
mod server;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use emulator::Watch;
use moto::Moto;
use proxy::Proxy;
use server::{bootstrap_exe, Server};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

const FUNCTION: &str = "site";
const BUCKET: &str = "lamphp-releases";
const ROLE: &str = "arn:aws:iam::123456789012:role/lamphp";
const CLUSTER: &str = "site";
const FAMILY: &str = "site";

/// What the configuration says each host serves.
#[derive(Debug, PartialEq)]
struct Serving {
    staging: Option<String>,
    /// `live`'s version and its release.
    live: Option<(String, Option<String>)>,
    /// The canary's version, weight and release.
    canary: Option<(String, f64, Option<String>)>,
}

struct Env {
    _moto: Moto,
    watch: Watch,
    proxy: Proxy,
    lambda: aws_sdk_lambda::Client,
    ecs: aws_sdk_ecs::Client,
    /// Whether `lamphp` is given the cluster and its services.
    services: bool,
    runtime: tokio::runtime::Runtime,
    releases: PathBuf,
    temp: tempfile::TempDir,
}

impl Env {
    fn start() -> Env {
        Env::start_with(false)
    }

    /// An Env whose `lamphp` releases the ECS services too: a cluster with the staging and
    /// production services, both running revision 1 of the family, which serves no
    /// release yet (as the stack creates it).
    fn with_services() -> Env {
        let env = Env::start_with(true);
        env.runtime.block_on(async {
            env.ecs
                .create_cluster()
                .cluster_name(CLUSTER)
                .send()
                .await
                .unwrap();
        });
        let first = env.register(FAMILY, "php", &[("LAMPHP_SESSION_TABLE", "sessions")]);
        for name in ["staging", "production"] {
            env.create_service(name, &first, 0);
        }
        env
    }

    fn start_with(services: bool) -> Env {
        let temp = tempfile::tempdir().unwrap();
        let releases = temp.path().join("efs/releases");
        let moto = Moto::start();
        moto.create_bucket(BUCKET);
        create_role(&moto);
        let mut watch = Watch::start(env!("CARGO_MANIFEST_DIR").as_ref());
        let task_root = temp.path().join("task");
        std::fs::create_dir(&task_root).unwrap();
        // No release yet: the function starts without a site, to unpack the first one.
        watch.runtime(
            &bootstrap_exe(),
            [
                ("LAMPHP_RELEASES", releases.clone()),
                ("LAMBDA_TASK_ROOT", task_root),
                ("_HANDLER", "public/index.php".into()),
                ("LAMPHP_RUNTIME_DIR", temp.path().join("runtime")),
            ],
        );
        let proxy = Proxy::start(moto.port, watch.port);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = runtime.block_on(
            lamphp_release::aws::loader()
                .endpoint_url(proxy.endpoint())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
                .load(),
        );
        let env = Env {
            _moto: moto,
            watch,
            proxy,
            lambda: aws_sdk_lambda::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            services,
            runtime,
            releases,
            temp,
        };
        env.create_function();
        env
    }

    fn create_function(&self) {
        // The smallest zip: an empty archive's end record. moto never runs it.
        let mut zip = b"PK\x05\x06".to_vec();
        zip.resize(22, 0);
        self.runtime
            .block_on(
                self.lambda
                    .create_function()
                    .function_name(FUNCTION)
                    .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                    .role(ROLE)
                    .handler("public/index.php")
                    .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
                    .environment(
                        aws_sdk_lambda::types::Environment::builder()
                            .variables("LAMPHP_SESSION_TABLE", "sessions")
                            .build(),
                    )
                    .send(),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "create_function: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                )
            });
    }

    /// Run `lamphp args`: (success, stdout, stderr).
    fn lamphp(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lamphp"));
        if self.services {
            command
                .env("LAMPHP_CLUSTER", CLUSTER)
                .env("LAMPHP_STAGING_SERVICE", "staging")
                .env("LAMPHP_PRODUCTION_SERVICE", "production");
        }
        let out = command
            .args(args)
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("LAMPHP_FUNCTION", FUNCTION)
            .env("LAMPHP_RELEASE_BUCKET", BUCKET)
            .output()
            .expect("running lamphp");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (out.status.success(), text(out.stdout), text(out.stderr))
    }

    /// Run `lamphp args`, which must succeed; its output.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.lamphp(args);
        // Shown with --nocapture: the command's own words, for reading.
        println!("$ lamphp {}\n{out}{err}", args.join(" "));
        assert!(
            ok,
            "lamphp {args:?} failed:\n{out}{err}\n{}",
            self.watch.log()
        );
        out
    }

    fn release_of(&self, qualifier: &str) -> Option<String> {
        let config = self
            .runtime
            .block_on(
                self.lambda
                    .get_function_configuration()
                    .function_name(FUNCTION)
                    .qualifier(qualifier)
                    .send(),
            )
            .unwrap();
        let vars = config.environment().and_then(|e| e.variables()).unwrap();
        assert_eq!(
            vars.get("LAMPHP_SESSION_TABLE").map(String::as_str),
            Some("sessions"),
            "other variables are kept"
        );
        vars.get("LAMPHP_RELEASE").cloned()
    }

    fn serving(&self) -> Serving {
        let alias = self
            .runtime
            .block_on(
                self.lambda
                    .get_alias()
                    .function_name(FUNCTION)
                    .name("live")
                    .send(),
            )
            .ok();
        let weights: HashMap<String, f64> = alias
            .as_ref()
            .and_then(|a| a.routing_config())
            .and_then(|r| r.additional_version_weights())
            .cloned()
            .unwrap_or_default();
        let canary = weights.into_iter().find(|(_, w)| *w > 0.0).map(|(v, w)| {
            let release = self.release_of(&v);
            (v, w, release)
        });
        Serving {
            staging: self.release_of("$LATEST"),
            live: alias.map(|a| {
                let version = a.function_version().unwrap().to_owned();
                let release = self.release_of(&version);
                (version, release)
            }),
            canary,
        }
    }

    /// The page a host serving `release` answers `/` with, through `bootstrap local`.
    fn page(&self, release: &str) -> String {
        let releases = self.releases.to_str().unwrap();
        let server =
            Server::local_release(&[("LAMPHP_RELEASE", release), ("LAMPHP_RELEASES", releases)]);
        let (status, body) = server.get("/");
        assert_eq!(status, 200, "{}", server.log());
        String::from_utf8(body).unwrap()
    }

    fn site(&self, name: &str, text: &str) -> PathBuf {
        let dir = self.temp.path().join(name);
        std::fs::create_dir_all(dir.join("public/css")).unwrap();
        std::fs::write(
            dir.join("public/index.php"),
            format!("<?php echo '{text}';"),
        )
        .unwrap();
        std::fs::write(dir.join("public/css/site.css"), "body { color: black }").unwrap();
        dir
    }

    /// The entries of the releases directory but the compiled caches' `.opcache`, sorted.
    fn on_efs(&self) -> Vec<String> {
        let mut names = names_in(&self.releases);
        names.retain(|name| name != ".opcache");
        names
    }

    /// The entries of the compiled caches' directory: one per release that has one.
    fn caches(&self) -> Vec<String> {
        names_in(&self.releases.join(".opcache"))
    }

    /// Register a revision of `family` with one container `container` (and `env`); its ARN.
    fn register(&self, family: &str, container: &str, env: &[(&str, &str)]) -> String {
        use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair};
        let mut php = ContainerDefinition::builder()
            .name(container)
            .image("lamphp-site:latest")
            .memory(512);
        for (k, v) in env {
            php = php.environment(KeyValuePair::builder().name(*k).value(*v).build());
        }
        let out = self
            .runtime
            .block_on(
                self.ecs
                    .register_task_definition()
                    .family(family)
                    .container_definitions(php.build())
                    .execution_role_arn(ROLE)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("register: {}", aws_sdk_ecs::error::DisplayErrorContext(e)));
        let td = out.task_definition().unwrap();
        td.task_definition_arn().unwrap().to_owned()
    }

    /// A rolling service of `desired` tasks (moto reports a service with tasks to start
    /// as rolling out, one with none as COMPLETED).
    fn create_service(&self, name: &str, task_definition: &str, desired: i32) {
        self.runtime
            .block_on(
                self.ecs
                    .create_service()
                    .cluster(CLUSTER)
                    .service_name(name)
                    .task_definition(task_definition)
                    .desired_count(desired)
                    .send(),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "create_service: {}",
                    aws_sdk_ecs::error::DisplayErrorContext(e)
                )
            });
    }

    /// The service `name`.
    fn service(&self, name: &str) -> aws_sdk_ecs::types::Service {
        let out = self
            .runtime
            .block_on(
                self.ecs
                    .describe_services()
                    .cluster(CLUSTER)
                    .services(name)
                    .send(),
            )
            .unwrap();
        out.services()[0].clone()
    }

    /// What the service `name` runs: its revision (`family:n`) and that one's release.
    fn runs(&self, name: &str) -> (String, Option<String>) {
        let arn = self.service(name).task_definition().unwrap().to_owned();
        let td = self
            .runtime
            .block_on(
                self.ecs
                    .describe_task_definition()
                    .task_definition(&arn)
                    .send(),
            )
            .unwrap()
            .task_definition()
            .cloned()
            .unwrap();
        let php = &td.container_definitions()[0];
        let env: HashMap<&str, &str> = php
            .environment()
            .iter()
            .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
            .collect();
        if td.family() == Some(FAMILY) {
            assert_eq!(
                env.get("LAMPHP_SESSION_TABLE"),
                Some(&"sessions"),
                "other variables are kept"
            );
        }
        (
            lamphp_release::ecs::short(&arn).to_owned(),
            env.get("LAMPHP_RELEASE").map(|r| (*r).to_owned()),
        )
    }
}

/// The names in `dir`, sorted; none if it does not exist.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file under `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_ending(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}

/// moto checks that the function's role exists. Its IAM takes any signature; the
/// credential scope tells it the service.
fn create_role(moto: &Moto) {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let form = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", "lamphp"),
        ("AssumeRolePolicyDocument", policy),
    ];
    ureq::post(moto.endpoint())
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send_form(form)
        .unwrap_or_else(|e| panic!("creating the role: {e}\n{}", moto.log()));
}

fn deployed_id(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains("now serves release"))
        .unwrap_or_else(|| panic!("no release in {out}"));
    line.rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn deploy_promote_canary_rollback_and_failed_deploys() {
    let env = Env::start();
    let v1 = env.site("v1", "site one");
    let v2 = env.site("v2", "site two");

    // Before the first deploy the function runs without a site: HTTP gets a 503.
    let alb = serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/staging/0123456789abcdef"}},
        "httpMethod": "GET", "path": "/", "headers": {"host": "staging.example.com"},
        "body": "", "isBase64Encoded": false
    });
    let (_, answer) = env.watch.invoke_when_ready(alb.to_string().as_bytes());
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["statusCode"], 503, "{answer}");

    // A deploy: staging serves it, production does not exist yet.
    let id1 = deployed_id(&env.ok(&["deploy", "--site", v1.to_str().unwrap()]));
    assert_eq!(
        env.serving(),
        Serving {
            staging: Some(id1.clone()),
            live: None,
            canary: None
        }
    );
    assert_eq!(
        env.on_efs(),
        std::slice::from_ref(&id1),
        "one whole release, no work directory left"
    );
    assert_eq!(
        env.caches(),
        std::slice::from_ref(&id1),
        "and its compiled PHP"
    );
    assert_eq!(env.page(&id1), "site one");

    // The same site again is the same release: nothing changes.
    let again = env.ok(&["deploy", "--site", v1.to_str().unwrap()]);
    assert!(
        again.contains("already on EFS") && again.contains("already serves"),
        "{again}"
    );

    // A promote: production serves what staging does.
    env.ok(&["promote"]);
    let at1 = Some(("1".to_owned(), Some(id1.clone())));
    assert_eq!(
        env.serving(),
        Serving {
            staging: Some(id1.clone()),
            live: at1.clone(),
            canary: None
        }
    );

    // A second deploy: staging moves, production does not.
    let id2 = deployed_id(&env.ok(&["deploy", "--site", v2.to_str().unwrap()]));
    assert_ne!(id1, id2);
    // Staging the second release, production the first: where each rollback below
    // returns to as well.
    let staged2 = Serving {
        staging: Some(id2.clone()),
        live: at1.clone(),
        canary: None,
    };
    assert_eq!(env.serving(), staged2);
    assert_eq!(env.page(&id1), "site one");
    assert_eq!(env.page(&id2), "site two");

    // A canary, then a rollback during it drops the canary.
    env.ok(&["promote", "--canary", "10"]);
    let canary2 = Some(("2".to_owned(), 0.1, Some(id2.clone())));
    assert_eq!(
        env.serving(),
        Serving {
            staging: Some(id2.clone()),
            live: at1.clone(),
            canary: canary2.clone()
        }
    );
    let (ok, _, err) = env.lamphp(&["promote"]);
    assert!(
        !ok && err.contains("a canary of version 2 is running"),
        "{err}"
    );
    let status = env.ok(&["status"]);
    assert!(
        status.contains(&format!("canary version 2 release {id2} at 10%")),
        "{status}"
    );
    env.ok(&["rollback"]);
    assert_eq!(env.serving(), staged2);

    // The canary again, finished: production serves the second release; a rollback
    // returns it to the first.
    env.ok(&["promote", "--canary", "10"]);
    env.ok(&["promote", "--finish"]);
    let at2 = Some(("2".to_owned(), Some(id2.clone())));
    assert_eq!(
        env.serving(),
        Serving {
            staging: Some(id2.clone()),
            live: at2,
            canary: None
        }
    );
    env.ok(&["rollback"]);
    assert_eq!(env.serving(), staged2);
    let status = env.ok(&["status"]);
    assert!(
        status.contains(&format!("live     version 1 release {id1}")),
        "{status}"
    );
    assert!(
        status.contains("rollback would return live to version 2"),
        "{status}"
    );

    // Failed deploys leave both hosts serving what they served.
    let before = env.serving();
    let (ok, _, err) = env.lamphp(&["deploy", "--site", "/nonexistent/site"]);
    assert!(!ok && err.contains("cannot be read"), "{err}");
    let v3 = env.site("v3", "site three");
    env.proxy.corrupt_bundles.store(true, Ordering::SeqCst);
    let (ok, out, err) = env.lamphp(&["deploy", "--site", v3.to_str().unwrap()]);
    println!("$ lamphp deploy --site v3 (bundle corrupted in S3)\n{out}{err}");
    env.proxy.corrupt_bundles.store(false, Ordering::SeqCst);
    assert!(!ok, "a corrupted bundle was deployed:\n{out}");
    assert!(
        err.contains("the function failed (Unhandled): the bundle's sha256 is")
            && err.contains("is unchanged"),
        "{err}"
    );
    assert_eq!(
        env.watch.log().matches("release command failed").count(),
        1,
        "a function error is not retried"
    );
    assert_eq!(env.serving(), before);
    let mut both = vec![id1.clone(), id2.clone()];
    both.sort();
    assert_eq!(env.on_efs(), both, "no partial release left");
    assert_eq!(env.page(&id1), "site one");
    assert_eq!(env.page(&id2), "site two");

    // ECS services are named all three or not at all.
    let (ok, _, err) = env.lamphp(&["--cluster", "site", "status"]);
    assert!(!ok && err.contains("need all three"), "{err}");

    // Prune keeps what a configuration refers to, and deletes the rest, with its cache.
    assert_eq!(env.caches(), both);
    std::fs::create_dir(env.releases.join("0123456789abcdef")).unwrap();
    std::fs::create_dir_all(env.releases.join(".opcache/0123456789abcdef/sysid")).unwrap();
    let pruned = env.ok(&["prune"]);
    assert!(pruned.contains("removed: 0123456789abcdef"), "{pruned}");
    assert!(
        Path::new(&env.releases).join(&id1).is_dir() && env.releases.join(&id2).is_dir(),
        "{pruned}"
    );
    assert_eq!(env.caches(), both, "the pruned release's cache is gone");
}

#[test]
fn ecs_services_are_released_with_the_function() {
    let env = Env::with_services();
    let v1 = env.site("v1", "site one");
    let v2 = env.site("v2", "site two");
    let unreleased = ("site:1".to_owned(), None);

    // A deploy: the release is unpacked on EFS, the staging service runs a new revision
    // that serves it (as $LATEST does), production is unchanged.
    let id1 = deployed_id(&env.ok(&["deploy", "--site", v1.to_str().unwrap()]));
    assert_eq!(env.on_efs(), std::slice::from_ref(&id1));
    let r2 = ("site:2".to_owned(), Some(id1.clone()));
    assert_eq!(env.runs("staging"), r2);
    assert_eq!(env.runs("production"), unreleased);
    assert_eq!(env.release_of("$LATEST"), Some(id1.clone()));
    let breaker = env.service("staging");
    let breaker = breaker
        .deployment_configuration()
        .and_then(|c| c.deployment_circuit_breaker())
        .expect("the deploy's update sets the circuit breaker");
    assert!(breaker.enable && breaker.rollback, "{breaker:?}");
    assert_eq!(env.page(&id1), "site one");

    // The same site again: nothing registered.
    let again = env.ok(&["deploy", "--site", v1.to_str().unwrap()]);
    assert!(again.contains("already runs site:2"), "{again}");
    assert_eq!(env.runs("staging"), r2);

    // The first promote: production runs staging's revision, and live the function's
    // version of the same release; neither has anything to roll back to.
    env.ok(&["promote"]);
    assert_eq!(env.runs("production"), r2);
    assert_eq!(
        env.serving().live,
        Some(("1".to_owned(), Some(id1.clone())))
    );
    let (ok, _, err) = env.lamphp(&["rollback"]);
    assert!(!ok && err.contains("nothing was rolled back"), "{err}");
    assert_eq!(env.runs("production"), r2);

    // A second deploy and promote; rollback returns production to the first release,
    // a second rollback forward again.
    let id2 = deployed_id(&env.ok(&["deploy", "--site", v2.to_str().unwrap()]));
    let r3 = ("site:3".to_owned(), Some(id2.clone()));
    assert_eq!(env.runs("staging"), r3);
    assert_eq!(env.runs("production"), r2);
    env.ok(&["promote"]);
    assert_eq!(env.runs("production"), r3);
    let status = env.ok(&["status"]);
    for line in [
        format!("staging    service staging  site:3  release {id2}  (rollout COMPLETED"),
        format!("production service production  site:3  release {id2}"),
        format!("rollback would return service production to site:2 (release {id1})"),
        "rollback would return live to version 1".to_owned(),
    ] {
        assert!(status.contains(&line), "{line:?} not in\n{status}");
    }
    env.ok(&["rollback"]);
    assert_eq!(env.runs("production"), r2);
    assert_eq!(
        env.serving().live,
        Some(("1".to_owned(), Some(id1.clone())))
    );
    env.ok(&["rollback"]);
    assert_eq!(env.runs("production"), r3);
    assert_eq!(
        env.serving().live,
        Some(("2".to_owned(), Some(id2.clone())))
    );

    // Refused, with nothing changed: promoting what production runs, a canary, and a
    // staging service whose rollout is not complete.
    let (ok, _, err) = env.lamphp(&["promote"]);
    assert!(
        !ok && err.contains("version 2 is already live and service production already runs site:3"),
        "{err}"
    );
    let (ok, _, err) = env.lamphp(&["promote", "--canary", "10"]);
    assert!(!ok && err.contains("Lambda alias feature"), "{err}");
    env.create_service(
        "rolling",
        &env.register(
            FAMILY,
            "php",
            &[
                ("LAMPHP_SESSION_TABLE", "sessions"),
                ("LAMPHP_RELEASE", &id1),
            ],
        ),
        1,
    );
    let (ok, _, err) = env.lamphp(&["--staging-service", "rolling", "promote"]);
    assert!(!ok && err.contains("is IN_PROGRESS"), "{err}");
    assert_eq!(env.runs("production"), r3);
    assert_eq!(
        env.serving().live,
        Some(("2".to_owned(), Some(id2.clone())))
    );

    // A service without a container `php`: the deploy fails before anything changes.
    let other = env.register("other", "web", &[]);
    env.create_service("nophp", &other, 0);
    let v3 = env.site("v3", "site three");
    let (ok, _, err) = env.lamphp(&[
        "--staging-service",
        "nophp",
        "deploy",
        "--site",
        v3.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("has no container named `php` (it has: web)"),
        "{err}"
    );
    assert_eq!(env.runs("nophp"), ("other:1".to_owned(), None));
    assert_eq!(env.release_of("$LATEST"), Some(id2.clone()));
    let mut both = vec![id1.clone(), id2.clone()];
    both.sort();
    assert_eq!(env.on_efs(), both, "nothing unpacked");

    // Prune keeps what any revision of the family refers to (here one no service runs),
    // and deletes the rest.
    let kept = "feedfacefeedface";
    env.register(
        FAMILY,
        "php",
        &[
            ("LAMPHP_SESSION_TABLE", "sessions"),
            ("LAMPHP_RELEASE", kept),
        ],
    );
    for dir in [kept, "0123456789abcdef"] {
        std::fs::create_dir(env.releases.join(dir)).unwrap();
    }
    let pruned = env.ok(&["prune"]);
    assert!(pruned.contains("removed: 0123456789abcdef\n"), "{pruned}");
    let mut left = vec![id1, id2, kept.to_owned()];
    left.sort();
    assert_eq!(env.on_efs(), left, "{pruned}");
}

/// Issue 15: the unpack compiles the release's PHP into opcache's file cache, beside the
/// release (never in it, where a URL could reach it), and PHP serving the release starts
/// with it. Shown by changing a file after the build (a release never changes, so PHP
/// checks no timestamps): the answer is the compiled one. A cache of another PHP build, a
/// broken file and no cache at all each cost only the compile: the source's answer, 200.
#[test]
fn a_release_is_compiled_once_and_php_serving_it_starts_with_it() {
    let env = Env::start();
    let site = env.site("v1", "compiled");
    // Two files declaring one function, as WordPress's noop.php and functions.php do: in
    // one PHP request the second would not compile.
    let public = site.join("public");
    for (name, text) in [
        ("noop.php", "<?php function shared() { return 1; }"),
        ("real.php", "<?php function shared() { return 2; }"),
        ("broken.php", "<?php this is not PHP"),
    ] {
        std::fs::write(public.join(name), text).unwrap();
    }
    let id = deployed_id(&env.ok(&["deploy", "--site", site.to_str().unwrap()]));
    assert_eq!(
        env.caches(),
        std::slice::from_ref(&id),
        "one cache, no work directory left"
    );
    let release = std::fs::canonicalize(env.releases.join(&id)).unwrap();
    assert_eq!(
        files_ending(&release, ".bin"),
        Vec::<PathBuf>::new(),
        "nothing compiled is in the release, where its docroot is"
    );
    let cache = env.releases.join(".opcache").join(&id);
    let system_ids = names_in(&cache);
    assert_eq!(system_ids.len(), 1, "one PHP build: {system_ids:?}");
    let tree = cache
        .join(&system_ids[0])
        .join(release.strip_prefix("/").unwrap())
        .join("public");
    assert_eq!(
        names_in(&tree),
        ["index.php.bin", "noop.php.bin", "real.php.bin"],
        "every file that compiles, each in its own request"
    );
    let log = env.watch.log();
    let built = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("compiled the release"))
        })
        .unwrap_or_else(|| panic!("no build logged:\n{log}"));
    assert_eq!(built["files"], 4, "{built}");
    assert_eq!(built["compiled"], 3, "{built}");

    // The test changes the release under its cache.
    std::fs::write(release.join("public/index.php"), "<?php echo 'source';").unwrap();
    let releases = env.releases.to_str().unwrap().to_owned();
    let page = |what: &str| {
        let server = Server::serve_env(
            &[],
            &[
                ("LAMPHP_RELEASE", id.as_str()),
                ("LAMPHP_RELEASES", &releases),
            ],
        );
        let (status, body) = server.get("/");
        assert_eq!(status, 200, "{what}: {}", server.log());
        String::from_utf8(body).unwrap()
    };
    assert_eq!(page("with its cache"), "compiled");

    let bin = tree.join("index.php.bin");
    let good = std::fs::read(&bin).unwrap();
    // A file's header: "OPCACHE\0", then the system id of the build that wrote it.
    assert_eq!(&good[..8], b"OPCACHE\0");
    assert_eq!(&good[8..40], system_ids[0].as_bytes());
    let mut foreign = good.clone();
    foreign[8..40].copy_from_slice(b"0123456789abcdef0123456789abcdef");
    std::fs::write(&bin, &foreign).unwrap();
    assert_eq!(
        page("a file another build wrote at the same path"),
        "source"
    );
    std::fs::write(&bin, &good).unwrap();
    assert_eq!(page("the cache put back"), "compiled");

    let other = cache.join("0123456789abcdef0123456789abcdef");
    std::fs::rename(cache.join(&system_ids[0]), &other).unwrap();
    assert_eq!(page("only another build's cache"), "source");
    std::fs::rename(&other, cache.join(&system_ids[0])).unwrap();

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    for (what, broken) in [
        ("a flipped byte", flipped),
        ("cut in half", good[..middle].to_vec()),
    ] {
        std::fs::write(&bin, &broken).unwrap();
        assert_eq!(page(what), "source", "{what}");
    }
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(page("no cache"), "source");
}
