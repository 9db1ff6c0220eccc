//! Reading S3 objects for the ingest pipeline: a streaming `GetObject` per file, read by the
//! decoder threads (so the pipeline's decoder count bounds the fetches in flight). The SDK
//! retries throttling and 5xx answers with backoff and jitter; a body that breaks off in the
//! middle is resumed here with a ranged `GetObject` from the byte it stopped at.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use rand::Rng;
use tokio::runtime::Handle;
use trailwatch_ingest::{Discovered, Opener};

use crate::error::{describe, ErrorKind};

/// Times a broken body is resumed before the file is given up (its good records are kept).
const BODY_RETRIES: u32 = 5;

/// `s3://bucket/key`, the name S3 objects are recorded under.
pub fn object_url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Splits `s3://bucket/key`.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("s3://")?.split_once('/')
}

/// Request counters, shared by the fetches of a poll.
#[derive(Debug, Default)]
pub struct Counters {
    pub gets: AtomicU64,
    /// Fetches resumed after a broken body.
    pub resumed: AtomicU64,
}

/// Opens `s3://bucket/key` files with one client (the bucket's region).
pub struct S3Objects {
    pub handle: Handle,
    pub client: aws_sdk_s3::Client,
    pub counters: Arc<Counters>,
}

impl Opener for S3Objects {
    fn open(&self, file: &Discovered) -> Result<Box<dyn std::io::BufRead + Send>, String> {
        let url = file.path.to_string_lossy();
        let (bucket, key) = split_url(&url).ok_or_else(|| format!("not an s3:// name: {url}"))?;
        let mut reader = BodyReader {
            handle: self.handle.clone(),
            client: self.client.clone(),
            counters: self.counters.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            body: None,
            buf: Vec::new(),
            at: 0,
            offset: 0,
        };
        reader.body = Some(reader.get(0).map_err(|e| e.to_string())?);
        Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, reader)))
    }
}

struct BodyReader {
    handle: Handle,
    client: aws_sdk_s3::Client,
    counters: Arc<Counters>,
    bucket: String,
    key: String,
    body: Option<ByteStream>,
    buf: Vec<u8>,
    at: usize,
    /// Bytes of the object handed out so far.
    offset: u64,
}

impl BodyReader {
    /// `GetObject` from byte `from` on.
    fn get(&self, from: u64) -> std::io::Result<ByteStream> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let mut req = self.client.get_object().bucket(&self.bucket).key(&self.key);
        if from > 0 {
            req = req.range(format!("bytes={from}-"));
        }
        match self.handle.block_on(req.send()) {
            Ok(out) => Ok(out.body),
            Err(e) => {
                let (kind, detail) = describe(&e);
                let message = match kind {
                    ErrorKind::KmsDenied => {
                        format!("kms:Decrypt denied on key {}: {detail}", kms_key(&detail))
                    }
                    ErrorKind::Denied => format!("s3:GetObject denied: {detail}"),
                    _ => format!("s3:GetObject failed: {detail}"),
                };
                Err(std::io::Error::other(message))
            }
        }
    }
}

/// The KMS key an error message names, or a placeholder.
fn kms_key(message: &str) -> &str {
    message
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .find(|w| w.starts_with("arn:aws:kms:"))
        .map(|w| w.trim_end_matches(['.', ',', ')']))
        .unwrap_or("(not named in the error)")
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut attempt = 0;
        while self.at >= self.buf.len() {
            let Some(body) = self.body.as_mut() else { return Ok(0) };
            match self.handle.block_on(body.try_next()) {
                Ok(Some(bytes)) => {
                    self.buf = bytes.to_vec();
                    self.at = 0;
                }
                Ok(None) => {
                    self.body = None;
                    return Ok(0);
                }
                Err(e) if attempt < BODY_RETRIES => {
                    attempt += 1;
                    tracing::warn!(bucket = %self.bucket, key = %self.key, offset = self.offset, error = %e, "object body broke off; resuming");
                    std::thread::sleep(backoff(attempt));
                    self.counters.resumed.fetch_add(1, Ordering::Relaxed);
                    self.body = Some(self.get(self.offset)?);
                }
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "s3://{}/{}: body broke off at byte {} {} times: {e}",
                        self.bucket, self.key, self.offset, BODY_RETRIES
                    )))
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Exponential backoff with full jitter: up to 100 ms × 2^attempt, at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let cap = (100u64 << attempt.min(6)).min(5000);
    Duration::from_millis(rand::rng().random_range(cap / 4..=cap))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_and_keys() {
        assert_eq!(super::split_url("s3://b/AWSLogs/x.json.gz"), Some(("b", "AWSLogs/x.json.gz")));
        assert_eq!(super::split_url("/tmp/x"), None);
        assert_eq!(
            super::kms_key("User: x is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:1:key/abc."),
            "arn:aws:kms:us-east-1:1:key/abc"
        );
        assert!(super::backoff(3) <= std::time::Duration::from_millis(800));
    }
}
