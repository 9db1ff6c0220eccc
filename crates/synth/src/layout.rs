//! Where files go and how they are written: CloudTrail's S3 key layout under a local folder, and
//! a streaming gzip writer for `{"Records":[...]}`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use rand::rngs::SmallRng;

use crate::util::{push_alnum, Civil};
use crate::SynthError;

/// The folder and file name parts of one delivery.
pub struct Delivery<'a> {
    pub prefix: &'a str,
    pub org_id: Option<&'a str>,
    pub account: &'a str,
    pub region: &'a str,
    /// The delivery time; it names the file and picks the day folder.
    pub delivered_ms: i64,
}

impl Delivery<'_> {
    /// `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>`, under `root`.
    pub fn folder(&self, root: &Path) -> PathBuf {
        let c = Civil::from_ms(self.delivered_ms);
        let mut path = root.to_path_buf();
        for part in self.prefix.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
        }
        path.push("AWSLogs");
        if let Some(org) = self.org_id {
            path.push(org);
        }
        path.push(self.account);
        path.push("CloudTrail");
        path.push(self.region);
        path.push(format!("{:04}", c.year));
        path.push(format!("{:02}", c.month));
        path.push(format!("{:02}", c.day));
        path
    }

    /// `<account>_CloudTrail_<region>_<yyyymmddTHHMMZ>_<16 alphanumerics>.json.gz`.
    pub fn file_name(&self, rng: &mut SmallRng) -> String {
        let c = Civil::from_ms(self.delivered_ms);
        let mut suffix = Vec::with_capacity(16);
        push_alnum(&mut suffix, 16, rng);
        format!(
            "{}_CloudTrail_{}_{:04}{:02}{:02}T{:02}{:02}Z_{}.json.gz",
            self.account,
            self.region,
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            String::from_utf8_lossy(&suffix)
        )
    }
}

/// Byte counts of one written file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub gz_bytes: u64,
    pub json_bytes: u64,
}

/// Streams records into a gzip file as one `{"Records":[...]}` document.
pub struct RecordWriter {
    path: PathBuf,
    encoder: GzEncoder<BufWriter<File>>,
    json_bytes: u64,
    first: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Io { path: path.to_path_buf(), source }
}

impl RecordWriter {
    pub fn create(path: PathBuf) -> Result<RecordWriter, SynthError> {
        let file = File::create(&path).map_err(io_error(&path))?;
        let mut encoder = GzEncoder::new(BufWriter::with_capacity(256 * 1024, file), Compression::default());
        encoder.write_all(b"{\"Records\":[").map_err(io_error(&path))?;
        Ok(RecordWriter { path, encoder, json_bytes: 12, first: true })
    }

    /// Appends one serialized record.
    pub fn push(&mut self, record: &[u8]) -> Result<(), SynthError> {
        if !self.first {
            self.encoder.write_all(b",").map_err(io_error(&self.path))?;
            self.json_bytes += 1;
        }
        self.first = false;
        self.encoder.write_all(record).map_err(io_error(&self.path))?;
        self.json_bytes += record.len() as u64;
        Ok(())
    }

    /// Closes the document and the gzip stream.
    pub fn finish(mut self) -> Result<Written, SynthError> {
        self.encoder.write_all(b"]}").map_err(io_error(&self.path))?;
        let mut inner = self.encoder.finish().map_err(io_error(&self.path))?;
        inner.flush().map_err(io_error(&self.path))?;
        let file = inner.into_inner().map_err(|e| io_error(&self.path)(e.into_error()))?;
        let gz_bytes = file.metadata().map_err(io_error(&self.path))?.len();
        Ok(Written { gz_bytes, json_bytes: self.json_bytes + 2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng_for;

    #[test]
    fn key_layout_matches_cloudtrail() {
        let d = Delivery {
            prefix: "trails/main",
            org_id: Some("o-abc123"),
            account: "123456789012",
            region: "eu-west-1",
            delivered_ms: 1_722_375_081_000,
        };
        let folder = d.folder(Path::new("/out"));
        assert_eq!(
            folder,
            Path::new("/out/trails/main/AWSLogs/o-abc123/123456789012/CloudTrail/eu-west-1/2024/07/30")
        );
        let name = d.file_name(&mut rng_for(1, 1));
        assert!(name.starts_with("123456789012_CloudTrail_eu-west-1_20240730T2131Z_"), "{name}");
        assert_eq!(name.len(), "123456789012_CloudTrail_eu-west-1_20240730T2131Z_".len() + 16 + 8);
    }
}
