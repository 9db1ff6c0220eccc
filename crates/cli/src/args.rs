//! The command line: subcommands, options and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  trailwatch demo                                 generate, ingest and search a sample dataset
  trailwatch ingest ./AWSLogs                     read every CloudTrail file under a folder
  trailwatch search 'service:iam action:Create* -outcome:failure' --from -7d
  trailwatch search '@userIdentity.type:Root' --format json
  trailwatch facets actor.name 'outcome:failure' --size 20
  trailwatch histogram 'action:ConsoleLogin' --interval 1h --by outcome
  trailwatch get 3346344c-5a3e-429e-8405-420f98f75d6e
  trailwatch hunt ./incident-logs                 run the detection rules over a folder, store nothing
  trailwatch signals --status open                alerts raised while ingesting
  trailwatch rules replay all --from -30d         what the rules would have fired on stored events

The query language is described in docs/QUERY.md; `trailwatch fields` lists the fields.

Exit codes: 0 success; 1 done, but some files or records were rejected (ingest) or nothing
matched (search with --fail-empty); 2 bad usage or query; 3 the store or a file system failed.";

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

#[derive(Debug, Parser)]
#[command(name = "trailwatch", version, about = "AWS CloudTrail security monitoring: ingest, search, alert", after_help = AFTER_HELP)]
pub struct Cli {
    /// Where the events and state are kept.
    #[arg(long, global = true, env = "TRAILWATCH_DATA_DIR", default_value = "trailwatch-data")]
    pub data_dir: PathBuf,
    /// The configuration file (TOML): notification channels, UI address. See docs/NOTIFICATIONS.md.
    #[arg(long, global = true, env = "TRAILWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print nothing but results and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail log files (.json.gz, .json, folders) into the store.
    #[command(
        after_help = "Examples:\n  trailwatch ingest ./AWSLogs\n  trailwatch ingest a.json.gz b.json --force\n  trailwatch ingest ./logs --retention 90d"
    )]
    Ingest(IngestArgs),
    /// Find events matching a query, newest first.
    #[command(
        after_help = "Examples:\n  trailwatch search 'service:iam action:Create*'\n  trailwatch search '\"AccessDenied\" source_ip:10.0.0.0/8' --from -24h --limit 50\n  trailwatch search 'actor.type:Root' --from 2024-08-01 --to 2024-08-02 --format json"
    )]
    Search(SearchArgs),
    /// Top values of a field, with counts.
    #[command(
        after_help = "Examples:\n  trailwatch facets service\n  trailwatch facets source_ip 'outcome:failure' --size 20"
    )]
    Facets(FacetsArgs),
    /// Event counts over time, optionally split by a field.
    #[command(
        after_help = "Examples:\n  trailwatch histogram --interval 1h\n  trailwatch histogram 'error_code:AccessDenied' --interval 15m --by actor.name"
    )]
    Histogram(HistogramArgs),
    /// Show one event by id, with its original record.
    Get { id: String },
    /// List the fields queries can use.
    Fields,
    /// How many events the store holds, over what time, and how much disk it uses.
    Stats,
    /// Generate a realistic dataset (synthetic activity plus real attack records), ingest it,
    /// run example searches, and serve the web UI with the signals raised.
    Demo {
        /// Synthetic events to generate.
        #[arg(long, default_value_t = 200_000)]
        events: u64,
        /// Stop after the example searches instead of serving the web UI.
        #[arg(long)]
        no_serve: bool,
        /// Where the web UI listens at the end of the demo.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Run the detection rules over CloudTrail files without storing them (incident response).
    #[command(
        after_help = "Examples:\n  trailwatch hunt ./AWSLogs\n  trailwatch hunt ./incident --rules ./my-rules --format json\n  trailwatch hunt ./logs --min-severity high --fail-on high"
    )]
    Hunt(HuntArgs),
    /// List, test and replay detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// List signals (alerts), or change their status.
    #[command(
        after_help = "Examples:\n  trailwatch signals\n  trailwatch signals --status open --since -24h --min-severity high\n  trailwatch signals show 'cloudtrail-stop-logging:1a2b…:1709294400000'\n  trailwatch signals ack 'cloudtrail-stop-logging:1a2b…:1709294400000' --by alice"
    )]
    Signals(SignalsArgs),
    /// Notifications: test the channels, send what is queued, list dead letters.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Serve the HTTP API (JSON under /api/v1, see docs/API.md) and the web UI; with
    /// `[[accounts]]` in the --config file, also poll them as `poll` does. On first start with no
    /// users, creates `admin` with a random password, printed once.
    #[command(
        after_help = "Examples:\n  trailwatch serve\n  trailwatch --config trailwatch.toml serve\n  trailwatch serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem\n  trailwatch users token admin --name grafana"
    )]
    Serve(ServeArgs),
    /// Local users of the HTTP API: add, list, delete, passwd, token.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Read every configured AWS account's trails from S3 (or SQS), continuously. See docs/AWS.md.
    #[command(
        after_help = "Examples:\n  trailwatch --config trailwatch.toml poll\n  trailwatch --config trailwatch.toml poll --once"
    )]
    Poll(PollArgs),
    /// The trails found in the configured AWS accounts: read, or skipped and why.
    Trails,
    /// Health of each trail being read: last file, lag, files and events per hour, requests,
    /// cost, last error; silent trails flagged.
    Status,
    /// Check each AWS permission trailwatch needs, and print the IAM policy to add for any missing.
    Doctor,
    /// Delete events older than an age.
    Prune {
        /// Age such as 90d, 12w or 720h.
        #[arg(long)]
        older_than: String,
    },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Read files again even if they were ingested before and have not changed.
    #[arg(long)]
    pub force: bool,
    /// After ingesting, delete events older than this age (e.g. 90d).
    #[arg(long)]
    pub retention: Option<String>,
    /// Decoding threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Largest decompressed size of one file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_file_mib: u64,
    /// Largest record, in KiB.
    #[arg(long, default_value_t = 1024)]
    pub max_record_kib: usize,
    /// Deepest nesting of a record.
    #[arg(long, default_value_t = 64)]
    pub max_depth: usize,
    /// Print each rejected file or record (default: the first 20).
    #[arg(long)]
    pub all_errors: bool,
    /// Commit after this many new events (tests use small values to make many commits).
    #[arg(long, hide = true)]
    pub commit_every_events: Option<u64>,
    /// Test hook: abort the process when the Nth commit reaches a stage
    /// (`detection-saved:N`, `store-committed:N`, `files-recorded:N`), as a crash would.
    #[arg(long, hide = true)]
    pub abort_at: Option<String>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Do not run detection rules while ingesting.
    #[arg(long)]
    pub no_detect: bool,
    /// Record signals but send no notifications.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Poll once and exit (the exit code tells whether any trail failed).
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Do not run detection rules while ingesting.
    #[arg(long)]
    pub no_detect: bool,
    /// Record signals but send no notifications.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RuleArgs {
    /// Rule files or folders, besides the built-in pack (a rule with a built-in rule's id
    /// replaces it).
    #[arg(long = "rules", value_name = "PATH")]
    pub rule_paths: Vec<PathBuf>,
    /// Leave the built-in rule pack out.
    #[arg(long)]
    pub no_builtin: bool,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Files or folders (read recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Only show signals at or above this severity (info, low, medium, high, critical).
    #[arg(long, default_value = "info")]
    pub min_severity: String,
    /// Exit with code 1 when a signal at or above this severity was raised.
    #[arg(long)]
    pub fail_on: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Decoding threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The rules: built-in pack and --rules files.
    List {
        #[command(flatten)]
        rules: RuleArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run the rules' inline tests (exit code 1 when one fails or a rule does not load).
    Test {
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Show one rule.
    Show {
        id: String,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Run a rule (or `all`) over stored events of a time range: what it would have fired.
    /// Nothing is stored or notified.
    #[command(
        after_help = "Examples:\n  trailwatch rules replay all --from -30d\n  trailwatch rules replay console-login-brute-force --from 2024-08-01 --to 2024-08-08\n  trailwatch rules replay my-new-rule --rules ./my-rules --from -7d"
    )]
    Replay {
        /// A rule id, or `all`.
        id: String,
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        time: TimeArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification to every configured channel.
    Test,
    /// Send the notifications still queued (a run that stopped before sending them).
    Flush {
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Notifications that no retry could deliver.
    DeadLetters {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a login session lasts, e.g. 12h or 7d.
    #[arg(long, default_value = "12h")]
    pub session_ttl: String,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Do not poll the `[[accounts]]` of the --config file (by default `serve` reads them as
    /// `poll` does, beside the HTTP server).
    #[arg(long)]
    pub no_poll: bool,
    /// Poll without running detection rules.
    #[arg(long)]
    pub no_detect: bool,
    /// Poll and record signals but send no notifications.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user. The password is read from standard input with --password-stdin, otherwise
    /// a random one is made and printed once.
    Add {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete a user with their sessions and API tokens.
    Delete { name: String },
    /// Set a user's password (ends their sessions); random unless --password-stdin.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token for a user (`Authorization: Bearer tw_…`), printed once.
    Token {
        name: String,
        /// What the token is for.
        #[arg(long = "name", id = "label", default_value = "cli")]
        label: String,
    },
}

#[derive(Debug, Args)]
pub struct SignalsArgs {
    /// `show`, `ack`, `resolve`, `mute` or `reopen` followed by a signal id; nothing to list.
    #[arg(num_args = 0..=2, value_names = ["ACTION", "ID"])]
    pub change: Vec<String>,
    /// Only signals with this status: open, acknowledged, resolved, muted.
    #[arg(long)]
    pub status: Option<String>,
    /// Only signals last seen since this time (-24h, 2024-08-01…).
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    #[arg(long, default_value = "info")]
    pub min_severity: String,
    #[arg(long)]
    pub rule: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Who changes the status (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
}

#[derive(Debug, Args, Clone)]
pub struct TimeArgs {
    /// Start of the time range: -24h, now-7d, 2024-08-01, 2024-08-01T13:00:00Z.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End of the time range (exclusive), same forms as --from.
    #[arg(long, allow_hyphen_values = true)]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query (empty for everything). See docs/QUERY.md.
    #[arg(default_value = "", allow_hyphen_values = true)]
    pub query: String,
    #[command(flatten)]
    pub time: TimeArgs,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Skip this many matches first (paging).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub oldest_first: bool,
    /// Exit with code 1 when nothing matches.
    #[arg(long)]
    pub fail_empty: bool,
}

#[derive(Debug, Args)]
pub struct FacetsArgs {
    /// The field to count values of (`trailwatch fields` lists them).
    pub field: String,
    /// Only events matching this query.
    #[arg(default_value = "", allow_hyphen_values = true)]
    pub query: String,
    #[command(flatten)]
    pub time: TimeArgs,
    #[arg(long, default_value_t = 10)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct HistogramArgs {
    /// Only events matching this query.
    #[arg(default_value = "", allow_hyphen_values = true)]
    pub query: String,
    #[command(flatten)]
    pub time: TimeArgs,
    /// Bucket size: 30s, 5m, 1h, 1d… (default: about 30 buckets over the range).
    #[arg(long)]
    pub interval: Option<String>,
    /// Split the counts by the top values of this field.
    #[arg(long)]
    pub by: Option<String>,
    /// How many values of --by get their own series (the rest are "other").
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
