//! Parity of one exchange: status, headers and body, after the forgiven differences
//! (see `normalize`). Returns the differences as readable lines.

use serde_json::Value;

use crate::case::{Case, Mode, Parser};
use crate::http::{escape, Response};
use crate::normalize;

/// Headers that legitimately differ between servers (the spec's list).
const IGNORED_HEADERS: &[&str] = &[
    "date",
    "server",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

/// One side of the comparison: what was sent, what came back, and the server's port.
pub struct Seen<'a> {
    pub request: &'a [u8],
    pub response: Response,
    pub port: u16,
}

pub fn compare(case: &Case, mode: Mode, mut reference: Seen, mut lamphp: Seen) -> Vec<String> {
    let mut diffs = Vec::new();
    if let Some(fate) = case.alb_fate.filter(|_| mode.is_lambda()) {
        if lamphp.response.status != fate.status() {
            let got = &lamphp.response.status_line;
            diffs.push(format!(
                "lamphp: expected {} ({fate:?}), got {got:?}",
                fate.status()
            ));
        }
        return diffs;
    }
    for (side, seen) in [("reference", &reference), ("lamphp", &lamphp)] {
        if let Some(want) = case.expect_status.filter(|&s| s != seen.response.status) {
            diffs.push(format!(
                "{side}: expected status {want}, got {}",
                seen.response.status
            ));
        }
        if let Some(text) = case
            .forbid
            .filter(|t| crate::http::find(&seen.response.body, t.as_bytes()).is_some())
        {
            diffs.push(format!("{side}: body contains forbidden {text:?}"));
        }
    }
    let (r, l) = (&reference.response, &lamphp.response);
    match case.parser {
        Some(Parser::Refuses) if l.status != 400 => {
            diffs.push(format!(
                "lamphp: expected hyper's 400, got {}",
                l.status_line
            ));
            return diffs;
        }
        Some(Parser::Normalizes) if l.status != r.status => {
            diffs.push(format!(
                "status: reference {:?} vs lamphp {:?}",
                r.status_line, l.status_line
            ));
            return diffs;
        }
        Some(Parser::Accepts) if l.status != 200 => {
            diffs.push(format!("lamphp: expected 200, got {}", l.status_line));
            return diffs;
        }
        Some(Parser::Accepts) | None => {}
        Some(_) => return diffs,
    }
    let ref_interim = crate::lambda::interim(mode, lamphp.request, &r.interim);
    if ref_interim != l.interim {
        diffs.push(format!(
            "interim responses: reference {:?} vs lamphp {:?}",
            r.interim, l.interim
        ));
    }
    let ref_client = crate::lambda::client_request(mode, reference.request, lamphp.request);
    if normalize::status_line(&r.status_line, ref_client)
        != normalize::status_line(&l.status_line, lamphp.request)
    {
        diffs.push(format!(
            "status: reference {:?} vs lamphp {:?}",
            r.status_line, l.status_line
        ));
    }
    // Content-Length is compared only when neither side chunks.
    let drop_length = r.is_chunked() || l.is_chunked() || crate::lambda::streamed_to_close(mode, r);
    normalize::error_page_signature(&mut lamphp.response);
    let by_server = crate::http::find(&reference.response.body, normalize::NGINX).is_some();
    normalize::proxy_redirect_location(
        &mut reference.response,
        &mut lamphp.response,
        reference.request,
        mode,
        by_server,
        &mut diffs,
    );
    let mut ref_headers = header_groups(&reference, drop_length);
    crate::lambda::single_value_response(mode, &mut ref_headers);
    let lam_headers = header_groups(&lamphp, drop_length);
    diff_headers(&ref_headers, &lam_headers, &mut diffs);
    let dumps = (dump_json(&reference.response), dump_json(&lamphp.response));
    match dumps {
        (Some(mut rj), Some(mut lj)) => {
            normalize::own_port_in_server_port(&mut rj, reference.port);
            normalize::own_port_in_server_port(&mut lj, lamphp.port);
            normalize::php_cgi_pool_variables(&mut lj);
            normalize::server_software(&rj, &mut lj, &mut diffs);
            if mode.is_lambda() {
                crate::lambda::trace_id(&mut lj);
                crate::lambda::sandbox_environment(&mut lj);
                crate::lambda::lossy_header_bytes(&mut rj);
                crate::lambda::server_addr(&mut rj);
                crate::lambda::server_addr(&mut lj);
            }
            normalize::http_host(&mut rj, &mut lj, lamphp.request, &mut diffs);
            diff_json("", &rj, &lj, &mut diffs);
        }
        _ => diff_bytes(&reference.response.body, &lamphp.response.body, &mut diffs),
    }
    diffs
}

/// The body of a dump.php response, parsed (dump.php marks itself with `X-Dump: 1`).
fn dump_json(response: &Response) -> Option<Value> {
    response.header("x-dump")?;
    serde_json::from_slice(&response.body).ok()
}

/// Headers as the spec compares them: names (lower case) in order of first appearance,
/// each with the sequence of its values. nginx interleaves repeated names where lamphp's
/// HTTP library groups them; only this grouped view has to match.
fn header_groups(seen: &Seen, drop_length: bool) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut groups: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for (name, value) in &seen.response.headers {
        let name = name.to_ascii_lowercase();
        if IGNORED_HEADERS.contains(&name.as_str()) || (drop_length && name == "content-length") {
            continue;
        }
        let value = if name == "location" {
            normalize::own_port_in_location(value, seen.port)
        } else {
            value.clone()
        };
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => groups.push((name, vec![value])),
        }
    }
    groups
}

fn diff_headers(
    r: &[(String, Vec<Vec<u8>>)],
    l: &[(String, Vec<Vec<u8>>)],
    diffs: &mut Vec<String>,
) {
    let show = |values: Option<&Vec<Vec<u8>>>| match values {
        Some(vs) => vs
            .iter()
            .map(|v| format!("{:?}", escape(v, 200)))
            .collect::<Vec<_>>()
            .join(", "),
        None => "(absent)".to_string(),
    };
    let names = |g: &[(String, Vec<Vec<u8>>)]| g.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let mut all = names(r);
    all.extend(names(l).into_iter().filter(|n| !names(r).contains(n)));
    let mut same_set = true;
    for name in &all {
        let rv = r.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let lv = l.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        same_set &= rv.is_some() == lv.is_some();
        if rv != lv {
            diffs.push(format!(
                "header {name}: reference {} vs lamphp {}",
                show(rv),
                show(lv)
            ));
        }
    }
    if same_set && names(r) != names(l) {
        diffs.push(format!(
            "header order: reference {:?} vs lamphp {:?}",
            names(r),
            names(l)
        ));
    }
}

fn diff_bytes(r: &[u8], l: &[u8], diffs: &mut Vec<String>) {
    if r == l {
        return;
    }
    let at = r
        .iter()
        .zip(l)
        .position(|(a, b)| a != b)
        .unwrap_or(r.len().min(l.len()));
    let from = at.saturating_sub(40);
    diffs.push(format!(
        "body: {} vs {} bytes, first difference at byte {at}:\n    reference ...{}\n    lamphp    ...{}",
        r.len(),
        l.len(),
        escape(&r[from..], 160),
        escape(&l[from..], 160)
    ));
}

/// Path-by-path difference of two JSON values; object key order counts.
fn diff_json(path: &str, r: &Value, l: &Value, diffs: &mut Vec<String>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (r, l) {
        (Value::Object(ro), Value::Object(lo)) => {
            for (k, rv) in ro {
                match lo.get(k) {
                    Some(lv) => diff_json(&at(k), rv, lv, diffs),
                    None => diffs.push(format!("{}: reference {rv} vs lamphp (missing)", at(k))),
                }
            }
            for (k, lv) in lo.iter().filter(|(k, _)| !ro.contains_key(*k)) {
                diffs.push(format!("{}: reference (missing) vs lamphp {lv}", at(k)));
            }
            let (rk, lk): (Vec<_>, Vec<_>) = (ro.keys().collect(), lo.keys().collect());
            if ro.len() == lo.len() && rk.iter().all(|k| lo.contains_key(*k)) && rk != lk {
                let place = if path.is_empty() { "(root)" } else { path };
                diffs.push(format!(
                    "{place}: key order: reference {rk:?} vs lamphp {lk:?}"
                ));
            }
        }
        (Value::Array(ra), Value::Array(la)) if ra.len() == la.len() => {
            for (i, (rv, lv)) in ra.iter().zip(la).enumerate() {
                diff_json(&at(&i.to_string()), rv, lv, diffs);
            }
        }
        _ if r != l => diffs.push(format!(
            "{}: reference {r} vs lamphp {l}",
            if path.is_empty() { "(root)" } else { path }
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse;

    fn diffs(reference: &[u8], lamphp: &[u8]) -> Vec<String> {
        let case = crate::case::get("t", "/");
        let seen = |raw| Seen {
            request: b"GET / HTTP/1.1\r\nHost: h\r\n",
            response: parse(raw).unwrap(),
            port: 1,
        };
        compare(&case, Mode::Direct, seen(reference), seen(lamphp))
    }

    #[test]
    fn grouped_repeats_and_chunking_are_forgiven() {
        let nginx = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nA: 1\r\nB: 2\r\nA: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let ours = b"HTTP/1.1 200 OK\r\na: 1\r\na: 3\r\nb: 2\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(diffs(nginx, ours), Vec::<String>::new());
    }

    #[test]
    fn order_values_status_and_body_differences_are_reported() {
        let nginx = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 2\r\n\r\nok";
        let ours = b"HTTP/1.1 200 Fine\r\nB: 2\r\nA: 9\r\nContent-Length: 2\r\n\r\nno";
        let found = diffs(nginx, ours).join("\n");
        for part in ["status:", "header a:", "header order", "body:"] {
            assert!(found.contains(part), "{part} missing from:\n{found}");
        }
    }

    #[test]
    fn json_dumps_compare_by_path_and_key_order() {
        let dump = |json: &str| format!("HTTP/1.1 200 OK\r\nX-Dump: 1\r\n\r\n{json}").into_bytes();
        let host = r#""headers":{"Host":"h"}"#;
        let reference = dump(&format!(
            r#"{{"server":{{"HTTP_HOST":"h","A":"1","B":"2"}},{host}}}"#
        ));
        let lamphp = dump(&format!(
            r#"{{"server":{{"HTTP_HOST":"h","B":"2","A":"x"}},{host}}}"#
        ));
        let found = diffs(&reference, &lamphp);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("server.A: reference \"1\" vs lamphp \"x\""),
            "{found:?}"
        );
        assert!(found[1].contains("key order"), "{found:?}");
    }
}
