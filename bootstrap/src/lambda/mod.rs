//! Lambda mode: HTTP events (ALB, API Gateway, Function URLs) through the Runtime API,
//! answered by the same core as `serve`.

pub mod offload;
pub mod shrink;
