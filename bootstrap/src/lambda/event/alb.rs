//! An ALB's event: the request as the client sent it, plus the ALB's X-Forwarded-* and
//! X-Amzn-Trace-Id headers.

use super::wire::Raw;
use super::{event_body, event_headers, event_path, join_query, Parts, Refused};
use crate::origin::Origin;

/// The ALB passes query keys and values still percent-encoded, as the client sent them
/// ("If the query parameters are URL-encoded, the load balancer does not decode them"),
/// so the query string is rebuilt byte for byte from them, in the event's order, every
/// value of a repeated key in turn. What cannot be rebuilt:
/// - `?a` and `?a=` both arrive as `"a": ""`, and come back as `a=`;
/// - `/x?` arrives like `/x`, and comes back without the `?` (so `REQUEST_URI` is `/x`);
/// - empty pieces (`?a=1&&b=2`) and the order between different keys are the ALB's.
///
/// In single-value mode the ALB has already kept only the last value of each key.
pub(super) fn parts(mut raw: Raw) -> Result<Parts, Refused> {
    let method = raw
        .http_method
        .take()
        .ok_or("the event has no httpMethod")?;
    let path = event_path(raw.path.take(), "path")?;
    // The ALB never puts one in a path (it would have ended it); an event that does
    // would have its path split in the wrong place.
    if path.contains(&b'?') {
        return Err("path contains '?'".into());
    }
    let query = match (
        raw.multi_value_query_string_parameters.take(),
        raw.query_string_parameters.take(),
    ) {
        (Some(multi), _) => join_query(
            multi
                .0
                .iter()
                .flat_map(|(key, values)| values.iter().map(move |value| (key, value))),
        ),
        (None, Some(single)) => join_query(single.0.iter().map(|(k, v)| (k, v))),
        (None, None) => None,
    };
    let headers = event_headers(&mut raw)?;
    // Exactly what the reference's nginx derives behind an ALB.
    let origin = Origin::behind_proxy(None, String::new(), &headers);
    let body = event_body(&mut raw)?;
    Ok(Parts {
        method,
        path,
        query,
        headers,
        origin,
        body,
    })
}
