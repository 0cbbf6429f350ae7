use super::*;

/// Walk the records in `buf`: (type, content) pairs, checking header invariants.
fn records(mut buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let len = u16::from_be_bytes([buf[4], buf[5]]) as usize;
        let pad = buf[6] as usize;
        assert_eq!(buf[0], 1);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 1);
        assert!(len + pad <= 0xffff, "record of {len}+{pad} bytes");
        assert_eq!((len + pad) % 8, 0);
        out.push((buf[1], buf[8..8 + len].to_vec()));
        buf = &buf[8 + len + pad..];
    }
    out
}

/// Decode the pairs of a PARAMS stream record by record, so that a pair split across
/// records is caught.
fn pairs_per_record(content: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut i = 0;
    let len = |c: &[u8], i: &mut usize| {
        if c[*i] < 128 {
            *i += 1;
            c[*i - 1] as usize
        } else {
            *i += 4;
            (u32::from_be_bytes(c[*i - 4..*i].try_into().unwrap()) & 0x7fff_ffff) as usize
        }
    };
    let mut out = Vec::new();
    while i < content.len() {
        let (n, v) = (len(content, &mut i), len(content, &mut i));
        out.push((
            content[i..i + n].to_vec(),
            content[i + n..i + n + v].to_vec(),
        ));
        i += n + v;
        assert!(i <= content.len(), "pair runs past its record");
    }
    out
}

fn params(sizes: &[usize]) -> Params {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("P{i}").into_bytes().into(), vec![b'x'; n]))
        .collect()
}

#[test]
fn params_split_on_whole_pairs() {
    // (value sizes) -> number of PARAMS records with content
    let table: &[(&[usize], usize)] = &[
        (&[], 0),
        (&[1, 200, 3], 1),
        (&[40_000, 40_000], 2),
        (&[65_000, 10, 65_000], 2),
        (&[MAX_CONTENT - 4 - 1 - 2], 1),
        (&[30_000; 7], 4),
    ];
    for (sizes, want_records) in table {
        let p = params(sizes);
        let mut buf = BytesMut::new();
        encode_prelude(&p, &mut buf).unwrap();
        let recs = records(&buf);
        assert_eq!(
            recs[0],
            (1, vec![0, 1, 1, 0, 0, 0, 0, 0]),
            "BEGIN_REQUEST keeps the connection"
        );
        let params_recs: Vec<_> = recs[1..].iter().filter(|(t, _)| *t == 4).collect();
        assert_eq!(
            params_recs.last().unwrap().1,
            b"",
            "PARAMS ends with an empty record"
        );
        let content: Vec<_> = params_recs.iter().filter(|(_, c)| !c.is_empty()).collect();
        assert_eq!(content.len(), *want_records, "{sizes:?}");
        let decoded: Vec<_> = content
            .iter()
            .flat_map(|(_, c)| pairs_per_record(c))
            .collect();
        let want: Vec<_> = p.iter().map(|(k, v)| (k.to_vec(), v.clone())).collect();
        assert_eq!(decoded, want, "{sizes:?}");
    }
}

#[test]
fn a_pair_larger_than_a_record_is_refused() {
    let p = params(&[10, MAX_CONTENT]);
    let err = encode_prelude(&p, &mut BytesMut::new()).unwrap_err();
    assert_eq!(err.name, "P1");
}

#[test]
fn stdin_is_chunked_below_the_record_limit() {
    for size in [0, 1, MAX_CONTENT, MAX_CONTENT + 1, 3 * MAX_CONTENT + 17] {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut buf = BytesMut::new();
        encode_stdin(&data, &mut buf);
        encode_stdin_end(&mut buf);
        let recs = records(&buf);
        assert!(recs.iter().all(|(t, _)| *t == 5));
        assert_eq!(recs.last().unwrap().1, b"");
        assert_eq!(recs.concat_content(), data, "{size}");
    }
}

trait Concat {
    fn concat_content(&self) -> Vec<u8>;
}
impl Concat for Vec<(u8, Vec<u8>)> {
    fn concat_content(&self) -> Vec<u8> {
        self.iter().flat_map(|(_, c)| c.clone()).collect()
    }
}

fn raw(kind: u8, id: u16, content: &[u8], padding: u8) -> Vec<u8> {
    let mut r = vec![1, kind];
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&(content.len() as u16).to_be_bytes());
    r.extend_from_slice(&[padding, 0]);
    r.extend_from_slice(content);
    r.extend(std::iter::repeat_n(0, padding as usize));
    r
}

#[test]
fn decodes_interleaved_output_byte_by_byte() {
    let mut wire = raw(6, 1, b"Content-type: text/plain\r\n\r\nhel", 5);
    wire.extend(raw(7, 1, b"PHP Warning: x", 2));
    wire.extend(raw(6, 1, b"lo", 0));
    wire.extend(raw(3, 1, &[0, 0, 0, 0, 0, 0, 0, 0], 0));
    // Feed one byte at a time: a record is only produced once whole.
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for b in wire {
        buf.put_u8(b);
        while let Some(f) = decode(&mut buf).unwrap() {
            frames.push(f);
        }
    }
    assert_eq!(
        frames,
        [
            Frame::Stdout(Bytes::from_static(b"Content-type: text/plain\r\n\r\nhel")),
            Frame::Stderr(Bytes::from_static(b"PHP Warning: x")),
            Frame::Stdout(Bytes::from_static(b"lo")),
            Frame::End { protocol_status: 0 },
        ]
    );
    assert!(buf.is_empty());
}

#[test]
fn refuses_what_php_fpm_never_sends() {
    let table: &[(Vec<u8>, ProtocolError)] = &[
        (raw(6, 2, b"x", 0), ProtocolError::RequestId(2)),
        (raw(11, 1, &[0; 8], 0), ProtocolError::Type(11)),
        (raw(3, 1, &[0; 4], 4), ProtocolError::EndRequest),
        (
            {
                let mut r = raw(6, 1, b"", 0);
                r[0] = 2;
                r
            },
            ProtocolError::Version(2),
        ),
    ];
    for (wire, want) in table {
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(decode(&mut buf).unwrap_err(), *want);
    }
}
