//! The commands and answers on the wire, both ways.

use super::*;
use serde_json::json;

type Decoded = Result<Option<Command>, CommandError>;
type Check = Box<dyn Fn(&Decoded) -> bool>;

#[test]
fn decodes_commands_and_refuses_bad_ones() {
    let hash = "ab".repeat(32);
    let unpack = |release: &str, url: &str, sha: &str| {
        format!(
            r#"{{"lamphp":{{"unpack":{{"release":"{release}","url":"{url}","sha256":"{sha}"}}}}}}"#
        )
    };
    let shape =
        |r: &Result<Option<Command>, CommandError>| matches!(r, Err(CommandError::Shape(_)));
    let table: Vec<(String, Check)> = vec![
        (
            unpack(
                "r1",
                "https://b.s3.amazonaws.com/x?X-Amz-Signature=1",
                &hash,
            ),
            Box::new(|r| {
                *r == Ok(Some(Command::Unpack {
                    release: "r1".into(),
                    url: "https://b.s3.amazonaws.com/x?X-Amz-Signature=1".into(),
                    sha256: [0xab; 32],
                }))
            }),
        ),
        (
            r#"{"lamphp":{"prune":{"keep":["a","b"]}}}"#.into(),
            Box::new(|r| {
                *r == Ok(Some(Command::Prune {
                    keep: vec!["a".into(), "b".into()],
                }))
            }),
        ),
        (r#"{"hello":"world"}"#.into(), Box::new(|r| *r == Ok(None))),
        ("not json".into(), Box::new(|r| *r == Ok(None))),
        (r#"{"lamphp":{"reboot":{}}}"#.into(), Box::new(shape)),
        (r#"{"lamphp":{"prune":{}}}"#.into(), Box::new(shape)),
        (
            r#"{"lamphp":{"prune":{"keep":[],"all":true}}}"#.into(),
            Box::new(shape),
        ),
        (
            unpack("../x", "https://h/x", &hash),
            Box::new(|r| *r == Err(CommandError::Id(IdError::LeadingDot("../x".into())))),
        ),
        (
            r#"{"lamphp":{"prune":{"keep":["a/b"]}}}"#.into(),
            Box::new(|r| *r == Err(CommandError::Id(IdError::BadChar("a/b".into())))),
        ),
        (
            unpack("r1", "file:///etc/passwd", &hash),
            Box::new(|r| *r == Err(CommandError::Url("file:///etc/passwd".into()))),
        ),
        (
            unpack("r1", "https://h/x", "abc"),
            Box::new(|r| *r == Err(CommandError::Sha256("abc".into()))),
        ),
        (
            unpack("r1", "https://h/x", &"zz".repeat(32)),
            Box::new(|r| matches!(r, Err(CommandError::Sha256(_)))),
        ),
    ];
    for (payload, want) in table {
        let got = Command::decode(payload.as_bytes());
        assert!(want(&got), "{payload}: {got:?}");
    }
}

#[test]
fn commands_encode_to_what_decodes_back() {
    let commands = [
        Command::Unpack {
            release: "3f2a9c0d1b7e4f60".into(),
            url: "https://b.s3.amazonaws.com/releases/3f2a9c0d1b7e4f60.tar.gz?X-Amz-Signature=1"
                .into(),
            sha256: [7; 32],
        },
        Command::Prune {
            keep: vec!["a".into(), "b".into()],
        },
        Command::Prune { keep: vec![] },
    ];
    for command in commands {
        let payload = command.encode().unwrap().to_string();
        assert_eq!(
            Command::decode(payload.as_bytes()),
            Ok(Some(command)),
            "{payload}"
        );
    }
    assert_eq!(
        Command::Prune {
            keep: vec!["..".into()]
        }
        .encode(),
        Err(CommandError::Id(IdError::LeadingDot("..".into())))
    );
}

#[test]
fn answers_keep_their_json_shapes() {
    let new = Unpacked::New {
        release: "r1".into(),
        files: 3,
        bytes: 10,
    };
    let existing = Unpacked::Existing {
        release: "r1".into(),
        existing: True,
    };
    let pruned = Pruned {
        removed: vec!["old".into()],
        kept: vec!["r1".into()],
    };
    let table = [
        (
            serde_json::to_value(&new).unwrap(),
            json!({"release": "r1", "files": 3, "bytes": 10}),
        ),
        (
            serde_json::to_value(&existing).unwrap(),
            json!({"release": "r1", "existing": true}),
        ),
        (
            serde_json::to_value(&pruned).unwrap(),
            json!({"removed": ["old"], "kept": ["r1"]}),
        ),
    ];
    for (got, want) in table {
        assert_eq!(got, want);
    }
    let read = |v: Value| serde_json::from_value::<Unpacked>(v);
    assert_eq!(
        read(json!({"release": "r1", "files": 3, "bytes": 10})).unwrap(),
        new
    );
    assert_eq!(
        read(json!({"release": "r1", "existing": true})).unwrap(),
        existing
    );
    assert!(read(json!({"release": "r1", "existing": false})).is_err());
    assert!(read(json!({"release": "r1"})).is_err());
}
