//! The API catalogue: which calls exist, how often they happen and what their parameters,
//! responses and errors look like.
//!
//! The data lives in [`crate::actions`] as `Spec` rows; this module parses their templates once
//! and keeps one weighted table per kind of caller.

use crate::identity::Table;
use crate::template::Template;
use crate::util::Cdf;

/// Read-only call (`readOnly: true`).
pub const READ: u8 = 1;
/// Data event (`eventCategory: Data`, `managementEvent: false`).
pub const DATA: u8 = 2;
/// Global service, recorded in the home region only (IAM, STS global endpoint, Organizations...).
pub const GLOBAL: u8 = 4;
/// Also made by AWS services on the account's behalf (`userIdentity.type: AWSService`).
pub const SVC: u8 = 8;
/// Console sign-in: only people make it and it has its own record shape.
pub const LOGIN: u8 = 16;
/// Reads that service-linked scanners do not make (they would dwarf everything else).
pub const NOSCAN: u8 = 32;
/// Made only by AWS services (`AwsServiceEvent` rows such as automatic key rotation).
pub const ONLYSVC: u8 = 64;

/// One row of the catalogue, as written in `actions.rs`.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// `eventSource` without `.amazonaws.com`.
    pub source: &'static str,
    pub name: &'static str,
    /// Relative frequency.
    pub weight: f64,
    pub flags: u8,
    /// `requestParameters` template; empty means `null`.
    pub req: &'static str,
    /// `responseElements` template; empty means `null`.
    pub resp: &'static str,
    /// `resources` array template; empty means absent.
    pub resources: &'static str,
    /// `additionalEventData` template; empty means absent.
    pub extra: &'static str,
    /// `eventType`; empty means `AwsApiCall`.
    pub event_type: &'static str,
}

pub const fn read(source: &'static str, name: &'static str, weight: f64, req: &'static str) -> Spec {
    Spec { source, name, weight, flags: READ, req, resp: "", resources: "", extra: "", event_type: "" }
}

pub const fn write(
    source: &'static str,
    name: &'static str,
    weight: f64,
    req: &'static str,
    resp: &'static str,
) -> Spec {
    Spec { source, name, weight, flags: 0, req, resp, resources: "", extra: "", event_type: "" }
}

impl Spec {
    pub const fn flags(self, flags: u8) -> Spec {
        Spec { flags: self.flags | flags, ..self }
    }
    pub const fn resp(self, resp: &'static str) -> Spec {
        Spec { resp, ..self }
    }
    pub const fn resources(self, resources: &'static str) -> Spec {
        Spec { resources, ..self }
    }
    pub const fn extra(self, extra: &'static str) -> Spec {
        Spec { extra, ..self }
    }
    pub const fn event_type(self, event_type: &'static str) -> Spec {
        Spec { event_type, ..self }
    }
}

/// An error a call may fail with: `errorCode` and an `errorMessage` template.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub message: Template,
}

/// A catalogue row ready to render.
#[derive(Debug, Clone)]
pub struct Action {
    pub spec: Spec,
    pub req: Template,
    pub resp: Template,
    pub resources: Template,
    pub extra: Template,
    /// The IAM action prefix (`monitoring` calls are `cloudwatch:` actions).
    pub iam_prefix: &'static str,
    /// What the AWS CLI appends to its user agent: `command/ec2.describe-instances`.
    pub cli_command: String,
    /// Denied, not found, throttled, invalid: in that order.
    pub failures: [Failure; 4],
}

/// The parsed catalogue with one weighted table per caller table and region kind.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub actions: Vec<Action>,
    /// Indexed by `table_index(table, home_region)`.
    tables: Vec<(Vec<usize>, Cdf)>,
}

fn table_index(table: Table, home: bool) -> usize {
    let t = match table {
        Table::Full => 0,
        Table::Read => 1,
        Table::Service => 2,
    };
    t * 2 + usize::from(home)
}

fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let name = name.trim_end_matches("20150331v2").trim_end_matches("20150331");
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn iam_prefix(source: &'static str) -> &'static str {
    match source {
        "monitoring" => "cloudwatch",
        "elasticloadbalancing" => "elasticloadbalancing",
        "signin" => "signin",
        other => other,
    }
}

fn cli_service(source: &str) -> &str {
    match source {
        "monitoring" => "cloudwatch",
        "elasticloadbalancing" => "elbv2",
        "s3" => "s3api",
        "events" => "events",
        other => other,
    }
}

fn failures(source: &'static str) -> Result<[Failure; 4], String> {
    let policy = " because no identity-based policy allows the {{action}} action";
    let (denied_code, denied_msg): (&'static str, String) = match source {
        "ec2" => (
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. User: {{caller}} is not authorized to perform: {{action}} on resource: arn:aws:ec2:{{region}}:{{account}}:instance/* because no identity-based policy allows the {{action}} action. Encoded authorization failure message: {{token}}".to_owned(),
        ),
        "s3" => ("AccessDenied", "Access Denied".to_owned()),
        "iam" | "sts" | "cloudtrail" | "organizations" | "cloudformation" | "autoscaling" | "rds" | "sns" | "elasticloadbalancing" | "monitoring" | "route53" => (
            "AccessDenied",
            format!("User: {{{{caller}}}} is not authorized to perform: {{{{action}}}} on resource: arn:aws:{source}::{{{{account}}}}:*{policy}"),
        ),
        _ => (
            "AccessDeniedException",
            format!("User: {{{{caller}}}} is not authorized to perform: {{{{action}}}} on resource: arn:aws:{source}:{{{{region}}}}:{{{{account}}}}:*{policy}"),
        ),
    };
    let (missing_code, missing_msg) = match source {
        "iam" => ("NoSuchEntity", "The role with name {{role}} cannot be found."),
        "s3" => ("NoSuchKey", "The specified key does not exist."),
        "ec2" => ("Client.InvalidInstanceID.NotFound", "The instance ID '{{instance}}' does not exist"),
        "ssm" => ("ParameterNotFound", ""),
        "lambda" => (
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:{{region}}:{{account}}:function:{{function}}",
        ),
        "secretsmanager" => ("ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
        "dynamodb" => ("ResourceNotFoundException", "Requested resource not found"),
        "kms" => ("NotFoundException", "Key 'arn:aws:kms:{{region}}:{{account}}:key/{{kms}}' does not exist"),
        "rds" => ("DBInstanceNotFoundFault", "DBInstance {{db}} not found."),
        "logs" => ("ResourceNotFoundException", "The specified log group does not exist."),
        "sqs" => ("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
        "cloudformation" => ("ValidationError", "Stack with id {{stack}} does not exist"),
        "ecs" => ("ClusterNotFoundException", "Cluster not found."),
        "route53" => ("NoSuchHostedZone", "No hosted zone found with ID: {{zone}}"),
        "sts" => ("RegionDisabledException", "STS is not activated in this region for account:{{account}}."),
        _ => ("ResourceNotFoundException", "The requested resource was not found."),
    };
    let (throttle_code, throttle_msg) = match source {
        "ec2" => ("Client.RequestLimitExceeded", "Request limit exceeded."),
        "iam" | "sts" | "cloudformation" | "autoscaling" | "route53" => ("Throttling", "Rate exceeded"),
        "s3" => ("SlowDown", "Please reduce your request rate."),
        _ => ("ThrottlingException", "Rate exceeded"),
    };
    let (invalid_code, invalid_msg) = match source {
        "ec2" => ("Client.InvalidParameterValue", "Value ({{hex8}}) for parameter is invalid."),
        "iam" => ("EntityAlreadyExists", "Role with name {{role}} already exists."),
        "lambda" => ("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."),
        "s3" => ("NoSuchBucket", "The specified bucket does not exist"),
        "dynamodb" => ("ConditionalCheckFailedException", "The conditional request failed"),
        _ => ("ValidationException", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"),
    };
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    Ok([
        Failure { code: denied_code, message: Template::parse(leak(denied_msg))? },
        Failure { code: missing_code, message: Template::parse(missing_msg)? },
        Failure { code: throttle_code, message: Template::parse(throttle_msg)? },
        Failure { code: invalid_code, message: Template::parse(invalid_msg)? },
    ])
}

impl Catalog {
    /// Parses every template of `specs`; a bad template is a programming error reported by name.
    pub fn new(specs: &[Spec]) -> Result<Catalog, String> {
        let mut actions = Vec::with_capacity(specs.len());
        let mut failure_cache: Vec<(&'static str, [Failure; 4])> = Vec::new();
        for spec in specs {
            let ctx = |e: String| format!("{}:{}: {e}", spec.source, spec.name);
            let failures = match failure_cache.iter().find(|(s, _)| *s == spec.source) {
                Some((_, f)) => f.clone(),
                None => {
                    let f = failures(spec.source).map_err(ctx)?;
                    failure_cache.push((spec.source, f.clone()));
                    f
                }
            };
            actions.push(Action {
                spec: *spec,
                req: Template::parse(spec.req).map_err(ctx)?,
                resp: Template::parse(spec.resp).map_err(ctx)?,
                resources: Template::parse(spec.resources).map_err(ctx)?,
                extra: Template::parse(spec.extra).map_err(ctx)?,
                iam_prefix: iam_prefix(spec.source),
                cli_command: format!(" command/{}.{}", cli_service(spec.source), kebab(spec.name)),
                failures,
            });
        }
        let mut tables = Vec::new();
        for table in [Table::Full, Table::Read, Table::Service] {
            for home in [false, true] {
                debug_assert_eq!(tables.len(), table_index(table, home));
                let members: Vec<usize> = actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| {
                        let f = a.spec.flags;
                        let fits = match table {
                            Table::Full => f & ONLYSVC == 0,
                            Table::Read => f & READ != 0 && f & (DATA | NOSCAN | LOGIN) == 0,
                            Table::Service => f & SVC != 0,
                        };
                        fits && (home || f & GLOBAL == 0)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if members.is_empty() {
                    return Err(format!("no actions for {table:?} (home region {home})"));
                }
                let cdf = Cdf::from_weights(members.iter().map(|&i| actions[i].spec.weight));
                tables.push((members, cdf));
            }
        }
        Ok(Catalog { actions, tables })
    }

    /// Picks an action for a caller of `table` in a region (`home`: where global events land).
    pub fn pick(&self, table: Table, home: bool, rng: &mut rand::rngs::SmallRng) -> usize {
        let (members, cdf) = &self.tables[table_index(table, home)];
        members[cdf.sample(rng)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_broad_and_renders_valid_json() {
        let catalog = Catalog::new(crate::actions::SPECS).unwrap();
        let sources: std::collections::HashSet<_> = catalog.actions.iter().map(|a| a.spec.source).collect();
        assert!(sources.len() >= 25, "{} services", sources.len());
        assert!(catalog.actions.len() >= 150, "{} actions", catalog.actions.len());
        let pools = crate::pools::Pools::new("123456789012", &mut crate::util::rng_for(1, 1));
        let accounts = vec!["123456789012".to_owned()];
        let mut rng = crate::util::rng_for(2, 2);
        for a in &catalog.actions {
            let mut ctx = crate::template::Ctx::new(
                &mut rng,
                &pools,
                "123456789012",
                &accounts,
                "eu-west-1",
                "arn:aws:iam::123456789012:user/x",
                "x",
                1_722_375_081_000,
            );
            for t in [&a.req, &a.resp, &a.resources, &a.extra] {
                if t.is_empty() {
                    continue;
                }
                let mut buf = Vec::new();
                t.render(&mut ctx, &mut buf);
                serde_json::from_slice::<serde_json::Value>(&buf).unwrap_or_else(|e| {
                    panic!("{}:{}: {e}: {}", a.spec.source, a.spec.name, String::from_utf8_lossy(&buf))
                });
            }
        }
    }

    #[test]
    fn kebab_case_like_the_cli() {
        assert_eq!(kebab("DescribeInstances"), "describe-instances");
        assert_eq!(kebab("UpdateFunctionCode20150331v2"), "update-function-code");
    }
}
