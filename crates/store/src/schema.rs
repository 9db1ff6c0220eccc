//! The index's schema, and how an [`Event`] becomes an index document.

use std::net::{IpAddr, Ipv6Addr};

use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, IpAddrOptions, JsonObjectOptions, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};

use trailwatch_query::KnownField;

use crate::tokenizers;

/// The index fields, by role.
#[derive(Debug, Clone)]
pub struct Fields {
    /// One keyword field per known keyword/IP field, indexed lowercase; the facetable ones are
    /// also fast (original case) for facets.
    keyword: Vec<(KnownField, Field)>,
    pub time: Field,
    pub received: Field,
    /// `source_ip` as an IP address, when it is one (for CIDR queries).
    pub ip: Field,
    /// Names of the known fields the event has, and `@path` for every present raw path.
    pub exists: Field,
    /// Free text: the title and every string of the record.
    pub text: Field,
    /// The record as a JSON field (strings lowercase whole, numbers and booleans typed).
    pub raw: Field,
    /// The record's original bytes.
    pub record: Field,
    /// A stable hash of the event id, to rebuild the duplicate filter at open.
    pub id_hash: Field,
}

/// The fast-field name of a known field (`actor.name` → `actor_name`).
pub fn column_name(field: KnownField) -> String {
    field.name().replace('.', "_")
}

/// Whether facets and histogram splits can use this field (a fast column exists).
pub fn is_facetable(field: KnownField) -> bool {
    use KnownField::*;
    !matches!(field, Id | RequestId | Title | ErrorMessage | Time | Received)
}

/// Whether the field's value is stored to rebuild the event when read back.
fn is_stored(field: KnownField) -> bool {
    matches!(field, KnownField::Account | KnownField::Region)
}

pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let keyword_indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizers::KEYWORD)
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let mut keyword = Vec::new();
    for &f in KnownField::ALL {
        if matches!(f, KnownField::Time | KnownField::Received) {
            continue;
        }
        let mut opts = TextOptions::default().set_indexing_options(keyword_indexing.clone());
        if is_facetable(f) {
            opts = opts.set_fast("raw");
        }
        if is_stored(f) {
            opts = opts.set_stored();
        }
        keyword.push((f, b.add_text_field(&column_name(f), opts)));
    }
    let time = b.add_i64_field("time", NumericOptions::default().set_indexed().set_fast());
    let received = b.add_i64_field("received", NumericOptions::default().set_fast().set_stored());
    let ip = b.add_ip_addr_field("source_ip_addr", IpAddrOptions::default().set_fast());
    let exists = b.add_text_field(
        "exists",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    let text = b.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizers::WORDS)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        ),
    );
    let raw = b.add_json_field("raw", JsonObjectOptions::default().set_indexing_options(keyword_indexing));
    let record = b.add_bytes_field("record", BytesOptions::default().set_stored());
    let id_hash = b.add_u64_field("id_hash", NumericOptions::default().set_fast());
    let fields = Fields { keyword, time, received, ip, exists, text, raw, record, id_hash };
    (b.build(), fields)
}

impl Fields {
    /// The index field of a known keyword/IP field.
    pub fn keyword(&self, field: KnownField) -> Option<Field> {
        self.keyword.iter().find(|(f, _)| *f == field).map(|(_, x)| *x)
    }

    /// The keyword fields, with the known field each holds.
    pub fn keywords(&self) -> &[(KnownField, Field)] {
        &self.keyword
    }
}

/// How IP addresses are kept in the index: IPv4 as IPv4-mapped IPv6.
pub fn ip_to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// A stable 64-bit hash of an event id (lowercased, as the id keyword is indexed).
pub fn id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= b.to_ascii_lowercase() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finalizer: spreads FNV's weak low bits for the bloom filter.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
