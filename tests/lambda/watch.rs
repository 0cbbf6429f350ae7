//! The Lambda loop under `cargo lambda watch --only-lambda-apis` (PyPI's `cargo-lambda`),
//! a Runtime API emulator we did not write ([`crate::emulator`]): events go in through
//! its invoke endpoint.

use crate::emulator::Watch;
use crate::server::docroot;
use support::unique;

fn alb_event(path: &str, query: &[(&str, &[&str])], headers: &[(&str, &[&str])]) -> Vec<u8> {
    alb_request("GET", path, query, headers)
}

fn alb_request(
    method: &str,
    path: &str,
    query: &[(&str, &[&str])],
    headers: &[(&str, &[&str])],
) -> Vec<u8> {
    let obj = |pairs: &[(&str, &[&str])]| {
        serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, vs)| (k.to_string(), serde_json::json!(vs)))
                .collect(),
        )
    };
    serde_json::to_vec(&serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": obj(query),
        "multiValueHeaders": obj(headers),
        "body": "",
        "isBase64Encoded": false
    }))
    .unwrap()
}

#[test]
fn alb_events_through_cargo_lambda_watch() {
    let mut watch = Watch::start(env!("CARGO_MANIFEST_DIR").as_ref());
    let runtime_dir =
        std::env::temp_dir().join(format!("lamphp-watch-{}-{}", std::process::id(), unique()));
    watch.runtime(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        [
            ("LAMPHP_ROOT", docroot().join("../../parity/docroot")),
            ("LAMPHP_RUNTIME_DIR", runtime_dir.clone()),
        ],
    );
    let event = alb_event(
        "/some/route",
        &[("b", &["2"]), ("a", &["1", "%20x"])],
        &[
            ("host", &["example.com"]),
            ("x-forwarded-for", &["198.51.100.7, 203.0.113.9"]),
            ("x-forwarded-proto", &["https"]),
            ("x-forwarded-port", &["443"]),
            ("cookie", &["a=1", "b=2"]),
        ],
    );
    let (status, body) = watch.invoke_when_ready(&event);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["statusDescription"], "200 OK");
    let dump: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let server = &dump["server"];
    // The deadline cargo lambda sends (600000) is not believed; the request still runs.
    assert_eq!(
        server["QUERY_STRING"], "b=2&a=1&a=%20x",
        "order and encoding as the event gave them"
    );
    assert_eq!(server["REQUEST_URI"], "/some/route?b=2&a=1&a=%20x");
    assert_eq!(server["SCRIPT_NAME"], "/index.php");
    assert_eq!(server["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(server["HTTPS"], "on");
    assert_eq!(server["SERVER_PORT"], "443");
    assert_eq!(server["HTTP_COOKIE"], "a=1; b=2");
    assert_eq!(
        answer["multiValueHeaders"]["X-Dump"]
            .as_array()
            .map(Vec::len)
            .or(answer["multiValueHeaders"]["x-dump"]
                .as_array()
                .map(Vec::len)),
        Some(1),
        "{answer}"
    );
    assert!(
        watch.log().contains("not plausible"),
        "the implausible deadline was not reported"
    );

    // No body where HTTP allows none, whatever the script printed (the ALB would pass it
    // on); the status and the script's headers stay.
    let host: &[(&str, &[&str])] = &[("host", &["example.com"])];
    for (method, status, code) in [
        ("GET", "204", 204),
        ("GET", "304", 304),
        ("HEAD", "200", 200),
    ] {
        let event = alb_request(method, "/dump.php", &[("status", &[status])], host);
        let (_, body) = watch.invoke(&event).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["statusCode"], code, "{method} {status}: {answer}");
        assert_eq!(answer["body"], "", "{method} {status}: {answer}");
        let headers = answer["multiValueHeaders"].as_object().unwrap();
        assert!(
            headers.keys().any(|k| k.eq_ignore_ascii_case("x-dump")),
            "{method} {status}: {answer}"
        );
    }
    let (_, body) = watch
        .invoke(&alb_request(
            "GET",
            "/dump.php",
            &[("status", &["205"])],
            host,
        ))
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_ne!(
        answer["body"], "",
        "a 205 keeps what the script sent: {answer}"
    );

    // Not an HTTP event: an invocation error, and the loop goes on.
    let (status, _) = watch.invoke(b"{\"hello\": \"world\"}").unwrap();
    assert_ne!(status, 200, "an unknown event must be an invocation error");
    let (status, body) = watch.invoke(&event).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _ = std::fs::remove_dir_all(runtime_dir);
}

/// Lambda Managed Instances: one sandbox answers AWS_LAMBDA_MAX_CONCURRENCY requests at
/// once. `cargo lambda watch --concurrency 4` hands out up to four invocations to the
/// `/next` polls of one runtime, as the service does.
#[test]
fn managed_instances_answer_overlapping_requests_at_once_and_a_slow_one_alone_times_out() {
    let mut watch = Watch::start_with(env!("CARGO_MANIFEST_DIR").as_ref(), &["--concurrency", "4"]);
    let runtime_dir =
        std::env::temp_dir().join(format!("lamphp-watch-{}-{}", std::process::id(), unique()));
    watch.runtime(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        [
            ("LAMPHP_ROOT", docroot()),
            ("LAMPHP_RUNTIME_DIR", runtime_dir.clone()),
            // What Lambda says, and lamphp's setting, which wins.
            ("AWS_LAMBDA_MAX_CONCURRENCY", "2".into()),
            ("LAMPHP_CONCURRENCY", "4".into()),
            // cargo lambda's deadline is not believed: requests get LAMPHP_TIMEOUT.
            ("LAMPHP_TIMEOUT", "3".into()),
        ],
    );
    let sleep = |seconds: &str| alb_event("/sleep.php", &[("s", &[seconds])], &[("host", &["t"])]);
    assert_eq!(watch.invoke_when_ready(&sleep("0")).0, 200);
    let watch = std::sync::Arc::new(watch);
    // The events sent at once: a sleep of so many seconds each, or a crash.
    let overlapping = |pages: &'static [&'static str]| {
        let start = std::time::Instant::now();
        let answers: Vec<(u16, Vec<u8>)> = pages
            .iter()
            .map(|page| {
                let event = match *page {
                    "crash" => alb_event(
                        "/crash.php",
                        &[("mark", &["/dev/null"])],
                        &[("host", &["t"])],
                    ),
                    seconds => sleep(seconds),
                };
                let watch = watch.clone();
                std::thread::spawn(move || watch.invoke(&event).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let codes: Vec<u64> = answers
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
                let answer: serde_json::Value = serde_json::from_slice(body).unwrap();
                answer["statusCode"].as_u64().unwrap()
            })
            .collect();
        (codes, start.elapsed())
    };
    // Four 1 s requests in about the time of one, not two (or four).
    let (codes, took) = overlapping(&["1", "1", "1", "1"]);
    assert_eq!(codes, [200; 4]);
    assert!(
        took < std::time::Duration::from_millis(1800),
        "4 × 1 s took {took:?}\n{}",
        watch.log()
    );
    // One past its time gets its 504 at the timeout; the others, running beside it, finish.
    let (codes, took) = overlapping(&["10", "0.5", "0.5", "0.5"]);
    assert_eq!(codes, [504, 200, 200, 200], "{}", watch.log());
    assert!(took < std::time::Duration::from_secs(6), "took {took:?}");
    assert!(watch.log().contains("killed PHP worker"), "{}", watch.log());
    // Its worker is gone and replaced: four at once still work, and php-fpm was not
    // restarted (which would have cut the others).
    let (codes, _) = overlapping(&["0.2", "0.2", "0.2", "0.2"]);
    assert_eq!(codes, [200; 4]);
    assert!(
        !watch.log().contains("restarting php-fpm"),
        "{}",
        watch.log()
    );
    // A worker that dies fails its own request only.
    let (codes, _) = overlapping(&["crash", "0.5", "0.5", "0.5"]);
    assert_eq!(codes, [502, 200, 200, 200], "{}", watch.log());
    // Each request its own log line under its own id, overlapping or not.
    let log = watch.log();
    let ids: Vec<String> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|r| r["target"] == "lamphp::request")
        .map(|r| r["request"].as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (17, 17), "{log}");
    let _ = std::fs::remove_dir_all(runtime_dir);
}
