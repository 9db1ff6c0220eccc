//! A loopback HTTP proxy in front of moto that counts the requests going over the wire, by
//! kind: what the poller says it sent is checked against what it really sent. Connections are
//! kept alive; only the request side is parsed (head and `Content-Length` body), the answers
//! are copied through as bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON API call (`X-Amz-Target`): CloudTrail's DescribeTrails, GetTrailStatus.
    Api,
    /// `GetBucketLocation`.
    Location,
    /// `ListObjectsV2` with a delimiter: the folders discovery looks at.
    Folders,
    /// `ListObjectsV2` of a day folder: the polling itself.
    List,
    /// `GetObject`.
    Get,
    Other,
}

const KINDS: [Kind; 6] = [Kind::Api, Kind::Location, Kind::Folders, Kind::List, Kind::Get, Kind::Other];

/// Requests counted by kind (in [`KINDS`] order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; 6]);

impl Counts {
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[KINDS.iter().position(|k| *k == kind).expect("every kind is listed")]
    }

    /// Requests made by discovery (trails, their status, the bucket's region, account folders).
    pub fn discovery(&self) -> u64 {
        self.get(Kind::Api) + self.get(Kind::Location) + self.get(Kind::Folders)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn since(&self, before: &Counts) -> Counts {
        Counts(std::array::from_fn(|i| self.0[i] - before.0[i]))
    }
}

pub struct CountingProxy {
    pub port: u16,
    counts: Arc<[AtomicU64; 6]>,
    /// Client connections accepted: with keep-alive, far fewer than requests.
    connections: Arc<AtomicU64>,
}

impl CountingProxy {
    pub fn start(upstream: u16) -> Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let counts: Arc<[AtomicU64; 6]> = Arc::new(Default::default());
        let c = counts.clone();
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                accepted.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &c);
                });
            }
        });
        Ok(CountingProxy { port, counts, connections })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn counts(&self) -> Counts {
        Counts(std::array::from_fn(|i| self.counts[i].load(Ordering::SeqCst)))
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Relays one client connection: requests one by one to moto, answers copied back.
fn serve(client: TcpStream, upstream: u16, counts: &[AtomicU64; 6]) -> std::io::Result<()> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let (mut up_read, mut client_write) = (up.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Both);
    });
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        loop {
            let n = reader.read_until(b'\n', &mut head)?;
            if n == 0 || head.ends_with(b"\r\n\r\n") {
                break;
            }
        }
        if !head.ends_with(b"\r\n\r\n") {
            break;
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let kind = classify(&text);
        counts[KINDS.iter().position(|k| *k == kind).expect("every kind is listed")]
            .fetch_add(1, Ordering::SeqCst);
        up.write_all(&head)?;
        std::io::copy(&mut (&mut reader).take(length), &mut up)?;
        if text.contains("transfer-encoding: chunked") {
            // Not sent by the poller; relay the rest as bytes rather than misread it.
            std::io::copy(&mut reader, &mut up)?;
            break;
        }
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

/// The kind of a request from its head (lowercased).
fn classify(head: &str) -> Kind {
    let line = head.lines().next().unwrap_or("");
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<&str> = query.split('&').collect();
    let has = |p: &str| params.iter().any(|q| *q == p || q.starts_with(&format!("{p}=")));
    if head.lines().any(|l| l.starts_with("x-amz-target:")) {
        Kind::Api
    } else if !line.starts_with("get ") {
        Kind::Other
    } else if has("location") {
        Kind::Location
    } else if has("list-type") {
        if has("delimiter") {
            Kind::Folders
        } else {
            Kind::List
        }
    } else if path.trim_start_matches('/').contains('/') {
        Kind::Get
    } else {
        Kind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart() {
        let check = |head: &str, kind: Kind| assert_eq!(classify(head), kind, "{head}");
        check("get /logs?list-type=2&prefix=a%2fcloudtrail%2f&start-after=x http/1.1\r\n", Kind::List);
        check("get /logs?delimiter=%2f&list-type=2&prefix=awslogs%2f http/1.1\r\n", Kind::Folders);
        check("get /logs?location http/1.1\r\n", Kind::Location);
        check("get /logs/awslogs/o-1/111/cloudtrail/x.json.gz?x-id=getobject http/1.1\r\n", Kind::Get);
        check(
            "post / http/1.1\r\nx-amz-target: com.amazonaws.cloudtrail.v20131101.describetrails\r\n",
            Kind::Api,
        );
        check("put /logs/k http/1.1\r\n", Kind::Other);
    }
}
