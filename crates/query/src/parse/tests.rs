//! Parser tests: each input with the query it means, or the error it gets.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use proptest::prelude::*;

use super::parse;
use crate::ast::GlobToken::{self, AnyChar, AnyRun};
use crate::ast::{FieldRef, Predicate, Query, RangeValue, TextQuery};
use crate::fields::KnownField::{self, *};
use crate::text::words;

const NOW: i64 = 1_722_519_208_000; // 2024-08-01T13:33:28Z
const DAY: i64 = 86_400_000;
const AUG1: i64 = 1_722_470_400_000; // 2024-08-01T00:00:00Z

fn check(input: &str, expected: Query) {
    match parse(input, NOW) {
        Ok(got) => assert_eq!(got, expected, "input {input:?}"),
        Err(e) => panic!("input {input:?}: {e}"),
    }
}

fn check_err(input: &str, expected: &str) {
    match parse(input, NOW) {
        Ok(got) => panic!("input {input:?} parsed as {got:?}, expected error {expected:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "input {input:?}"),
    }
}

fn field(f: KnownField, p: Predicate) -> Query {
    Query::Field(FieldRef::Known(f), p)
}
fn raw(path: &str, p: Predicate) -> Query {
    Query::Field(FieldRef::Raw(path.into()), p)
}
fn eq(v: &str) -> Predicate {
    Predicate::Equals(v.into())
}
fn lit(s: &str) -> GlobToken {
    GlobToken::Literal(s.into())
}
fn wild(tokens: Vec<GlobToken>) -> Predicate {
    Predicate::Wildcard(tokens)
}
fn text(t: &str) -> Query {
    Query::Text(TextQuery::Phrase(words(t)))
}
fn and(parts: Vec<Query>) -> Query {
    Query::And(parts)
}
fn or(parts: Vec<Query>) -> Query {
    Query::Or(parts)
}
fn not(q: Query) -> Query {
    Query::Not(Box::new(q))
}
fn range(lo: Bound<RangeValue>, hi: Bound<RangeValue>) -> Predicate {
    Predicate::Range(lo, hi)
}
fn t(v: &str) -> RangeValue {
    RangeValue::Text(v.into())
}
fn n(v: f64) -> RangeValue {
    RangeValue::Number(v)
}
fn ms(v: i64) -> RangeValue {
    RangeValue::Time(v)
}
fn cidr(s: &str) -> Predicate {
    Predicate::Cidr(s.parse().unwrap())
}

#[test]
fn boolean_structure() {
    check("", Query::All);
    check("   ", Query::All);
    check("*", Query::All);
    check("service:iam", field(Service, eq("iam")));
    check(
        "service:iam action:Create*",
        and(vec![field(Service, eq("iam")), field(Action, wild(vec![lit("create"), AnyRun]))]),
    );
    check("a AND b", and(vec![text("a"), text("b")]));
    check("a OR b OR c", or(vec![text("a"), text("b"), text("c")]));
    check("a b OR c", or(vec![and(vec![text("a"), text("b")]), text("c")]));
    check("a OR b c", or(vec![text("a"), and(vec![text("b"), text("c")])]));
    check("NOT a b", and(vec![not(text("a")), text("b")]));
    check("-a -b", and(vec![not(text("a")), not(text("b"))]));
    check("NOT NOT a", not(not(text("a"))));
    check("NOT(a OR b)", not(or(vec![text("a"), text("b")])));
    check("(a AND (b AND c)) d", and(vec![text("a"), text("b"), text("c"), text("d")]));
    check("(a OR (b OR c))", or(vec![text("a"), text("b"), text("c")]));
    check("((a))", text("a"));
    check("a and b", and(vec![text("a"), text("and"), text("b")]));
    check("ANDROID", text("android"));
    check("-service:iam", not(field(Service, eq("iam"))));
    check("* service:iam", and(vec![Query::All, field(Service, eq("iam"))]));
}

#[test]
fn values() {
    check(
        "actor.arn:arn:aws:iam::123456789012:user/bob",
        field(ActorArn, eq("arn:aws:iam::123456789012:user/bob")),
    );
    check("action:CreateUser", field(Action, eq("createuser")));
    check("action:\"Create User\"", field(Action, eq("create user")));
    check("action:\"a \\\"b\\\" \\\\ c\\d\"", field(Action, eq("a \"b\" \\ c\\d")));
    check("action:\"Create*\"", field(Action, eq("create*")));
    check("action:Create\\*", field(Action, eq("create*")));
    check("user_agent:aws\\ cli", field(UserAgent, eq("aws cli")));
    check("action:\\(x\\)", field(Action, eq("(x)")));
    check("action:ÉTÉ", field(Action, eq("été")));
    check("action:*", field(Action, Predicate::Exists));
    check("action:*Key", field(Action, wild(vec![AnyRun, lit("key")])));
    check("action:a**b?", field(Action, wild(vec![lit("a"), AnyRun, lit("b"), AnyChar])));
    check("(service:iam)", field(Service, eq("iam")));
    check("@userIdentity.type:Root", raw("userIdentity.type", eq("root")));
    check("@errorCode:AccessDenied", raw("errorCode", eq("accessdenied")));
    check("@requestParameters.x-amz-id:*", raw("requestParameters.x-amz-id", Predicate::Exists));
    check("read_only:true", field(ReadOnly, eq("true")));
    let long = "a".repeat(3000);
    check(&format!("action:{long}"), field(Action, eq(&long)));
}

#[test]
fn value_groups() {
    check("service:(iam OR sts)", or(vec![field(Service, eq("iam")), field(Service, eq("sts"))]));
    check(
        "action:(CreateUser -CreateRole)",
        and(vec![field(Action, eq("createuser")), not(field(Action, eq("createrole")))]),
    );
    check(
        "action:(Create* AND NOT (CreateRole OR \"CreateUser\"))",
        and(vec![
            field(Action, wild(vec![lit("create"), AnyRun])),
            not(or(vec![field(Action, eq("createrole")), field(Action, eq("createuser"))])),
        ]),
    );
    check(
        "@count:(>5 OR 1)",
        or(vec![raw("count", range(Excluded(n(5.0)), Unbounded)), raw("count", eq("1"))]),
    );
    check(
        "source_ip:(10.0.0.0/8 OR 1.2.3.4)",
        or(vec![field(SourceIp, cidr("10.0.0.0/8")), field(SourceIp, eq("1.2.3.4"))]),
    );
    check("service:(source:x)", field(Service, eq("source:x")));
}

#[test]
fn comparisons_and_ranges() {
    check("action:>m", field(Action, range(Excluded(t("m")), Unbounded)));
    check("action:>=M", field(Action, range(Included(t("m")), Unbounded)));
    check("action:<m", field(Action, range(Unbounded, Excluded(t("m")))));
    check("action:<=\"M x\"", field(Action, range(Unbounded, Included(t("m x")))));
    check("action:[A TO C]", field(Action, range(Included(t("a")), Included(t("c")))));
    check("action:{a TO c}", field(Action, range(Excluded(t("a")), Excluded(t("c")))));
    check("action:[a TO c}", field(Action, range(Included(t("a")), Excluded(t("c")))));
    check("action:{ a  TO  c ]", field(Action, range(Excluded(t("a")), Included(t("c")))));
    check("action:[* TO c]", field(Action, range(Unbounded, Included(t("c")))));
    check("action:[* TO *]", field(Action, Predicate::Exists));
    check("@count:[1 TO 10]", raw("count", range(Included(n(1.0)), Included(n(10.0)))));
    check("@count:[1 TO *]", raw("count", range(Included(n(1.0)), Unbounded)));
    check("@count:>-2.5", raw("count", range(Excluded(n(-2.5)), Unbounded)));
    check("@count:[1 TO Z]", raw("count", range(Included(t("1")), Included(t("z")))));
    check("source_ip:[10 TO 11]", field(SourceIp, range(Included(t("10")), Included(t("11")))));
}

#[test]
fn times() {
    check("time:2024-08-01", field(Time, range(Included(ms(AUG1)), Excluded(ms(AUG1 + DAY)))));
    check(
        "time:2024-08-01T13:33",
        field(Time, range(Included(ms(AUG1 + 48_780_000)), Excluded(ms(AUG1 + 48_840_000)))),
    );
    check("time:2024-08-01T13:33:28Z", field(Time, range(Included(ms(NOW)), Excluded(ms(NOW + 1000)))));
    check("time:1722519208000", field(Time, range(Included(ms(NOW)), Excluded(ms(NOW + 1)))));
    check("time:\"2024-08-01 13:33:28\"", field(Time, range(Included(ms(NOW)), Excluded(ms(NOW + 1000)))));
    check("time:>now-1h", field(Time, range(Included(ms(NOW - 3_600_000 + 1)), Unbounded)));
    check("time:>=-1h", field(Time, range(Included(ms(NOW - 3_600_000)), Unbounded)));
    check("time:>2024-08-01", field(Time, range(Included(ms(AUG1 + DAY)), Unbounded)));
    check("time:<2024-08-01", field(Time, range(Unbounded, Excluded(ms(AUG1)))));
    check("time:<=2024-08-01", field(Time, range(Unbounded, Excluded(ms(AUG1 + DAY)))));
    check(
        "time:[2024-08-01 TO 2024-08-02]",
        field(Time, range(Included(ms(AUG1)), Excluded(ms(AUG1 + 2 * DAY)))),
    );
    check(
        "time:{2024-08-01 TO 2024-08-02}",
        field(Time, range(Included(ms(AUG1 + DAY)), Excluded(ms(AUG1 + DAY)))),
    );
    check(
        "received:[now-7d TO now]",
        field(Received, range(Included(ms(NOW - 7 * DAY)), Excluded(ms(NOW + 1)))),
    );
    check("time:[now-1d TO *]", field(Time, range(Included(ms(NOW - DAY)), Unbounded)));
    check("time:*", field(Time, Predicate::Exists));
}

#[test]
fn cidr_blocks() {
    check("source_ip:10.0.0.0/8", field(SourceIp, cidr("10.0.0.0/8")));
    check("source_ip:10.1.2.3/8", field(SourceIp, cidr("10.0.0.0/8")));
    check("source_ip:2001:DB8::/32", field(SourceIp, cidr("2001:db8::/32")));
    check("source_ip:\"192.168.0.0/16\"", field(SourceIp, cidr("192.168.0.0/16")));
    check("source_ip:10.0.0.0/33", field(SourceIp, eq("10.0.0.0/33")));
    check("source_ip:a/b", field(SourceIp, eq("a/b")));
    check("source_ip:10.*", field(SourceIp, wild(vec![lit("10."), AnyRun])));
    check("actor.arn:10.0.0.0/8", field(ActorArn, eq("10.0.0.0/8")));
    check("@sourceIPAddress:10.0.0.0/8", raw("sourceIPAddress", eq("10.0.0.0/8")));
}

#[test]
fn free_text() {
    check("foo-bar", Query::Text(TextQuery::Phrase(vec![(0, "foo".into()), (1, "bar".into())])));
    check("\"Access Denied\"", text("access denied"));
    check("AccessDenied", text("accessdenied"));
    check("creat*", Query::Text(TextQuery::Wildcard(vec![lit("creat"), AnyRun])));
    check("Ac?ess", Query::Text(TextQuery::Wildcard(vec![lit("ac"), AnyChar, lit("ess")])));
    check("foo\\*", text("foo"));
    check("10:30", text("10 30"));
    check(":foo", text("foo"));
    check("a\\:b", text("a b"));
    check("\"a\" b", and(vec![text("a"), text("b")]));
    check("@x:1 \"y\"", and(vec![raw("x", eq("1")), text("y")]));
}

#[test]
fn errors() {
    check_err("(a", "column 1: unclosed (");
    check_err("a (b OR c", "column 3: unclosed (");
    check_err("a)", "column 2: unexpected ) without a matching (");
    check_err(")", "column 1: unexpected ) without a matching (");
    check_err("()", "column 1: empty parentheses");
    check_err("\"abc", "column 1: unclosed quote");
    check_err("x \"abc\\\"", "column 3: unclosed quote");
    check_err("a AND", "column 3: dangling AND");
    check_err("AND a", "column 1: dangling AND");
    check_err("a OR", "column 3: dangling OR");
    check_err("a OR OR b", "column 6: dangling OR");
    check_err("NOT", "column 1: dangling NOT");
    check_err("a NOT", "column 3: dangling NOT");
    check_err("(a NOT)", "column 4: dangling NOT");
    check_err("a - b", "column 3: dangling -");
    check_err("service:", "column 9: missing value after service:");
    check_err("service: iam", "column 9: missing value after service:");
    check_err("(service:)", "column 10: missing value after service:");
    check_err("service:\"\"", "column 9: empty value for service");
    check_err("service:()", "column 9: empty parentheses");
    check_err("service:(iam", "column 9: unclosed (");
    check_err("@:x", "column 1: empty field path after @");
    check_err("@foo", "column 1: expected : after field @foo");
    check_err("servce:iam", "column 1: unknown field servce; did you mean service?");
    check_err(
        "a -eventName:x",
        "column 4: unknown field eventName; did you mean action (or @eventName in the record)?",
    );
    check_err("action:>", "column 9: missing value after action:>");
    check_err("action:>=*", "column 10: wildcards are not allowed after >=");
    check_err("action:[a TO]", "column 13: missing upper bound in range");
    check_err("action:[TO b]", "column 9: missing lower bound in range");
    check_err("action:[a b]", "column 11: expected TO in range, found b]");
    check_err("action:[a TO b", "column 8: unclosed [");
    check_err("action:{a TO", "column 8: unclosed {");
    check_err("action:[a TO b c]", "column 16: expected ] or } to close the range, found c]");
    check_err("action:[a* TO b]", "column 9: wildcards are not allowed in range bounds: a*");
    check_err(
        "time:[yesterday TO now]",
        "column 7: invalid time \"yesterday\": expected now, now-7d, -24h, 2024-08-01, 2024-08-01T13:33:28Z or epoch milliseconds",
    );
    check_err(
        "time:2024-13-01",
        "column 6: invalid time \"2024-13-01\": expected now, now-7d, -24h, 2024-08-01, 2024-08-01T13:33:28Z or epoch milliseconds",
    );
    check_err("x time:2024*", "column 8: wildcards do not apply to time field time");
    check_err("!!!", "column 1: no searchable word in !!!");
    check_err("\"--\"", "column 1: no searchable word in \"--\"");
    check_err(
        "foo-*",
        "column 1: a wildcard in free text must stay within one word of letters and digits: foo-*",
    );
    check_err("a\\", "column 2: dangling \\ at the end of the query");
    check_err(&"(".repeat(200), "column 101: query nests deeper than 100 levels");
    check_err(&"-".repeat(200), "column 101: query nests deeper than 100 levels");
}

#[test]
fn columns_count_characters_not_bytes() {
    check_err("été (", "column 5: unclosed (");
}

proptest! {
    #[test]
    fn never_panics(input in "\\PC{0,60}") {
        let _ = parse(&input, NOW);
    }

    #[test]
    fn never_panics_on_query_like_input(
        input in "([a-z_.@:()\\[\\]{}\"\\\\*?<>=/ -]|AND |OR |NOT |TO |service:|time:|source_ip:|now-1d|2024-08-01|10.0.0.0/8){0,30}"
    ) {
        if let Err(e) = parse(&input, NOW) {
            prop_assert!(e.column >= 1 && e.column <= input.chars().count() + 1, "{e} for {input:?}");
            prop_assert!(!e.message.is_empty());
        }
    }
}
