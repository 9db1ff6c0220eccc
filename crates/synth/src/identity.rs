//! The principals of an account: who calls, from where and with which client.
//!
//! Each account gets IAM users, application roles, SSO people, service-linked roles, AWS services
//! and a rarely used root. Their `userIdentity` JSON is built once; only the temporary access key
//! and session creation time change per event, derived from the clock so a session lasts an hour.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::agents::{Agent, CLI, CONSOLE, SDK};
use crate::pools::{Pool, Pools, FIRST_NAMES, LAST_NAMES};
use crate::template::push_public_ip;
use crate::util::{key_chars, mix, push_iso, push_key_chars, Cdf};

/// Which part of the action catalogue a principal draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// People and applications: anything.
    Full,
    /// Service-linked roles of scanners (Config, Security Hub...): reads only.
    Read,
    /// AWS services acting for the account: the few calls services make.
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    IamUser,
    AssumedRole,
    AwsService,
    Root,
}

/// One caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub kind: Kind,
    pub table: Table,
    /// The caller's ARN (or service host), used in error messages.
    pub arn: String,
    pub name: String,
    /// `userIdentity` up to the temporary key (or the whole object when `dynamic` is false).
    head: String,
    mid: String,
    tail: String,
    dynamic: bool,
    /// `userIdentity` as a console sign-in shows it (no access key).
    pub login_identity: String,
    /// Whether this principal signs in to the console (and may call `ConsoleLogin`).
    pub human: bool,
    /// The service host that stands in for source address and user agent.
    pub service_host: Option<&'static str>,
    pub vpc_endpoint: Option<String>,
    ips: Vec<String>,
    /// Instance-profile sessions call from their instance's one address, nothing else.
    stable_ip: bool,
    ip_skew: Cdf,
    agents: Vec<Agent>,
    seed: u64,
}

const SERVICE_LINKED: &[(&str, &str, &str)] = &[
    ("AWSServiceRoleForConfig", "AWSConfig-Describe", "config.amazonaws.com"),
    ("AWSServiceRoleForSecurityHub", "securityhub", "securityhub.amazonaws.com"),
    ("AWSServiceRoleForAmazonGuardDuty", "GuardDuty", "guardduty.amazonaws.com"),
    ("AWSServiceRoleForAccessAnalyzer", "access-analyzer", "access-analyzer.amazonaws.com"),
    ("AWSServiceRoleForTrustedAdvisor", "TrustedAdvisor", "trustedadvisor.amazonaws.com"),
    ("AWSServiceRoleForAutoScaling", "AutoScaling", "autoscaling.amazonaws.com"),
    ("AWSServiceRoleForECS", "ecs-service-scheduler", "ecs.amazonaws.com"),
];

const SERVICES: &[&str] = &[
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "s3.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "logs.amazonaws.com",
    "events.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
];

const SSO_SETS: &[&str] =
    &["AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "DeveloperAccess", "SecurityAudit"];

impl Principal {
    /// Appends the `userIdentity` object for a call at `time_ms`.
    pub fn push_identity(&self, buf: &mut Vec<u8>, time_ms: i64) {
        buf.extend_from_slice(self.head.as_bytes());
        if !self.dynamic {
            return;
        }
        // Sessions last an hour, starting at a per-principal offset within the hour.
        let offset = (self.seed % 3_600_000) as i64;
        let session = (time_ms - offset).div_euclid(3_600_000);
        let bits = mix(self.seed, session as u64);
        push_key_chars(buf, bits, 12);
        push_key_chars(buf, mix(bits, 1), 4);
        buf.extend_from_slice(self.mid.as_bytes());
        push_iso(buf, session * 3_600_000 + offset);
        buf.extend_from_slice(self.tail.as_bytes());
    }

    /// Appends the source address of one call.
    pub fn push_ip(&self, buf: &mut Vec<u8>, rng: &mut SmallRng) {
        if let Some(host) = self.service_host {
            buf.extend_from_slice(host.as_bytes());
        } else if self.vpc_endpoint.is_none() && !self.stable_ip && rng.random_bool(0.04) {
            // The long tail: travel, a new laptop, a CI runner somewhere else.
            push_public_ip(buf, rng);
        } else {
            buf.extend_from_slice(self.ips[self.ip_skew.sample(rng)].as_bytes());
        }
    }

    /// Picks the client of one call: mostly the principal's usual one.
    pub fn agent(&self, rng: &mut SmallRng) -> Agent {
        if let Some(host) = self.service_host {
            return Agent { text: host, cli: false };
        }
        let i = if rng.random_bool(0.85) { 0 } else { rng.random_range(0..self.agents.len()) };
        self.agents[i]
    }

    /// Whether calls come from a browser session (`sessionCredentialFromConsole`).
    pub fn console(&self) -> bool {
        self.human && self.agents[0].text.starts_with(['M', 'A'])
    }
}

fn ips(rng: &mut SmallRng, n: usize, private: bool) -> Vec<String> {
    (0..n)
        .map(|_| {
            if private {
                format!(
                    "10.{}.{}.{}",
                    rng.random_range(0..256),
                    rng.random_range(0..256),
                    rng.random_range(1..255)
                )
            } else if rng.random_bool(0.06) {
                format!(
                    "2600:1f18:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                    rng.random::<u16>(),
                    rng.random::<u16>(),
                    rng.random::<u16>(),
                    rng.random::<u16>(),
                    rng.random::<u16>(),
                    rng.random::<u16>()
                )
            } else {
                let mut buf = Vec::new();
                push_public_ip(&mut buf, rng);
                String::from_utf8(buf).unwrap_or_default()
            }
        })
        .collect()
}

fn agents_from(rng: &mut SmallRng, lists: &[&[Agent]]) -> Vec<Agent> {
    let mut out = Vec::new();
    for list in lists {
        out.push(list[rng.random_range(0..list.len())]);
    }
    out
}

struct Draft {
    kind: Kind,
    table: Table,
    arn: String,
    name: String,
    head: String,
    mid: String,
    tail: String,
    dynamic: bool,
    login_identity: String,
    human: bool,
    service_host: Option<&'static str>,
    private: bool,
    agents: Vec<Agent>,
}

fn role_parts(
    account: &str,
    role: &str,
    session: &str,
    role_id: &str,
    mfa: bool,
) -> (String, String, String, String) {
    let arn = format!("arn:aws:sts::{account}:assumed-role/{role}/{session}");
    let issuer = format!(
        r#"{{"type":"Role","principalId":"{role_id}","arn":"arn:aws:iam::{account}:role/{role}","accountId":"{account}","userName":"{role}"}}"#
    );
    let head = format!(
        r#"{{"type":"AssumedRole","principalId":"{role_id}:{session}","arn":"{arn}","accountId":"{account}","accessKeyId":"ASIA"#
    );
    let mid = format!(
        r#"","sessionContext":{{"sessionIssuer":{issuer},"webIdFederationData":{{}},"attributes":{{"creationDate":""#
    );
    let tail = format!(r#"","mfaAuthenticated":"{mfa}"}}}}}}"#);
    (arn, head, mid, tail)
}

/// Builds the principals of `account` with their selection weights.
pub fn principals(account: &str, pools: &Pools, rng: &mut SmallRng) -> (Vec<Principal>, Cdf) {
    let mut drafts: Vec<(Draft, f64)> = Vec::new();
    let mut add = |class_weight: f64, members: Vec<Draft>| {
        let total = (0..members.len()).map(|k| 1.0 / ((k + 1) as f64).powf(1.1)).sum::<f64>();
        for (k, d) in members.into_iter().enumerate() {
            let w = 1.0 / ((k + 1) as f64).powf(1.1);
            drafts.push((d, class_weight * w / total));
        }
    };

    // Application roles: the bulk of any busy account.
    let roles = (0..30)
        .map(|i| {
            let role = pools.get(Pool::Role, i).to_owned();
            let session = pools.get(Pool::Session, i).to_owned();
            let role_id = format!("AROA{}", key_chars(rng.random(), 17));
            let (arn, head, mid, mut tail) = role_parts(account, &role, &session, &role_id, false);
            if role.contains("ec2-instance") {
                // Instance-profile credentials delivered by IMDSv2 say so.
                tail = tail.replacen("}}}", r#"},"ec2RoleDelivery":"2.0"}}"#, 1);
            }
            Draft {
                kind: Kind::AssumedRole,
                table: Table::Full,
                arn,
                name: session,
                head,
                mid,
                tail,
                dynamic: true,
                login_identity: String::new(),
                human: false,
                service_host: None,
                private: i % 7 == 3,
                agents: agents_from(rng, &[SDK, SDK, CLI]),
            }
        })
        .collect();
    add(0.53, roles);

    let linked = SERVICE_LINKED
        .iter()
        .map(|&(role, session, host)| {
            let role_id = format!("AROA{}", key_chars(rng.random(), 17));
            let (arn, head, mid, tail) = role_parts(account, role, session, &role_id, false);
            let tail = tail.replace("}}}", &format!(r#"}}}},"invokedBy":"{host}"}}"#));
            Draft {
                kind: Kind::AssumedRole,
                table: Table::Read,
                arn,
                name: session.to_owned(),
                head,
                mid,
                tail,
                dynamic: true,
                login_identity: String::new(),
                human: false,
                service_host: Some(host),
                private: false,
                agents: Vec::new(),
            }
        })
        .collect();
    add(0.14, linked);

    let services = SERVICES
        .iter()
        .map(|&host| Draft {
            kind: Kind::AwsService,
            table: Table::Service,
            arn: host.to_owned(),
            name: host.to_owned(),
            head: format!(r#"{{"type":"AWSService","invokedBy":"{host}"}}"#),
            mid: String::new(),
            tail: String::new(),
            dynamic: false,
            login_identity: String::new(),
            human: false,
            service_host: Some(host),
            private: false,
            agents: Vec::new(),
        })
        .collect();
    add(0.07, services);

    let users = (0..18)
        .map(|i| {
            let user = pools.get(Pool::User, i).to_owned();
            let arn = format!("arn:aws:iam::{account}:user/{user}");
            let id = format!("AIDA{}", key_chars(rng.random(), 17));
            let key = format!("AKIA{}", key_chars(rng.random(), 16));
            let base = format!(r#"{{"type":"IAMUser","principalId":"{id}","arn":"{arn}","accountId":"{account}""#);
            let console = i % 5 == 1;
            let human = !user.starts_with("svc-");
            let (head, mid, tail, dynamic, agents) = if console {
                (
                    format!(r#"{base},"accessKeyId":"ASIA"#),
                    format!(r#"","userName":"{user}","sessionContext":{{"sessionIssuer":{{}},"webIdFederationData":{{}},"attributes":{{"creationDate":""#),
                    r#"","mfaAuthenticated":"true"}}}"#.to_owned(),
                    true,
                    agents_from(rng, &[CONSOLE, CONSOLE, CLI]),
                )
            } else {
                (format!(r#"{base},"accessKeyId":"{key}","userName":"{user}"}}"#), String::new(), String::new(), false, agents_from(rng, &[CLI, SDK, CLI]))
            };
            Draft {
                kind: Kind::IamUser,
                table: Table::Full,
                login_identity: format!(r#"{base},"userName":"{user}"}}"#),
                arn,
                name: user,
                head,
                mid,
                tail,
                dynamic,
                human,
                service_host: None,
                private: false,
                agents,
            }
        })
        .collect();
    add(0.11, users);

    let sso = (0..10)
        .map(|_| {
            let person = format!(
                "{}.{}@example.com",
                FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())],
                LAST_NAMES[rng.random_range(0..LAST_NAMES.len())]
            );
            let set = SSO_SETS[rng.random_range(0..SSO_SETS.len())];
            let role = format!("AWSReservedSSO_{set}_{}", &key_chars(mix(account.len() as u64, set.len() as u64), 16).to_lowercase());
            let role_id = format!("AROA{}", key_chars(rng.random(), 17));
            let (arn, head, mid, tail) = role_parts(account, &role, &person, &role_id, false);
            let login_identity = format!(
                r#"{{"type":"AssumedRole","principalId":"{role_id}:{person}","arn":"{arn}","accountId":"{account}"}}"#
            );
            Draft {
                kind: Kind::AssumedRole,
                table: Table::Full,
                arn,
                name: person,
                head,
                mid,
                tail,
                dynamic: true,
                login_identity,
                human: true,
                service_host: None,
                private: false,
                agents: agents_from(rng, &[CONSOLE, CLI, CONSOLE]),
            }
        })
        .collect();
    add(0.149, sso);

    let root_arn = format!("arn:aws:iam::{account}:root");
    let root_base =
        format!(r#"{{"type":"Root","principalId":"{account}","arn":"{root_arn}","accountId":"{account}""#);
    add(
        0.001,
        vec![Draft {
            kind: Kind::Root,
            table: Table::Full,
            arn: root_arn,
            name: "root".to_owned(),
            head: format!(r#"{root_base},"accessKeyId":"ASIA"#),
            mid: r#"","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":""#.to_owned(),
            tail: r#"","mfaAuthenticated":"true"}}}"#.to_owned(),
            dynamic: true,
            login_identity: format!("{root_base}}}"),
            human: true,
            service_host: None,
            private: false,
            agents: agents_from(rng, &[CONSOLE, CONSOLE]),
        }],
    );

    let weights = drafts.iter().map(|(_, w)| *w).collect::<Vec<_>>();
    let principals = drafts
        .into_iter()
        .map(|(d, _)| {
            let stable_ip = d.tail.contains("ec2RoleDelivery");
            let n = if stable_ip { 1 } else { rng.random_range(1..=4) };
            let ips = ips(rng, n, d.private);
            let vpc_endpoint =
                d.private.then(|| format!("vpce-0{}", key_chars(rng.random(), 16).to_lowercase()));
            Principal {
                kind: d.kind,
                table: d.table,
                arn: d.arn,
                name: d.name,
                head: d.head,
                mid: d.mid,
                tail: d.tail,
                dynamic: d.dynamic,
                login_identity: d.login_identity,
                human: d.human,
                service_host: d.service_host,
                vpc_endpoint,
                ip_skew: Cdf::zipf(ips.len(), 1.3),
                ips,
                stable_ip,
                agents: d.agents,
                seed: rng.random(),
            }
        })
        .collect();
    (principals, Cdf::from_weights(weights))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng_for;

    #[test]
    fn identities_are_valid_json() {
        let account = "123456789012";
        let pools = Pools::new(account, &mut rng_for(1, 1));
        let (principals, _) = principals(account, &pools, &mut rng_for(1, 2));
        let mut rng = rng_for(5, 5);
        for p in &principals {
            let mut buf = Vec::new();
            p.push_identity(&mut buf, 1_722_375_081_000);
            let v: serde_json::Value = serde_json::from_slice(&buf)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&buf)));
            assert!(v["type"].is_string());
            if p.human {
                let _: serde_json::Value = serde_json::from_str(&p.login_identity).unwrap();
            }
            let mut ip = Vec::new();
            p.push_ip(&mut ip, &mut rng);
            assert!(!ip.is_empty());
        }
    }

    #[test]
    fn session_keys_rotate_hourly() {
        let account = "123456789012";
        let pools = Pools::new(account, &mut rng_for(1, 1));
        let (principals, _) = principals(account, &pools, &mut rng_for(1, 2));
        let role = &principals[0];
        let key = |t: i64| {
            let mut buf = Vec::new();
            role.push_identity(&mut buf, t);
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            v["accessKeyId"].as_str().unwrap().to_owned()
        };
        let t = 1_722_375_081_000;
        assert!(key(t).starts_with("ASIA") && key(t).len() == 20);
        assert_ne!(key(t), key(t + 7_200_000));
    }
}
