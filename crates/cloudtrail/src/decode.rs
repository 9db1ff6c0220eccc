//! Streaming decoder for CloudTrail log files.
pub struct Limits;
pub struct RawRecord;
pub struct RecordReader;
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {}
