//! One CloudTrail record: picks a caller and a call, then writes the JSON in CloudTrail's own
//! field order straight into a byte buffer.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::catalog::{Action, Catalog, DATA, GLOBAL, LOGIN, READ};
use crate::identity::{Kind, Principal};
use crate::pools::Pools;
use crate::template::Ctx;
use crate::util::{push_alnum, push_hex, push_iso, push_uuid, Cdf};

/// What every record of one account shares.
pub struct Account {
    pub id: String,
    pub pools: Pools,
    pub principals: Vec<Principal>,
    pub principal_skew: Cdf,
}

/// What one (account, region) file stream shares.
pub struct Stream<'a> {
    pub account: &'a Account,
    pub accounts: &'a [String],
    pub region: &'a str,
    /// Whether global-service events (IAM, Organizations...) are recorded in this region.
    pub home: bool,
    pub catalog: &'a Catalog,
    pub error_rate: f64,
}

fn push_str_field(buf: &mut Vec<u8>, key: &str, value: &[u8]) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"\":\"");
    buf.extend_from_slice(value);
    buf.push(b'"');
}

impl Stream<'_> {
    fn pick(&self, rng: &mut SmallRng) -> (&Principal, &Action) {
        let account = self.account;
        loop {
            let principal = &account.principals[account.principal_skew.sample(rng)];
            let action = &self.catalog.actions[self.catalog.pick(principal.table, self.home, rng)];
            if action.spec.flags & LOGIN == 0 || principal.human {
                return (principal, action);
            }
        }
    }

    /// Appends one record at `time_ms`; returns whether it carries an `errorCode`.
    pub fn push_record(&self, buf: &mut Vec<u8>, rng: &mut SmallRng, time_ms: i64) -> bool {
        let (principal, action) = self.pick(rng);
        let spec = &action.spec;
        let login = spec.flags & LOGIN != 0;
        let failed = rng.random_bool(self.error_rate);

        let version: &[u8] = if spec.name.len() % 4 == 0 { b"1.08" } else { b"1.09" };
        buf.extend_from_slice(b"{\"eventVersion\":\"");
        buf.extend_from_slice(version);
        buf.extend_from_slice(b"\",\"userIdentity\":");
        if login {
            buf.extend_from_slice(principal.login_identity.as_bytes());
        } else {
            principal.push_identity(buf, time_ms);
        }
        buf.extend_from_slice(b",\"eventTime\":\"");
        push_iso(buf, time_ms);
        buf.extend_from_slice(b"\",\"eventSource\":\"");
        buf.extend_from_slice(spec.source.as_bytes());
        buf.extend_from_slice(b".amazonaws.com\"");
        push_str_field(buf, "eventName", spec.name.as_bytes());
        push_str_field(buf, "awsRegion", self.region.as_bytes());
        buf.extend_from_slice(b",\"sourceIPAddress\":\"");
        principal.push_ip(buf, rng);
        buf.extend_from_slice(b"\",\"userAgent\":\"");
        let mut agent = principal.agent(rng);
        if login && !agent.text.starts_with("Mozilla") {
            // Sign-ins always come from a browser, whatever the person's usual client.
            agent = crate::agents::CONSOLE[(time_ms as usize) % 4];
        }
        buf.extend_from_slice(agent.text.as_bytes());
        if agent.cli && !login {
            buf.extend_from_slice(action.cli_command.as_bytes());
        }
        buf.push(b'"');

        let mut ctx = Ctx::new(
            rng,
            &self.account.pools,
            &self.account.id,
            self.accounts,
            self.region,
            &principal.arn,
            &principal.name,
            time_ms,
        );
        ctx.action_prefix = action.iam_prefix;
        ctx.action_name = spec.name;

        let mut error = false;
        if login {
            if failed {
                buf.extend_from_slice(b",\"errorMessage\":\"Failed authentication\"");
            }
            buf.extend_from_slice(b",\"requestParameters\":null,\"responseElements\":{\"ConsoleLogin\":\"");
            buf.extend_from_slice(if failed { b"Failure\"}" } else { b"Success\"}" });
            buf.extend_from_slice(b",\"additionalEventData\":{\"LoginTo\":\"https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_");
            buf.extend_from_slice(self.region.as_bytes());
            buf.push(b'_');
            push_hex(buf, 16, ctx.rng);
            buf.extend_from_slice(b"\",\"MobileVersion\":\"No\",\"MFAUsed\":\"");
            let mfa = !failed && principal.kind != Kind::IamUser || ctx.rng.random_bool(0.7);
            buf.extend_from_slice(if mfa { b"Yes\"}" } else { b"No\"}" });
        } else {
            if failed {
                let i = match ctx.rng.random_range(0..100) {
                    0..55 => 0,
                    55..75 => 1,
                    75..90 => 2,
                    _ => 3,
                };
                let failure = &action.failures[i];
                push_str_field(buf, "errorCode", failure.code.as_bytes());
                if !failure.message.is_empty() {
                    buf.extend_from_slice(b",\"errorMessage\":\"");
                    failure.message.render(&mut ctx, buf);
                    buf.push(b'"');
                }
                error = true;
            }
            buf.extend_from_slice(b",\"requestParameters\":");
            if action.req.is_empty() {
                buf.extend_from_slice(b"null");
            } else {
                action.req.render(&mut ctx, buf);
            }
            buf.extend_from_slice(b",\"responseElements\":");
            if action.resp.is_empty() || failed {
                buf.extend_from_slice(b"null");
            } else {
                action.resp.render(&mut ctx, buf);
            }
            if !action.extra.is_empty() {
                buf.extend_from_slice(b",\"additionalEventData\":");
                action.extra.render(&mut ctx, buf);
            }
        }

        let rng = &mut *ctx.rng;
        buf.extend_from_slice(b",\"requestID\":\"");
        if spec.source == "s3" {
            push_alnum(buf, 16, rng);
            buf.make_ascii_uppercase_tail(16);
        } else {
            push_uuid(buf, rng);
        }
        buf.extend_from_slice(b"\",\"eventID\":\"");
        push_uuid(buf, rng);
        buf.extend_from_slice(if spec.flags & READ != 0 {
            b"\",\"readOnly\":true"
        } else {
            b"\",\"readOnly\":false"
        });
        if !action.resources.is_empty() {
            buf.extend_from_slice(b",\"resources\":");
            action.resources.render(&mut ctx, buf);
        }
        let event_type = if !spec.event_type.is_empty() { spec.event_type } else { "AwsApiCall" };
        push_str_field(buf, "eventType", event_type.as_bytes());
        let data = spec.flags & DATA != 0;
        buf.extend_from_slice(if data {
            b",\"managementEvent\":false"
        } else {
            b",\"managementEvent\":true"
        });
        push_str_field(buf, "recipientAccountId", self.account.id.as_bytes());
        if let Some(vpce) = &principal.vpc_endpoint {
            push_str_field(buf, "vpcEndpointId", vpce.as_bytes());
            push_str_field(buf, "vpcEndpointAccountId", self.account.id.as_bytes());
        }
        push_str_field(buf, "eventCategory", if data { b"Data" } else { b"Management" });
        if principal.kind != Kind::AwsService && spec.event_type != "AwsServiceEvent" {
            let rng = &mut *ctx.rng;
            buf.extend_from_slice(if rng.random_bool(0.88) {
                b",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\""
            } else {
                b",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.2\",\"cipherSuite\":\"ECDHE-RSA-AES128-GCM-SHA256\",\"clientProvidedHostHeader\":\""
            });
            if login {
                buf.extend_from_slice(b"signin.aws.amazon.com");
            } else {
                buf.extend_from_slice(spec.source.as_bytes());
                if spec.flags & GLOBAL == 0 {
                    buf.push(b'.');
                    buf.extend_from_slice(self.region.as_bytes());
                }
                buf.extend_from_slice(b".amazonaws.com");
            }
            buf.extend_from_slice(b"\"}");
            if !login && principal.console() && !agent.cli {
                buf.extend_from_slice(b",\"sessionCredentialFromConsole\":\"true\"");
            }
        }
        buf.push(b'}');
        error
    }
}

trait UppercaseTail {
    fn make_ascii_uppercase_tail(&mut self, n: usize);
}

impl UppercaseTail for Vec<u8> {
    fn make_ascii_uppercase_tail(&mut self, n: usize) {
        let start = self.len().saturating_sub(n);
        self[start..].make_ascii_uppercase();
    }
}
