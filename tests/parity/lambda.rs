//! What the comparison forgives in the Lambda modes only, each in one function saying
//! why: properties of the ALB's event format, not choices of lamphp's. (The request side,
//! what the reference is sent, is in `alb.rs`.)

use serde_json::Value;

use crate::case::{header_lines, Mode};
use crate::http::Response;

/// The ALB adds an `X-Amzn-Trace-Id` to every request it forwards (fresh per request);
/// nginx, sent the request the ALB would forward, is not sent one. It is left out of
/// lamphp's dump: `$_SERVER['HTTP_X_AMZN_TRACE_ID']` and getallheaders()' entry.
pub fn trace_id(dump: &mut Value) {
    if let Some(server) = dump.get_mut("server").and_then(Value::as_object_mut) {
        server.shift_remove("HTTP_X_AMZN_TRACE_ID");
    }
    if let Some(headers) = dump.get_mut("headers").and_then(Value::as_object_mut) {
        headers.retain(|name, _| !name.eq_ignore_ascii_case("x-amzn-trace-id"));
    }
}

/// What `bootstrap local` puts in a sandbox's environment, as Lambda puts its own there
/// (the function's name, memory, version and Runtime API address) and as a function's
/// configuration would (its docroot, its private runtime directory and `/tmp`): under
/// `clear_env = no` a script on Lambda sees these as it sees any variable of the
/// function's. Exactly these names are left out of lamphp's dump; any other variable
/// still shows.
pub fn sandbox_environment(dump: &mut Value) {
    const SANDBOX: &[&str] = &[
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMPHP_ROOT",
        "LAMPHP_RUNTIME_DIR",
        "TMPDIR",
    ];
    if let Some(server) = dump.get_mut("server").and_then(Value::as_object_mut) {
        server.retain(|name, _| !SANDBOX.contains(&name.as_str()));
    }
}

/// A JSON event carries text, not bytes: a request header's bytes that are not UTF-8
/// reach the function as U+FFFD each (the emulator decodes them as
/// `String::from_utf8_lossy` does), where nginx passes them on. Only what comes from
/// headers is forgiven: the reference's `HTTP_*` values, getallheaders() and $_COOKIE
/// (dump.php's "hex:" strings) are compared as their lossy decoding. Query strings and
/// bodies travel encoded (percent, base64) and stay byte for byte.
pub fn lossy_header_bytes(reference: &mut Value) {
    if let Some(server) = reference.get_mut("server").and_then(Value::as_object_mut) {
        for (_, value) in server.iter_mut().filter(|(k, _)| k.starts_with("HTTP_")) {
            *value = lossy(value.take());
        }
    }
    for part in ["headers", "cookie"] {
        if let Some(value) = reference.get_mut(part) {
            *value = lossy(value.take());
        }
    }
}

/// dump.php's "hex:" strings (and keys) turned into what their bytes become as text.
fn lossy(value: Value) -> Value {
    let text = |s: String| -> String {
        let Some(hex) = s.strip_prefix("hex:") else {
            return s;
        };
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        bytes.map_or(s.clone(), |b| String::from_utf8_lossy(&b).into_owned())
    };
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (text(k), lossy(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(lossy).collect()),
        other => other,
    }
}

/// Departure (3): a Lambda answering a target group without multi-value headers has one
/// string per header name (`headers`, not `multiValueHeaders`), so the client gets one
/// value per name: lamphp sends the last, as the ALB keeps "the last value it receives".
/// The reference's repeated response headers (two `Set-Cookie`) are cut to their last.
pub fn single_value_response(mode: Mode, groups: &mut [(String, Vec<Vec<u8>>)]) {
    if mode != Mode::LambdaSingle {
        return;
    }
    for (_, values) in groups {
        let last = values.len().saturating_sub(1);
        values.drain(..last);
    }
}

/// The spec: "In Lambda mode `SERVER_ADDR` has no real counterpart and may be left out
/// of the comparison" (a Lambda sandbox has no listening address; nginx shows its own).
/// Left out of both dumps, so the keys around it still compare in order.
pub fn server_addr(dump: &mut Value) {
    if let Some(server) = dump.get_mut("server").and_then(Value::as_object_mut) {
        server.shift_remove("SERVER_ADDR");
    }
}

/// The ALB reads the whole request body before it invokes the function, so it answers
/// `Expect: 100-continue` itself, even where nginx answers at once without reading the
/// body (a POST to a static file): lamphp's side must show `100` whenever the client's
/// request asked for it.
pub fn interim(mode: Mode, client_request: &[u8], reference: &[u16]) -> Vec<u16> {
    let expects = header_lines(client_request).iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case(b"100-continue")
    });
    match mode.is_lambda() && expects {
        true => vec![100],
        false => reference.to_vec(),
    }
}

/// The status line answers the client's connection, which in the Lambda modes is the
/// emulator's: its HTTP version follows the request the client sent (see
/// `normalize::status_line`), not the one the reference was sent (`alb::event_version`).
pub fn client_request<'a>(mode: Mode, reference: &'a [u8], lamphp: &'a [u8]) -> &'a [u8] {
    match mode.is_lambda() {
        true => lamphp,
        false => reference,
    }
}

/// A Lambda's answer is whole (no streaming through an ALB), so the ALB frames it with a
/// Content-Length; where nginx streamed PHP's output to an HTTP/1.0 client, ending it by
/// closing the connection, there is no length to compare.
pub fn streamed_to_close(mode: Mode, reference: &Response) -> bool {
    mode.is_lambda()
        && !reference.is_chunked()
        && reference.header("content-length").is_none()
        && !reference.body.is_empty()
}
