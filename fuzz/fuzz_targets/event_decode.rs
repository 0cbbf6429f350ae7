//! Any bytes as a Lambda event: decoding must answer (a request, or an error that says
//! why), never panic; a decoded request's answer must encode.
#![no_main]

use lamphp::lambda::event::{decode, encode, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = decode(data) {
        let headers = event.request.head.headers.clone();
        let reply = Reply {
            status: http::StatusCode::OK,
            reason: None,
            headers: &headers,
            body: data,
        };
        let json = encode(event.kind, &reply);
        assert!(serde_json::from_str::<serde_json::Value>(json.get()).is_ok());
    }
});
