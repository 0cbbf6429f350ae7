//! FastCGI records (the spec's section 3), pure encoding and decoding.

use crate::cgi::Params;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const RESPONDER: u16 = 1;
const KEEP_CONN: u8 = 1;
const HEADER_LEN: usize = 8;
/// php-fpm has no multiplexing; every request on a connection is request 1, as nginx does.
pub const REQUEST_ID: u16 = 1;
/// Content per record. php-fpm rejects a record whose content and padding exceed
/// 0xffff, so we stay at a multiple of 8 below it, as PHP's own writer does.
pub const MAX_CONTENT: usize = 0xfff8;

/// Params that cannot be sent: one pair does not fit in a record (php-fpm refuses pairs
/// split across records). A 431 for the client.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("request header {name:?} is too large to pass to php-fpm ({len} bytes)")]
pub struct PairTooLarge {
    pub name: String,
    pub len: usize,
}

/// Encode BEGIN_REQUEST (responder role, connection kept open) and the PARAMS stream.
pub fn encode_prelude(params: &Params, buf: &mut BytesMut) -> Result<(), PairTooLarge> {
    put_record(
        buf,
        BEGIN_REQUEST,
        &[0, RESPONDER as u8, KEEP_CONN, 0, 0, 0, 0, 0],
    );
    let mut content = Vec::with_capacity(MAX_CONTENT.min(4096));
    for (name, value) in params {
        let len = pair_len(name, value);
        if len > MAX_CONTENT {
            return Err(PairTooLarge {
                name: String::from_utf8_lossy(name).into_owned(),
                len,
            });
        }
        if content.len() + len > MAX_CONTENT {
            put_record(buf, PARAMS, &content);
            content.clear();
        }
        put_length(&mut content, name.len());
        put_length(&mut content, value.len());
        content.extend_from_slice(name);
        content.extend_from_slice(value);
    }
    if !content.is_empty() {
        put_record(buf, PARAMS, &content);
    }
    put_record(buf, PARAMS, &[]);
    Ok(())
}

/// Encode request body bytes as STDIN records.
pub fn encode_stdin(data: &[u8], buf: &mut BytesMut) {
    for chunk in data.chunks(MAX_CONTENT) {
        put_record(buf, STDIN, chunk);
    }
}

/// The empty STDIN record that ends the body.
pub fn encode_stdin_end(buf: &mut BytesMut) {
    put_record(buf, STDIN, &[]);
}

fn pair_len(name: &[u8], value: &[u8]) -> usize {
    let prefix = |n: usize| if n < 128 { 1 } else { 4 };
    prefix(name.len()) + prefix(value.len()) + name.len() + value.len()
}

fn put_length(buf: &mut Vec<u8>, len: usize) {
    if len < 128 {
        buf.push(len as u8);
    } else {
        buf.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
    }
}

fn put_record(buf: &mut BytesMut, kind: u8, content: &[u8]) {
    let padding = (8 - content.len() % 8) % 8;
    buf.reserve(HEADER_LEN + content.len() + padding);
    buf.put_u8(VERSION);
    buf.put_u8(kind);
    buf.put_u16(REQUEST_ID);
    buf.put_u16(content.len() as u16);
    buf.put_u8(padding as u8);
    buf.put_u8(0);
    buf.put_slice(content);
    buf.put_bytes(0, padding);
}

/// A record php-fpm sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The request is over; `protocol_status` 0 is "request complete".
    End {
        protocol_status: u8,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("php-fpm sent a record of version {0}")]
    Version(u8),
    #[error("php-fpm sent a record of unexpected type {0}")]
    Type(u8),
    #[error("php-fpm sent a record for request {0}")]
    RequestId(u16),
    #[error("php-fpm sent a malformed END_REQUEST record")]
    EndRequest,
}

/// Take one whole record off the front of `buf`, or `None` until one has arrived.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let (version, kind) = (buf[0], buf[1]);
    let request_id = u16::from_be_bytes([buf[2], buf[3]]);
    let content_len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
    let padding = buf[6] as usize;
    if version != VERSION {
        return Err(ProtocolError::Version(version));
    }
    if request_id != REQUEST_ID {
        return Err(ProtocolError::RequestId(request_id));
    }
    if buf.len() < HEADER_LEN + content_len + padding {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let content = buf.split_to(content_len).freeze();
    buf.advance(padding);
    match kind {
        STDOUT => Ok(Some(Frame::Stdout(content))),
        STDERR => Ok(Some(Frame::Stderr(content))),
        END_REQUEST if content.len() == 8 => Ok(Some(Frame::End {
            protocol_status: content[4],
        })),
        END_REQUEST => Err(ProtocolError::EndRequest),
        other => Err(ProtocolError::Type(other)),
    }
}

#[cfg(test)]
mod tests;
