//! Any bytes as a Lambda event: decoding must answer (a request, or an error that says
//! why), never panic; a decoded request's answer must encode. And the decoder must agree
//! with the request it produced: an ALB event decodes to the request that `bootstrap
//! local`'s ALB emulator, an encoder written apart from it, turns back into the same
//! event, so decoding it again gives the same method, path, query, headers and body.
#![no_main]

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http::HeaderMap;
use http_body::Body as _;
use lamphp::lambda::event::{decode, encode, HttpEvent, Kind, Reply};
use lamphp::request::RequestBody;
use libfuzzer_sys::fuzz_target;

/// What the ALB adds to every request, and what never crosses it: left out of the
/// comparison of the headers.
const ADDED_OR_DROPPED: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-amzn-trace-id",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

fuzz_target!(|data: &[u8]| {
    let Ok(event) = decode(data) else {
        return;
    };
    let headers = event.request.head.headers.clone();
    let reply = Reply {
        status: http::StatusCode::OK,
        reason: None,
        headers: &headers,
        body: data,
    };
    let json = encode(event.kind, &reply);
    assert!(serde_json::from_str::<serde_json::Value>(json.get()).is_ok());
    if let Kind::Alb { multi_value } = event.kind {
        round_trip(event, multi_value);
    }
});

fn round_trip(event: HttpEvent, multi_value: bool) {
    let HttpEvent { request, kind } = event;
    let head = request.head;
    let body = whole(request.body);
    let mut target = head.path.clone();
    if let Some(query) = &head.query {
        target.push(b'?');
        target.extend_from_slice(query);
    }
    // The emulator starts from an HTTP request; targets no client could send are out
    // (a `#` would begin a fragment, which never leaves the client).
    if target.contains(&b'#') {
        return;
    }
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    let (mut parts, ()) = http::Request::builder()
        .method(head.method.clone())
        .uri(uri)
        .body(())
        .expect("a method and a URI make a request")
        .into_parts();
    parts.headers = head.headers.clone();
    let peer: SocketAddr = "192.0.2.1:1234".parse().unwrap();
    let again = lamphp::local::alb::event_from_http(&parts, &body, peer, 443, multi_value);
    let second = match decode(&again) {
        Ok(second) => second,
        // The ALB's own headers can push a request over a limit it was just under.
        Err(e) => {
            let near_limit =
                head.headers.len() + 4 > 1000 || head.headers.values().any(|v| v.len() > 8000);
            assert!(
                near_limit,
                "the emulator's event for a decoded request: {e}"
            );
            return;
        }
    };
    assert_eq!(second.kind, kind);
    let again = second.request.head;
    assert_eq!(again.method, head.method);
    assert_eq!(again.path, head.path);
    assert_eq!(
        pairs(again.query.as_deref(), multi_value),
        pairs(head.query.as_deref(), multi_value)
    );
    assert_eq!(
        comparable(&again.headers, multi_value),
        comparable(&head.headers, multi_value)
    );
    assert_eq!(whole(second.request.body), body);
}

/// A query as an ALB event can carry it: pieces split at `&` (empty ones gone) and at the
/// first `=`, each key's values together at its first place (only the last without
/// multi-value headers).
fn pairs(query: Option<&[u8]>, multi_value: bool) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut out: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    for piece in query.unwrap_or_default().split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let at = piece.iter().position(|&b| b == b'=').unwrap_or(piece.len());
        let (key, value) = (&piece[..at], piece.get(at + 1..).unwrap_or_default());
        match out.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) if multi_value => values.push(value.to_vec()),
            Some((_, values)) => *values = vec![value.to_vec()],
            None => out.push((key.to_vec(), vec![value.to_vec()])),
        }
    }
    out
}

/// Headers by name in order, without the ALB's own; one value each without multi-value
/// headers (the ALB keeps the last).
fn comparable(headers: &HeaderMap, multi_value: bool) -> Vec<(String, Vec<Vec<u8>>)> {
    headers
        .keys()
        .filter(|name| !ADDED_OR_DROPPED.contains(&name.as_str()))
        .map(|name| {
            let mut values: Vec<Vec<u8>> = headers
                .get_all(name)
                .iter()
                .map(|v| v.as_bytes().to_vec())
                .collect();
            if !multi_value {
                values.drain(..values.len() - 1);
            }
            (name.to_string(), values)
        })
        .collect()
}

/// A decoded event's body, which is whole in memory: every frame is ready at once.
fn whole(mut body: RequestBody) -> Vec<u8> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut bytes = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Poll::Ready(None) => return bytes,
            Poll::Ready(Some(Err(e))) => panic!("a decoded event's body failed: {e}"),
            Poll::Pending => panic!("a decoded event's body is not whole"),
        }
    }
}
