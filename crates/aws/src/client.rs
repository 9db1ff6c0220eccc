//! AWS SDK configuration per account: the standard credential chain (environment, profiles
//! including SSO, instance and container roles) or a named profile, then an assumed role when
//! the account has one. The SDK's credential cache refreshes assumed-role sessions before they
//! expire.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

use crate::config::Account;
use crate::error::{aws_error, Result};

/// Attempts per request (the first and up to four retries).
pub const RETRY_ATTEMPTS: u32 = 5;

/// How to reach AWS, whatever the account.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// Every request goes here (VPC endpoints, a local test server); S3 then uses path-style
    /// addressing.
    pub endpoint_url: Option<String>,
    /// Credentials to use instead of the standard chain (tests; the binary leaves this empty).
    pub credentials: Option<Credentials>,
}

/// The SDK configuration for one account, with `region` as its default region.
pub async fn account_config(connect: &Connect, account: &Account, region: &str) -> SdkConfig {
    // Standard retry mode: exponential backoff with jitter on throttling, 5xx and timeouts.
    let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(RETRY_ATTEMPTS);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .retry_config(retry);
    if let Some(p) = &account.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &connect.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(c) = &connect.credentials {
        loader = loader.credentials_provider(c.clone());
    }
    let base = loader.load().await;
    let Some(role) = &account.role_arn else {
        return base;
    };
    let mut builder = AssumeRoleProvider::builder(role).session_name("trailwatch").configure(&base);
    if let Some(x) = &account.external_id {
        builder = builder.external_id(x);
    }
    let provider = builder.build().await;
    base.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}

/// Clients for one account, built from its configuration.
#[derive(Clone)]
pub struct AccountClients {
    pub sdk: SdkConfig,
    path_style: bool,
}

impl AccountClients {
    pub async fn new(connect: &Connect, account: &Account) -> AccountClients {
        let region = account.regions.first().map_or("us-east-1", String::as_str);
        let sdk = account_config(connect, account, region).await;
        AccountClients { sdk, path_style: connect.endpoint_url.is_some() }
    }

    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf =
            aws_sdk_cloudtrail::config::Builder::from(&self.sdk).region(Region::new(region.to_owned()));
        aws_sdk_cloudtrail::Client::from_conf(conf.build())
    }

    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .force_path_style(self.path_style);
        aws_sdk_s3::Client::from_conf(conf.build())
    }

    pub fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::from(&self.sdk).region(Region::new(region.to_owned()));
        aws_sdk_sqs::Client::from_conf(conf.build())
    }

    /// `sts:GetCallerIdentity`: who these credentials are (also proves an assumed role works).
    pub async fn whoami(&self) -> Result<String> {
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        let out =
            sts.get_caller_identity().send().await.map_err(|e| aws_error("sts:GetCallerIdentity", &e))?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }
}

/// The region of a bucket from `GetBucketLocation`'s answer: empty or missing means
/// us-east-1, `EU` means eu-west-1.
pub fn bucket_region(location: Option<&str>) -> String {
    match location.unwrap_or("") {
        "" => "us-east-1".to_owned(),
        "EU" => "eu-west-1".to_owned(),
        r => r.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_locations() {
        for (loc, want) in [
            (None, "us-east-1"),
            (Some(""), "us-east-1"),
            (Some("EU"), "eu-west-1"),
            (Some("ap-south-1"), "ap-south-1"),
        ] {
            assert_eq!(super::bucket_region(loc), want);
        }
    }
}
