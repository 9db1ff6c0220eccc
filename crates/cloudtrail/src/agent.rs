//! The family of client behind a `userAgent`: what `Event::agent` holds.
//!
//! Families, checked in this order (the first that matches wins, case-insensitively):
//!
//! | family | recognized by |
//! |---|---|
//! | `stratus-red-team` | starts with `stratus-red-team` (Stratus Red Team detonations) |
//! | `console` | `signin.amazonaws.com`, `console.amazonaws.com`, `AWS Internal`, `aws-internal/…`, a first token containing `console` (`AWSConsole`, `S3Console/…`, `EC2ConsoleBackend`), or a browser (`Mozilla/…`) |
//! | `cloudformation` | `cloudformation.amazonaws.com`, or a `cloudformation` token |
//! | `aws-service` | any other bare `*.amazonaws.com` host (a service calling on your behalf) |
//! | `terraform` | a `Terraform/…` or `HashiCorp/…` token (checked before the SDK Terraform embeds) |
//! | `pulumi` | a `pulumi` token |
//! | `aws-cli` | an `aws-cli/…` token (before botocore, which the CLI embeds) |
//! | `powershell` | an `AWSPowerShell…` token or `PowerShell` anywhere |
//! | `boto3` | a `Boto3/…` token (before botocore, which boto3 names too) |
//! | `botocore` | a `botocore/…` token |
//! | `aws-sdk-go-v2`, `aws-sdk-go`, `aws-sdk-java`, `aws-sdk-js`, `aws-sdk-rust`, `aws-sdk-…` | an `aws-sdk-<lang>/…` token; `aws-sdk-nodejs` counts as `aws-sdk-js` |
//! | `python-requests`, `curl` | their tokens |
//! | anything else | the first product token, lowercased, up to its `/` (`Go-http-client/1.1` → `go-http-client`) |
//!
//! A token is a run of characters between spaces, `(`, `)`, `[`, `]` and `,`.

/// Classifies a user agent. Never empty: an agent with no usable token is `unknown`.
pub fn family(user_agent: &str) -> String {
    let lower = user_agent.trim().to_ascii_lowercase();
    known(&lower).map(str::to_owned).unwrap_or_else(|| first_product(&lower))
}

fn known(ua: &str) -> Option<&'static str> {
    if ua.starts_with("stratus-red-team") {
        return Some("stratus-red-team");
    }
    if let Some(host) = ua.strip_suffix(".amazonaws.com").filter(|h| !h.contains([' ', '/'])) {
        return Some(match host {
            "signin" | "console" => "console",
            "cloudformation" => "cloudformation",
            _ => "aws-service",
        });
    }
    let products: Vec<&str> = tokens(ua).map(|t| t.split('/').next().unwrap_or(t)).collect();
    let has = |name: &str| products.contains(&name);
    let first = products.first().copied().unwrap_or("");
    if ua.starts_with("aws internal")
        || first == "aws-internal"
        || first.contains("console")
        || first == "mozilla"
        || has("console.amazonaws.com")
        || has("signin.amazonaws.com")
    {
        return Some("console");
    }
    if has("cloudformation") || has("cloudformation.amazonaws.com") {
        return Some("cloudformation");
    }
    if has("terraform") || has("hashicorp") {
        return Some("terraform");
    }
    if has("pulumi") {
        return Some("pulumi");
    }
    if has("aws-cli") {
        return Some("aws-cli");
    }
    if products.iter().any(|p| p.starts_with("awspowershell")) || ua.contains("powershell") {
        return Some("powershell");
    }
    if has("boto3") {
        return Some("boto3");
    }
    if has("botocore") {
        return Some("botocore");
    }
    if let Some(sdk) = products.iter().find_map(|p| sdk_family(p)) {
        return Some(sdk);
    }
    if has("python-requests") {
        return Some("python-requests");
    }
    if has("curl") {
        return Some("curl");
    }
    None
}

fn sdk_family(product: &str) -> Option<&'static str> {
    Some(match product {
        "aws-sdk-go-v2" => "aws-sdk-go-v2",
        "aws-sdk-go" => "aws-sdk-go",
        "aws-sdk-java" | "aws-sdk-java-v2" => "aws-sdk-java",
        "aws-sdk-js" | "aws-sdk-nodejs" | "aws-sdk-js-v3" => "aws-sdk-js",
        "aws-sdk-rust" => "aws-sdk-rust",
        "aws-sdk-dotnet" | "aws-sdk-net" => "aws-sdk-dotnet",
        "aws-sdk-ruby" | "aws-sdk-ruby2" | "aws-sdk-ruby3" => "aws-sdk-ruby",
        "aws-sdk-php" => "aws-sdk-php",
        "aws-sdk-cpp" => "aws-sdk-cpp",
        "aws-sdk-kotlin" => "aws-sdk-kotlin",
        "aws-sdk-swift" => "aws-sdk-swift",
        p if p.starts_with("aws-sdk-dotnet") => "aws-sdk-dotnet",
        _ => return None,
    })
}

fn tokens(ua: &str) -> impl Iterator<Item = &str> {
    ua.split([' ', '(', ')', '[', ']', ',', ';']).filter(|t| !t.is_empty())
}

fn first_product(ua: &str) -> String {
    // Metadata prefixes such as `m/E` are not products.
    let product = tokens(ua)
        .filter(|t| !t.starts_with("m/") && !t.starts_with("md/"))
        .map(|t| t.split('/').next().unwrap_or(t))
        .find(|p| !p.is_empty());
    match product {
        Some(p) => p.chars().take(64).collect(),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(user_agent: &str, expect: &str) {
        assert_eq!(family(user_agent), expect, "{user_agent}");
    }

    #[test]
    fn families() {
        check("stratus-red-team_ea782787-a65d-4fc4-9fca-1c97869a9a25", "stratus-red-team");
        check("signin.amazonaws.com", "console");
        check("console.amazonaws.com", "console");
        check("AWS Internal", "console");
        check("aws-internal/3 aws-sdk-java/1.12.1 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.3", "console");
        check("AWSConsole", "console");
        check("S3Console/0.4", "console");
        check(
            "EC2ConsoleBackend, aws-sdk-java/Linux/x.xx.fleetxen Java_HotSpot(TM)_64-Bit_Server_VM/xx",
            "console",
        );
        check("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0", "console");
        check("cloudformation.amazonaws.com", "cloudformation");
        check("AWS CloudFormation", "cloudformation");
        check("ec2.amazonaws.com", "aws-service");
        check("ssm.amazonaws.com", "aws-service");
        check("APN/1.0 HashiCorp/1.0 Terraform/1.9.6 (+https://www.terraform.io) terraform-provider-aws/5.70.0 aws-sdk-go-v2/1.32.3", "terraform");
        check("pulumi/3.0 aws-sdk-go/1.44", "pulumi");
        check(
            "aws-cli/2.17.60 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.12.6",
            "aws-cli",
        );
        check("[aws-cli/1.11.10 Python/2.7.8 Linux/3.2.45 botocore/1.4.67]", "aws-cli");
        check("aws-cli/1.16.310 Python/3.8.1 Darwin/18.7.0 botocore/1.13.46", "aws-cli");
        check("AWSPowerShell/4.1.0.0 .NET_Runtime/4.0", "powershell");
        check("aws-sdk-dotnet-coreclr/3.7 aws-sdk-dotnet-core/3.7 .NET_Core/6 OS/Win ClientAsync PowerShellCore/7.-1", "powershell");
        check("Boto3/1.35.50 md/Botocore#1.35.50 ua/2.0 os/linux#6.8.0 lang/python#3.12.3", "boto3");
        check("Botocore/1.29.0 Python/3.10", "botocore");
        check("aws-sdk-go-v2/1.32.3 os/linux lang/go#1.23.1 md/GOOS#linux", "aws-sdk-go-v2");
        check("m/E aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.6", "aws-sdk-go-v2");
        check("aws-sdk-go/1.55.5 (go1.23.8; windows; amd64) exec-env/EC2", "aws-sdk-go");
        check("aws-sdk-java/2.20.1 Linux/5.10 OpenJDK_64-Bit_Server_VM/17", "aws-sdk-java");
        check("aws-sdk-nodejs/2.1384.0 darwin/v20.16.0 AWS-Toolkit-For-VSCode/1.0", "aws-sdk-js");
        check("aws-sdk-js/3.500.0 ua/2.0 os/linux", "aws-sdk-js");
        check("aws-sdk-rust/1.3.0 os/linux lang/rust/1.80", "aws-sdk-rust");
        check("aws-sdk-dotnet-coreclr/3.7.300 aws-sdk-dotnet-core/3.7 .NET_Core/6.0", "aws-sdk-dotnet");
        check("python-requests/2.31.0", "python-requests");
        check("curl/8.4.0", "curl");
        check("Go-http-client/1.1", "go-http-client");
        check("REDACTED", "redacted");
        check("   ", "unknown");
    }
}
