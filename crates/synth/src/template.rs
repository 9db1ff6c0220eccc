//! JSON fragments with `{{placeholders}}`, parsed once and rendered per record.
//!
//! A template is the literal JSON of a request, response or resource list with placeholders where
//! values vary. Within one record a resource placeholder always renders the same value, so a
//! bucket named in `requestParameters` is the bucket named in `resources`.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::pools::{push_object_key, Pool, Pools, POOL_COUNT};
use crate::util::{push_base64, push_expiration, push_hex, push_iso, push_key_chars, push_u64, push_uuid};

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// A resource of the account, the same one for the whole record.
    Pool(Pool),
    /// The account the event is recorded in.
    Account,
    /// Any configured account (cross-account grants, organization calls).
    OtherAccount,
    Region,
    /// The caller's ARN.
    Caller,
    /// The caller's short name (user, role session or service).
    CallerName,
    /// A fresh random UUID.
    Uuid,
    /// A UUID that stays the same within the record.
    SameUuid,
    /// Eight fresh hex digits.
    Hex8,
    /// Seventeen fresh hex digits (the tail of a new EC2-style id).
    Hex17,
    /// Sixteen fresh `[A-Z0-9]` characters (the tail of an `ASIA`/`AKIA` key id).
    Key16,
    /// Seventeen fresh `[A-Z0-9]` characters (the tail of an `AROA`/`AIDA` id).
    Key17,
    /// A small count, 1 to 100.
    N,
    Port,
    /// A public IPv4 address.
    Ip,
    /// An IPv4 CIDR block.
    Cidr,
    /// The event time, ISO form.
    Time,
    /// The event time plus one hour, STS expiration form.
    Expiry,
    /// An S3 object key, the same within the record.
    ObjKey,
    /// A long base64 blob (session tokens, encoded authorization messages).
    Token,
    /// An availability-zone letter.
    AzLetter,
    /// The IAM action of the event, `service:Name`.
    Action,
    /// The event time in epoch seconds.
    Epoch,
    /// A transfer size in bytes.
    Bytes,
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        use Pool as P;
        Some(match name {
            "user" => Var::Pool(P::User),
            "role" => Var::Pool(P::Role),
            "group" => Var::Pool(P::Group),
            "policy" => Var::Pool(P::Policy),
            "instance" => Var::Pool(P::Instance),
            "ami" => Var::Pool(P::Ami),
            "sg" => Var::Pool(P::Sg),
            "vpc" => Var::Pool(P::Vpc),
            "subnet" => Var::Pool(P::Subnet),
            "volume" => Var::Pool(P::Volume),
            "snapshot" => Var::Pool(P::Snapshot),
            "bucket" => Var::Pool(P::Bucket),
            "kms" => Var::Pool(P::Kms),
            "secret" => Var::Pool(P::Secret),
            "param" => Var::Pool(P::Param),
            "function" => Var::Pool(P::Function),
            "table" => Var::Pool(P::Table),
            "queue" => Var::Pool(P::Queue),
            "topic" => Var::Pool(P::Topic),
            "loggroup" => Var::Pool(P::LogGroup),
            "cluster" => Var::Pool(P::Cluster),
            "ecsservice" => Var::Pool(P::EcsService),
            "stack" => Var::Pool(P::Stack),
            "zone" => Var::Pool(P::Zone),
            "domain" => Var::Pool(P::Domain),
            "lb" => Var::Pool(P::Lb),
            "asg" => Var::Pool(P::Asg),
            "db" => Var::Pool(P::Db),
            "alarm" => Var::Pool(P::Alarm),
            "rule" => Var::Pool(P::Rule),
            "repo" => Var::Pool(P::Repo),
            "session" => Var::Pool(P::Session),
            "account" => Var::Account,
            "other_account" => Var::OtherAccount,
            "region" => Var::Region,
            "caller" => Var::Caller,
            "caller_name" => Var::CallerName,
            "uuid" => Var::Uuid,
            "same_uuid" => Var::SameUuid,
            "hex8" => Var::Hex8,
            "hex17" => Var::Hex17,
            "key16" => Var::Key16,
            "key17" => Var::Key17,
            "n" => Var::N,
            "port" => Var::Port,
            "ip" => Var::Ip,
            "cidr" => Var::Cidr,
            "time" => Var::Time,
            "expiry" => Var::Expiry,
            "objkey" => Var::ObjKey,
            "token" => Var::Token,
            "az" => Var::AzLetter,
            "action" => Var::Action,
            "epoch" => Var::Epoch,
            "bytes" => Var::Bytes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    Lit(&'static str),
    Var(Var),
}

/// A parsed template; an empty source means JSON `null` (or "absent", as the caller decides).
#[derive(Debug, Clone, Default)]
pub struct Template {
    segs: Vec<Seg>,
}

impl Template {
    /// Parses `{{name}}` placeholders; returns the unknown name on failure.
    pub fn parse(source: &'static str) -> Result<Template, String> {
        let mut segs = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segs.push(Seg::Lit(&rest[..open]));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("unclosed placeholder in {source}"))?;
            let name = &after[..close];
            segs.push(Seg::Var(Var::parse(name).ok_or_else(|| format!("unknown placeholder {name}"))?));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segs.push(Seg::Lit(rest));
        }
        Ok(Template { segs })
    }

    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// Appends the rendered template.
    pub fn render(&self, ctx: &mut Ctx<'_>, buf: &mut Vec<u8>) {
        for seg in &self.segs {
            match *seg {
                Seg::Lit(s) => buf.extend_from_slice(s.as_bytes()),
                Seg::Var(v) => ctx.push(v, buf),
            }
        }
    }
}

const UNSET: u32 = u32::MAX;

/// Everything a template may refer to while one record is rendered.
pub struct Ctx<'a> {
    pub rng: &'a mut SmallRng,
    pub pools: &'a Pools,
    pub account: &'a str,
    pub accounts: &'a [String],
    pub region: &'a str,
    pub caller: &'a str,
    pub caller_name: &'a str,
    pub action_prefix: &'a str,
    pub action_name: &'a str,
    pub time_ms: i64,
    picks: [u32; POOL_COUNT],
    objkey: Vec<u8>,
    same_uuid: Vec<u8>,
}

impl<'a> Ctx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rng: &'a mut SmallRng,
        pools: &'a Pools,
        account: &'a str,
        accounts: &'a [String],
        region: &'a str,
        caller: &'a str,
        caller_name: &'a str,
        time_ms: i64,
    ) -> Ctx<'a> {
        Ctx {
            rng,
            pools,
            account,
            accounts,
            region,
            caller,
            caller_name,
            action_prefix: "",
            action_name: "",
            time_ms,
            picks: [UNSET; POOL_COUNT],
            objkey: Vec::new(),
            same_uuid: Vec::new(),
        }
    }

    fn push(&mut self, var: Var, buf: &mut Vec<u8>) {
        let rng = &mut *self.rng;
        match var {
            Var::Pool(pool) => {
                let slot = &mut self.picks[pool as usize];
                if *slot == UNSET {
                    *slot = self.pools.pick(pool, rng) as u32;
                }
                buf.extend_from_slice(self.pools.get(pool, *slot as usize).as_bytes());
            }
            Var::Account => buf.extend_from_slice(self.account.as_bytes()),
            Var::OtherAccount => {
                let i = rng.random_range(0..self.accounts.len().max(1));
                let other = self.accounts.get(i).map_or(self.account, String::as_str);
                buf.extend_from_slice(other.as_bytes());
            }
            Var::Region => buf.extend_from_slice(self.region.as_bytes()),
            Var::Caller => buf.extend_from_slice(self.caller.as_bytes()),
            Var::CallerName => buf.extend_from_slice(self.caller_name.as_bytes()),
            Var::Uuid => push_uuid(buf, rng),
            Var::SameUuid => {
                if self.same_uuid.is_empty() {
                    push_uuid(&mut self.same_uuid, rng);
                }
                buf.extend_from_slice(&self.same_uuid);
            }
            Var::Hex8 => push_hex(buf, 8, rng),
            Var::Hex17 => push_hex(buf, 17, rng),
            Var::Key16 => {
                push_key_chars(buf, rng.random(), 12);
                push_key_chars(buf, rng.random(), 4);
            }
            Var::Key17 => {
                push_key_chars(buf, rng.random(), 12);
                push_key_chars(buf, rng.random(), 5);
            }
            Var::N => push_u64(buf, rng.random_range(1..=100)),
            Var::Port => {
                const PORTS: [u64; 8] = [22, 443, 80, 3389, 5432, 3306, 8080, 6379];
                push_u64(buf, PORTS[rng.random_range(0..PORTS.len())]);
            }
            Var::Ip => push_public_ip(buf, rng),
            Var::Cidr => {
                buf.extend_from_slice(b"10.");
                push_u64(buf, rng.random_range(0..256));
                buf.push(b'.');
                push_u64(buf, rng.random_range(0..16) * 16);
                buf.extend_from_slice(b".0/20");
            }
            Var::Time => push_iso(buf, self.time_ms),
            Var::Expiry => push_expiration(buf, self.time_ms + 3_600_000),
            Var::ObjKey => {
                if self.objkey.is_empty() {
                    push_object_key(&mut self.objkey, rng);
                }
                buf.extend_from_slice(&self.objkey);
            }
            Var::Token => push_base64(buf, 360 + rng.random_range(0..120), rng),
            Var::AzLetter => buf.push(b"abc"[rng.random_range(0..3)]),
            Var::Action => {
                buf.extend_from_slice(self.action_prefix.as_bytes());
                buf.push(b':');
                buf.extend_from_slice(self.action_name.as_bytes());
            }
            Var::Epoch => push_u64(buf, (self.time_ms / 1000) as u64),
            Var::Bytes => push_u64(buf, rng.random_range(64..4_000_000)),
        }
    }
}

/// Appends a random address from public-looking IPv4 space (never 10/8, 127/8 or multicast).
pub fn push_public_ip(buf: &mut Vec<u8>, rng: &mut SmallRng) {
    const FIRST: [u64; 16] = [3, 13, 18, 34, 35, 44, 52, 54, 63, 81, 89, 104, 141, 185, 198, 203];
    push_u64(buf, FIRST[rng.random_range(0..FIRST.len())]);
    for _ in 0..3 {
        buf.push(b'.');
        push_u64(buf, rng.random_range(1..255));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng_for;

    #[test]
    fn placeholders_render_and_repeat_within_a_record() {
        let t = Template::parse(r#"{"b":"{{bucket}}","arn":"arn:aws:s3:::{{bucket}}/{{objkey}}","n":{{n}}}"#)
            .unwrap();
        let pools = Pools::new("123456789012", &mut rng_for(1, 1));
        let mut rng = rng_for(2, 2);
        let accounts = vec!["123456789012".to_owned()];
        let mut ctx = Ctx::new(&mut rng, &pools, "123456789012", &accounts, "us-east-1", "arn", "me", 0);
        let mut buf = Vec::new();
        t.render(&mut ctx, &mut buf);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        let bucket = v["b"].as_str().unwrap();
        assert!(v["arn"].as_str().unwrap().starts_with(&format!("arn:aws:s3:::{bucket}/")));
    }

    #[test]
    fn unknown_placeholders_are_rejected() {
        assert!(Template::parse("{{nope}}").is_err());
        assert!(Template::parse("{{open").is_err());
    }
}
