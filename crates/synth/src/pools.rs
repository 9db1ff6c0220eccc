//! Per-account resource names (buckets, instances, functions, roles...) that events refer to.
//!
//! Each account owns a fixed population of resources drawn once from its seed; events pick from
//! it with a Zipf skew so a few resources are very busy and most are rarely touched, as in a real
//! account.

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::Rng;

use crate::util::{push_alnum, push_hex, Cdf};

/// The kinds of named resource an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Pool {
    User,
    Role,
    Group,
    Policy,
    Instance,
    Ami,
    Sg,
    Vpc,
    Subnet,
    Volume,
    Snapshot,
    Bucket,
    Kms,
    Secret,
    Param,
    Function,
    Table,
    Queue,
    Topic,
    LogGroup,
    Cluster,
    EcsService,
    Stack,
    Zone,
    Domain,
    Lb,
    Asg,
    Db,
    Alarm,
    Rule,
    Repo,
    Session,
}

pub const POOL_COUNT: usize = Pool::Session as usize + 1;

const ALL: [Pool; POOL_COUNT] = [
    Pool::User,
    Pool::Role,
    Pool::Group,
    Pool::Policy,
    Pool::Instance,
    Pool::Ami,
    Pool::Sg,
    Pool::Vpc,
    Pool::Subnet,
    Pool::Volume,
    Pool::Snapshot,
    Pool::Bucket,
    Pool::Kms,
    Pool::Secret,
    Pool::Param,
    Pool::Function,
    Pool::Table,
    Pool::Queue,
    Pool::Topic,
    Pool::LogGroup,
    Pool::Cluster,
    Pool::EcsService,
    Pool::Stack,
    Pool::Zone,
    Pool::Domain,
    Pool::Lb,
    Pool::Asg,
    Pool::Db,
    Pool::Alarm,
    Pool::Rule,
    Pool::Repo,
    Pool::Session,
];

pub const APPS: &[&str] = &[
    "payments",
    "checkout",
    "orders",
    "auth",
    "search",
    "billing",
    "reporting",
    "etl",
    "frontend",
    "ledger",
    "inventory",
    "catalog",
    "notifications",
    "analytics",
    "gateway",
    "profile",
    "shipping",
    "recommender",
    "fraud",
    "audit",
    "media",
    "pricing",
    "identity",
    "warehouse",
];
const ENVS: &[&str] = &["prod", "prod", "prod", "staging", "dev", "qa"];
pub const FIRST_NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
    "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin", "zoe", "arjun", "mei",
    "lucas", "sofia", "kenji", "fatima", "omar", "ingrid", "pablo",
];
pub const LAST_NAMES: &[&str] = &[
    "smith", "garcia", "chen", "mueller", "rossi", "kowalski", "nakamura", "okafor", "dubois", "silva",
    "novak", "larsen", "patel", "kim", "haddad", "ivanova",
];
const ROLE_KINDS: &[&str] = &[
    "lambda-exec",
    "ecs-task",
    "ec2-instance",
    "deploy",
    "ci",
    "etl-job",
    "reader",
    "admin",
    "step-functions",
    "glue-crawler",
    "batch-job",
    "backup",
];
const OBJECT_DIRS: &[&str] = &[
    "logs",
    "exports",
    "data/raw",
    "data/curated",
    "uploads",
    "reports",
    "backups",
    "images",
    "tmp",
    "athena-results",
    "events",
    "snapshots",
];
const OBJECT_EXTS: &[&str] = &["json.gz", "parquet", "csv", "jpg", "pdf", "log", "json", "zip", "png"];

/// The resources of one account.
#[derive(Debug, Clone)]
pub struct Pools {
    lists: Vec<Vec<String>>,
    skew: Vec<Cdf>,
}

fn pick<'a>(rng: &mut SmallRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or("x")
}

fn hex_id(prefix: &str, digits: usize, rng: &mut SmallRng) -> String {
    let mut buf = prefix.as_bytes().to_vec();
    push_hex(&mut buf, digits, rng);
    String::from_utf8(buf).unwrap_or_default()
}

fn alnum(n: usize, rng: &mut SmallRng) -> String {
    let mut buf = Vec::new();
    push_alnum(&mut buf, n, rng);
    String::from_utf8(buf).unwrap_or_default()
}

fn name(pool: Pool, account: &str, i: usize, rng: &mut SmallRng) -> String {
    let app = pick(rng, APPS);
    let env = pick(rng, ENVS);
    match pool {
        Pool::User => {
            if i % 4 == 3 {
                format!("svc-{app}-{env}")
            } else {
                format!("{}.{}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
            }
        }
        Pool::Role => format!("{app}-{}-{env}", pick(rng, ROLE_KINDS)),
        Pool::Group => format!("{app}-{}", pick(rng, &["developers", "admins", "readonly", "oncall"])),
        Pool::Policy => format!("{app}-{env}-{}", pick(rng, &["access", "s3-read", "deploy", "kms-use"])),
        Pool::Instance => hex_id("i-0", 16, rng),
        Pool::Ami => hex_id("ami-0", 16, rng),
        Pool::Sg => hex_id("sg-0", 16, rng),
        Pool::Vpc => hex_id("vpc-0", 16, rng),
        Pool::Subnet => hex_id("subnet-0", 16, rng),
        Pool::Volume => hex_id("vol-0", 16, rng),
        Pool::Snapshot => hex_id("snap-0", 16, rng),
        Pool::Bucket => format!(
            "{app}-{env}-{}-{account}",
            pick(rng, &["data", "assets", "logs", "artifacts", "backups"])
        ),
        Pool::Kms => {
            let mut buf = Vec::new();
            crate::util::push_uuid(&mut buf, rng);
            String::from_utf8(buf).unwrap_or_default()
        }
        Pool::Secret => {
            format!("{env}/{app}/{}", pick(rng, &["db-password", "api-key", "oauth-client", "signing-key"]))
        }
        Pool::Param => format!(
            "/{env}/{app}/{}",
            pick(rng, &["db/host", "db/password", "feature-flags", "endpoint", "api/token"])
        ),
        Pool::Function => format!(
            "{app}-{env}-{}",
            pick(rng, &["handler", "worker", "authorizer", "processor", "cron", "webhook"])
        ),
        Pool::Table => {
            format!("{app}-{}-{env}", pick(rng, &["sessions", "items", "events", "locks", "state"]))
        }
        Pool::Queue => format!("{app}-{env}-{}", pick(rng, &["jobs", "events", "dlq", "ingest"])),
        Pool::Topic => format!("{app}-{env}-{}", pick(rng, &["alerts", "events", "notifications"])),
        Pool::LogGroup => format!(
            "/aws/{}/{app}-{env}",
            pick(rng, &["lambda", "ecs", "rds/instance", "apigateway", "codebuild"])
        ),
        Pool::Cluster => format!("{app}-{env}"),
        Pool::EcsService => format!("{app}-{}", pick(rng, &["api", "worker", "web", "consumer"])),
        Pool::Stack => format!("{app}-{env}-{}", pick(rng, &["network", "service", "pipeline", "database"])),
        Pool::Zone => format!("Z0{}", crate::util::key_chars(rng.random(), 19)),
        Pool::Domain => {
            format!("{app}.{}", pick(rng, &["example.com", "example.net", "internal.example.org"]))
        }
        Pool::Lb => format!("{app}-{env}-{}", pick(rng, &["alb", "nlb", "internal"])),
        Pool::Asg => format!("{app}-{env}-asg-{}", alnum(6, rng)),
        Pool::Db => format!("{app}-{env}-{}", pick(rng, &["db", "aurora", "replica"])),
        Pool::Alarm => {
            format!("{app}-{env}-{}", pick(rng, &["high-cpu", "5xx-rate", "latency-p99", "queue-depth"]))
        }
        Pool::Rule => format!("{app}-{env}-{}", pick(rng, &["schedule", "on-change", "s3-events"])),
        Pool::Repo => format!("{app}/{}", pick(rng, &["api", "worker", "base", "web"])),
        Pool::Session => match i % 5 {
            0 => format!("botocore-session-{}", 1_700_000_000 + rng.random_range(0..40_000_000u64)),
            1 => format!(
                "aws-go-sdk-{}",
                1_700_000_000_000_000_000u64 + rng.random_range(0..40_000_000_000_000_000u64)
            ),
            2 => hex_id("i-0", 16, rng),
            3 => format!("GitHubActions-{}", rng.random_range(1_000_000_000u64..9_999_999_999)),
            _ => format!("{app}-{env}"),
        },
    }
}

fn size(pool: Pool) -> usize {
    match pool {
        Pool::User => 24,
        Pool::Role => 40,
        Pool::Instance | Pool::Volume => 120,
        Pool::Bucket | Pool::Function | Pool::Param => 40,
        Pool::Session => 60,
        Pool::Zone | Pool::Cluster | Pool::Vpc => 6,
        _ => 20,
    }
}

impl Pools {
    /// Draws the resources of `account` from `rng`.
    pub fn new(account: &str, rng: &mut SmallRng) -> Pools {
        let mut lists = Vec::with_capacity(POOL_COUNT);
        let mut skew = Vec::with_capacity(POOL_COUNT);
        for pool in ALL {
            let n = size(pool);
            let mut list: Vec<String> = Vec::with_capacity(n);
            for i in 0..n {
                let mut candidate = name(pool, account, i, rng);
                // Word combinations repeat; a numeric suffix keeps names unique within a pool.
                if list.contains(&candidate) {
                    candidate = format!("{candidate}-{i}");
                }
                list.push(candidate);
            }
            lists.push(list);
            skew.push(Cdf::zipf(n, 1.05));
        }
        Pools { lists, skew }
    }

    #[cfg(test)]
    pub fn list(&self, pool: Pool) -> &[String] {
        &self.lists[pool as usize]
    }

    /// Picks a resource index with a Zipf skew.
    pub fn pick(&self, pool: Pool, rng: &mut SmallRng) -> usize {
        self.skew[pool as usize].sample(rng)
    }

    pub fn get(&self, pool: Pool, index: usize) -> &str {
        &self.lists[pool as usize][index]
    }
}

/// Appends a random S3 object key such as `exports/2024/07/30/3fa4c2e1.parquet`.
pub fn push_object_key(buf: &mut Vec<u8>, rng: &mut SmallRng) {
    buf.extend_from_slice(pick(rng, OBJECT_DIRS).as_bytes());
    buf.extend_from_slice(b"/2024/");
    crate::util::push_u64(buf, rng.random_range(10..13));
    buf.push(b'/');
    crate::util::push_u64(buf, rng.random_range(10..29));
    buf.push(b'/');
    push_hex(buf, 12, rng);
    buf.push(b'.');
    buf.extend_from_slice(pick(rng, OBJECT_EXTS).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng_for;

    #[test]
    fn names_are_unique_and_json_safe() {
        let pools = Pools::new("123456789012", &mut rng_for(7, 0));
        for pool in ALL {
            let list = pools.list(pool);
            assert_eq!(list.len(), size(pool));
            for (i, a) in list.iter().enumerate() {
                assert!(!a.contains('"') && !a.contains('\\'), "{a}");
                assert!(!list[..i].contains(a), "duplicate {a}");
            }
        }
    }
}
