//! The parity suite: every case is sent, as raw bytes, to the reference (nginx 1.22 +
//! php-fpm, `tests/reference/`) and to lamphp (`bootstrap serve` in direct and in
//! trusted-proxy mode; `bootstrap local`, the Lambda loop behind an emulated ALB, in both
//! target-group header modes), and the answers must match as the spec defines parity
//! (see `README.md` beside this file for the forgiven differences).
//!
//! `PARITY_FILTER=substring` runs the cases whose `mode/name` contains it;
//! `PARITY_SELF_CHECK=1` puts a second reference where lamphp would be;
//! `PARITY_VERBOSE=1` also lists passing cases with both status lines.

mod alb;
mod case;
mod cases;
mod compare;
mod docroot;
mod harness;
mod http;
mod lambda;
mod lamphp;
mod normalize;
mod reference;

use std::time::Duration;

use case::{AlbFate, Case, Conversation, Mode};
use compare::Seen;
use harness::Servers;

#[test]
fn parity() {
    reference::require_reference_programs();
    let root = docroot::prepare();
    let cases = cases::all(&root);
    let conversations = cases::conversations();
    check_names_unique(&cases);
    let filter = std::env::var("PARITY_FILTER").unwrap_or_default();
    let self_check = std::env::var("PARITY_SELF_CHECK").is_ok_and(|v| v == "1");
    let verbose = std::env::var("PARITY_VERBOSE").is_ok_and(|v| v == "1");
    if self_check {
        println!("parity: self-check, a second reference plays lamphp");
    }
    let servers = Servers::start(&root, self_check);

    let mut passed = 0;
    let mut failed = Vec::new();
    let mut record = |name: String, summary: String, diffs: Vec<String>| {
        if diffs.is_empty() {
            if verbose {
                println!("ok   {name}\n  {summary}");
            }
            passed += 1;
            return;
        }
        println!("FAIL {name}\n  {summary}");
        for diff in &diffs {
            println!("  {diff}");
        }
        failed.push(name);
    };
    let wanted = |mode: Mode, name: &str| {
        let name = format!("{}/{name}", mode.name());
        name.contains(&filter).then_some(name)
    };
    for case in &cases {
        for mode in case.runs_in() {
            if let Some(name) = wanted(mode, &case.name) {
                let (line, statuses, diffs) = run(case, mode, &servers);
                record(
                    name,
                    format!("request: {line}\n  answers: {statuses}"),
                    diffs,
                );
            }
        }
    }
    for conversation in &conversations {
        for &mode in &conversation.modes {
            if let Some(name) = wanted(mode, &conversation.name) {
                let (statuses, diffs) = converse(conversation, mode, &servers);
                record(name, format!("answers: {statuses}"), diffs);
            }
        }
    }
    if !failed.is_empty() {
        println!("{} failing cases:\n  {}", failed.len(), failed.join("\n  "));
    }
    println!("parity: {passed} passed, {} failed", failed.len());
    assert!(
        passed + failed.len() > 0,
        "PARITY_FILTER={filter:?} matched no case"
    );
    assert!(
        failed.is_empty(),
        "{} parity cases failed (listed above)",
        failed.len()
    );
}

/// Sends `case` to both sides in `mode`; returns the request line, both status lines
/// and the differences.
fn run(case: &Case, mode: Mode, servers: &Servers) -> (String, String, Vec<String>) {
    let (ref_port, lam_port) = (servers.reference.of(mode), servers.lamphp.of(mode));
    let (ref_request, lam_request) = requests(case, mode, ref_port, lam_port, servers);
    let line = case::request_line(&lam_request);
    // Both sides at once: a slow answer (nginx's lingering close) costs its time once.
    let answers = std::thread::scope(|s| {
        let reference = s.spawn(|| http::exchange(ref_port, &ref_request));
        let lamphp = http::exchange_within(lam_port, &lam_request, timeout(case, mode));
        (reference.join().expect("reference exchange thread"), lamphp)
    });
    let status = |answer: &Result<http::Response, String>| match answer {
        Ok(r) => r.status_line.clone(),
        Err(e) => format!("error: {e}"),
    };
    let statuses = format!(
        "reference {:?}, lamphp {:?}",
        status(&answers.0),
        status(&answers.1)
    );
    let diffs = match answers {
        (Ok(r), Ok(l)) => compare::compare(
            case,
            mode,
            Seen {
                request: &ref_request,
                response: r,
                // Behind the emulated ALB, the port the reference is told of (Host,
                // X-Forwarded-Port) is the emulator's.
                port: if mode.is_lambda() { lam_port } else { ref_port },
            },
            Seen {
                request: &lam_request,
                response: l,
                port: lam_port,
            },
        ),
        _ => vec!["no comparable response (see answers)".to_string()],
    };
    (line, statuses, diffs)
}

/// Sends a conversation's requests over one connection to each side in `mode`; returns
/// both sides' status lines and the differences: each answer compared as its case, and
/// how many requests each side answered before it closed.
fn converse(conversation: &Conversation, mode: Mode, servers: &Servers) -> (String, Vec<String>) {
    let (ref_port, lam_port) = (servers.reference.of(mode), servers.lamphp.of(mode));
    let (ref_requests, lam_requests): (Vec<_>, Vec<_>) = conversation
        .requests
        .iter()
        .map(|case| requests(case, mode, ref_port, lam_port, servers))
        .unzip();
    let pace = conversation.pace;
    let (reference, lamphp) = std::thread::scope(|s| {
        let reference = s.spawn(|| http::converse(ref_port, &ref_requests, pace, http::TIMEOUT));
        let lamphp = http::converse(lam_port, &lam_requests, pace, http::TIMEOUT);
        (
            reference.join().expect("reference conversation thread"),
            lamphp,
        )
    });
    let statuses = |side: &Result<http::Conversation, String>| match side {
        Ok(c) => c
            .responses
            .iter()
            .map(|r| r.status.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("error: {e}"),
    };
    let line = format!(
        "reference [{}], lamphp [{}]",
        statuses(&reference),
        statuses(&lamphp)
    );
    let (reference, lamphp) = match (reference, lamphp) {
        (Ok(r), Ok(l)) => (r, l),
        _ => return (line, vec!["no comparable conversation".to_string()]),
    };
    let mut diffs = Vec::new();
    for (side, error) in [("reference", &reference.error), ("lamphp", &lamphp.error)] {
        if let Some(e) = error {
            diffs.push(format!("{side}: {e}"));
        }
    }
    let (answered_r, answered_l) = (reference.responses.len(), lamphp.responses.len());
    if answered_r != answered_l {
        diffs.push(format!(
            "the reference answered {answered_r} of {} requests before closing, lamphp {answered_l}",
            conversation.requests.len()
        ));
    }
    let pairs = reference.responses.into_iter().zip(lamphp.responses);
    for (i, (r, l)) in pairs.enumerate() {
        let case = &conversation.requests[i];
        let found = compare::compare(
            case,
            mode,
            Seen {
                request: &ref_requests[i],
                response: r,
                port: if mode.is_lambda() { lam_port } else { ref_port },
            },
            Seen {
                request: &lam_requests[i],
                response: l,
                port: lam_port,
            },
        );
        let line = case::request_line(&lam_requests[i]);
        diffs.extend(found.into_iter().map(|d| format!("#{} {line}: {d}", i + 1)));
    }
    (line, diffs)
}

/// How long lamphp's side may take. The ALB refuses a request it cannot pass on as soon
/// as it has read the head (the client may never send the body it declared), so such a
/// refusal has 5 s.
fn timeout(case: &Case, mode: Mode) -> Duration {
    match case.alb_fate {
        Some(AlbFate::Refuses(_)) if mode.is_lambda() => Duration::from_secs(5),
        _ => http::TIMEOUT,
    }
}

/// The bytes each side is sent. Direct and proxy mode: the case's request (departure (a)
/// applied for the reference). Lambda modes: lamphp's emulator gets the case's request
/// and the reference what the ALB would forward for it (`alb::forwarded`); with the
/// self-check the twin gets that too, since no emulator stands in front of it.
fn requests(
    case: &Case,
    mode: Mode,
    ref_port: u16,
    lam_port: u16,
    servers: &Servers,
) -> (Vec<u8>, Vec<u8>) {
    let for_reference = case.reference_head.as_ref().unwrap_or(&case.head);
    let joined = match case.repeated_headers && mode != Mode::LambdaSingle {
        true => normalize::join_repeated_headers(for_reference),
        false => for_reference.clone(),
    };
    if !mode.is_lambda() {
        let lam_request = case.render(mode, lam_port, &case.head);
        return (case.render(mode, ref_port, &joined), lam_request);
    }
    let reference = alb::forwarded(mode, &case.render(mode, lam_port, &joined), lam_port);
    let lamphp = match servers.self_check {
        true => alb::forwarded(mode, &case.render(mode, lam_port, &case.head), lam_port),
        false => case.render(mode, lam_port, &case.head),
    };
    (reference, lamphp)
}

fn check_names_unique(cases: &[Case]) {
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let dup: Vec<_> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(dup.is_empty(), "duplicate case names: {dup:?}");
}
