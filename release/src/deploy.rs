//! `lamphp deploy`: bundle, upload, have `$LATEST` unpack it, point `$LATEST` at it.
//!
//! The configuration changes only after the function has answered that the release is
//! complete on EFS, so a failed deploy leaves staging as it was; production (`live`) is
//! a published version, which a deploy never touches.

use crate::aws::explain;
use crate::bundle::bundle;
use crate::function::{self, Function};
use anyhow::{anyhow, Result};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use lamphp_protocol::{Command, Unpacked};
use std::path::Path;
use std::time::Duration;

/// How long the function has to start fetching the bundle.
const PRESIGN: Duration = Duration::from_secs(15 * 60);

pub async fn deploy(
    function: &Function,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    site: &Path,
) -> Result<String> {
    let bundle = bundle(site)?;
    let id = bundle.id.clone();
    let key = format!("releases/{id}.tar.gz");
    println!(
        "bundled {} files from {} ({} bytes): release {id}",
        bundle.files,
        site.display(),
        bundle.bytes.len()
    );
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(bundle.bytes))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "uploading s3://{bucket}/{key}: {} (the command's user needs s3:PutObject on it)",
                explain(e)
            )
        })?;
    let presign = PresigningConfig::expires_in(PRESIGN)?;
    let url = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .presigned(presign)
        .await
        .map_err(|e| anyhow!("presigning s3://{bucket}/{key}: {}", explain(e)))?
        .uri()
        .to_owned();
    println!("uploaded s3://{bucket}/{key}");
    let unpack = Command::Unpack {
        release: id.clone(),
        url,
        sha256: bundle.sha256,
    };
    let answer: Unpacked = function.run(&unpack).await.map_err(|e| {
        anyhow!(
            "{e:#}\nrelease {id} was not unpacked; {} is unchanged",
            function.name
        )
    })?;
    match answer {
        Unpacked::Existing { .. } => println!("release {id} was already on EFS; left as it is"),
        Unpacked::New { files, bytes, .. } => {
            println!("unpacked release {id}: {files} files, {bytes} bytes")
        }
    }
    // An update still being applied would make ours fail.
    let config = function.wait_updated().await?;
    if function::release(&config) == Some(id.as_str()) {
        println!("{}:$LATEST already serves release {id}", function.name);
    } else {
        function.set_release(&config, &id).await?;
        println!(
            "{}:$LATEST (staging) now serves release {id}",
            function.name
        );
    }
    Ok(id)
}
