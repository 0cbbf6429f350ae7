//! The release flow end to end (issue 6, item 4): the `lamphp` command against moto's
//! Lambda control plane and S3, with the function's Invoke routed ([`proxy`]) to `cargo
//! lambda watch` running the real `bootstrap`, a temporary directory standing in for EFS.
//! What each host serves is checked in the configuration (the release of `$LATEST` and
//! of each version `live` routes to) and by serving a page of that release with
//! `bootstrap local`, as the function would with that configuration.
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
    runtime: tokio::runtime::Runtime,
    releases: PathBuf,
    temp: tempfile::TempDir,
}

impl Env {
    fn start() -> Env {
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
        let lambda = runtime.block_on(async {
            let config = lamphp_release::aws::loader()
                .endpoint_url(proxy.endpoint())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_lambda::config::Credentials::for_tests())
                .load()
                .await;
            aws_sdk_lambda::Client::new(&config)
        });
        let env = Env {
            _moto: moto,
            watch,
            proxy,
            lambda,
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
        let out = Command::new(env!("CARGO_BIN_EXE_lamphp"))
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

    /// The entries of the releases directory, sorted.
    fn on_efs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.releases)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
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

    // Prune keeps what a configuration refers to, and deletes the rest.
    std::fs::create_dir(env.releases.join("0123456789abcdef")).unwrap();
    let pruned = env.ok(&["prune"]);
    assert!(pruned.contains("removed: 0123456789abcdef"), "{pruned}");
    assert!(
        Path::new(&env.releases).join(&id1).is_dir() && env.releases.join(&id2).is_dir(),
        "{pruned}"
    );
}
