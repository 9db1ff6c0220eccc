//! User agent strings by kind of client, as they appear in real trails.

/// How a client identifies itself.
#[derive(Debug, Clone, Copy)]
pub struct Agent {
    pub text: &'static str,
    /// The AWS CLI appends ` command/<service>.<operation>` to its user agent.
    pub cli: bool,
}

const fn cli(text: &'static str) -> Agent {
    Agent { text, cli: true }
}

const fn sdk(text: &'static str) -> Agent {
    Agent { text, cli: false }
}

/// What people type at a terminal.
pub const CLI: &[Agent] = &[
    cli("aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off"),
    cli("aws-cli/2.17.60 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off"),
    cli("aws-cli/2.13.5 Python/3.11.4 Linux/6.2.0-1009-aws exe/x86_64.ubuntu.22 prompt/off"),
    cli("aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1016-aws md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off"),
    cli("aws-cli/1.29.62 Python/3.9.16 Linux/5.10.197-186.748.amzn2.x86_64 botocore/1.31.62"),
    cli("aws-cli/2.15.17 Python/3.11.6 Windows/10 exe/AMD64 prompt/off"),
];

/// SDKs and infrastructure tools run by automation.
pub const SDK: &[Agent] = &[
    sdk("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy Botocore/1.34.69"),
    sdk("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.109-118.189.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36"),
    sdk("aws-sdk-go-v2/1.30.3 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.171.0"),
    sdk("aws-sdk-go/1.50.30 (go1.21.6; linux; amd64)"),
    sdk("aws-sdk-java/2.25.16 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy"),
    sdk("aws-sdk-js/3.614.0 ua/2.0 os/linux#5.10.219-229.866.amzn2.x86_64 lang/js md/nodejs#20.15.1 api/dynamodb#3.614.0 exec-env/AWS_Lambda_nodejs20.x"),
    sdk("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 ua/2.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.152.0"),
    sdk("aws-sdk-dotnet-coreclr/3.7.300.57 aws-sdk-dotnet-core/3.7.302.19 .NET_Core/8.0.2 OS/Linux_5.10.209-198.858.amzn2.x86_64 ClientAsync"),
    sdk("aws-sdk-rust/1.3.0 os/linux lang/rust/1.80.1"),
    sdk("aws-internal/3 aws-sdk-java/1.12.720 Linux/5.10.219-186.866.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.412-b08 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard"),
];

/// Console browsers; console calls show either the browser or `AWS Internal`.
pub const CONSOLE: &[Agent] = &[
    sdk("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"),
    sdk("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0"),
    sdk("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"),
    sdk("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"),
    sdk("AWS Internal"),
    sdk("AWS Internal"),
];
