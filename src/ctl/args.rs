//! The command line of `synclinkctl`: one subcommand per admin route.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "synclinkctl",
    version,
    about = "Drive synclinkd through its admin socket",
    after_help = "The admin socket: --socket, else $SYNCLINK_SOCKET, else \
                  /run/synclink/synclink.sock when it exists (the packaged daemon's), else \
                  ./synclink.sock (the daemon's default next to its working directory)."
)]
pub struct Cli {
    /// Admin socket of synclinkd [default: $SYNCLINK_SOCKET, else
    /// /run/synclink/synclink.sock if it exists, else ./synclink.sock].
    #[arg(long, global = true, env = "SYNCLINK_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print the raw JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Version, uptime, counts per entity, actor health.
    Status,
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Teams and their members.
    #[command(subcommand)]
    Team(TeamCmd),
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Notification settings of a project.
    #[command(subcommand, name = "notification-settings")]
    NotificationSettings(NotifCmd),
    /// Issue groups: create, show, activity, manual assign.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Jira integrations: connect (OAuth), import, webhook, installations.
    #[command(subcommand)]
    Integration(IntegrationCmd),
    /// Links between groups and Jira issues.
    #[command(subcommand)]
    Link(LinkCmd),
    /// The group ownership cache.
    #[command(subcommand)]
    Cache(CacheCmd),
    /// The delivery log: why did (or didn't) an assignee sync?
    Deliveries(DeliveriesArgs),
    /// The outbox: local changes on their way to Jira.
    Outbox(OutboxArgs),
    /// Snowflake IDs.
    #[command(subcommand)]
    Id(IdCmd),
}

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Create an organization.
    Create {
        #[arg(long)]
        slug: String,
        name: String,
    },
    /// List organizations.
    List,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        name: String,
        /// Verified email address (repeatable).
        #[arg(long = "email")]
        emails: Vec<String>,
        /// Unverified email address (repeatable).
        #[arg(long = "unverified-email")]
        unverified: Vec<String>,
    },
    /// Show a user.
    Get { id: u64 },
}

#[derive(Subcommand)]
pub enum TeamCmd {
    /// Create a team.
    Create {
        #[arg(long)]
        org: u64,
        #[arg(long)]
        slug: String,
        name: String,
    },
    /// Add a user to a team.
    AddMember { team: u64, user: u64 },
    /// Remove a user from a team.
    RemoveMember { team: u64, user: u64 },
}

#[derive(Subcommand)]
pub enum ProjectCmd {
    /// Create a project (slug and id are generated unless given).
    Create {
        #[arg(long)]
        org: u64,
        #[arg(long)]
        slug: Option<String>,
        /// Team with access (repeatable).
        #[arg(long = "team")]
        teams: Vec<u64>,
        name: String,
    },
    /// List projects (of one organization).
    List {
        #[arg(long)]
        org: Option<u64>,
    },
    /// Show a project.
    Get { id: u64 },
    /// Delete a project and everything hanging off it.
    Delete { id: u64 },
}

#[derive(Subcommand)]
pub enum NotifCmd {
    /// Set a user's notification setting on a project.
    Set {
        project: u64,
        user: u64,
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        value: String,
    },
    /// List a project's notification settings.
    List { project: u64 },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Create {
        #[arg(long)]
        project: u64,
        title: String,
    },
    /// Show a group and its assignee.
    Get { id: u64 },
    /// A group's activity, oldest first.
    Activity { id: u64 },
    /// Assign a group to a user.
    Assign {
        id: u64,
        #[arg(long)]
        user: u64,
    },
    /// Remove a group's assignee.
    Deassign { id: u64 },
    /// Mark a group resolved.
    Resolve { id: u64 },
    /// Mark a group unresolved.
    Unresolve { id: u64 },
    /// A group's links to Jira issues.
    Links { id: u64 },
}

#[derive(Subcommand)]
pub enum IntegrationCmd {
    /// Start the OAuth 1.0a handshake with Jira; prints the URL to authorize.
    Connect {
        #[arg(long)]
        base_url: String,
        #[arg(long)]
        consumer_key: String,
        /// PEM file of the RSA private key (PKCS#1 or PKCS#8).
        #[arg(long)]
        private_key: PathBuf,
        #[arg(long)]
        name: Option<String>,
        /// Out-of-band: Jira shows a verifier to paste into `integration verifier`.
        #[arg(long)]
        oob: bool,
        /// Do not verify Jira's TLS certificate.
        #[arg(long)]
        no_verify_ssl: bool,
    },
    /// Finish an out-of-band handshake with the verifier Jira showed.
    Verifier { id: u64, verifier: String },
    /// Import an existing integration (keeps its webhook and tokens).
    Import {
        #[arg(long)]
        base_url: String,
        #[arg(long)]
        consumer_key: String,
        #[arg(long, env = "SYNCLINK_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: String,
        #[arg(long)]
        external_id: Option<String>,
        /// PEM file of the RSA private key.
        #[arg(long)]
        private_key: Option<PathBuf>,
        #[arg(long, env = "SYNCLINK_ACCESS_TOKEN", hide_env_values = true)]
        access_token: Option<String>,
        #[arg(long, env = "SYNCLINK_ACCESS_TOKEN_SECRET", hide_env_values = true)]
        access_token_secret: Option<String>,
    },
    /// List integrations.
    List,
    /// Show an integration.
    Get { id: u64 },
    /// The webhook URL (holds the token) for manual setup in Jira.
    WebhookUrl { id: u64 },
    /// Register (again) the webhook in Jira.
    RegisterWebhook { id: u64 },
    /// Install an integration in an organization, or change its switches
    /// (a switch not given keeps its value; a new installation starts with
    /// every switch off).
    Install {
        id: u64,
        #[arg(long)]
        org: u64,
        /// Jira assignee changes reach the groups (true/false).
        #[arg(long, action = clap::ArgAction::Set)]
        sync_inbound_assignee: Option<bool>,
        /// Local assignee changes reach Jira (true/false).
        #[arg(long, action = clap::ArgAction::Set)]
        sync_outbound_assignee: Option<bool>,
        /// Jira status changes resolve / unresolve the groups (true/false).
        #[arg(long, action = clap::ArgAction::Set)]
        sync_inbound_status: Option<bool>,
        /// Local status changes move the Jira issue (true/false).
        #[arg(long, action = clap::ArgAction::Set)]
        sync_outbound_status: Option<bool>,
    },
    /// The organizations an integration is installed in, with their switches.
    Installations { id: u64 },
    /// The Jira statuses known (`--refresh`: read them from Jira now).
    Statuses {
        id: u64,
        #[arg(long)]
        refresh: bool,
    },
    /// Where resolving / unresolving a group moves the issues of a Jira project.
    MapStatus {
        id: u64,
        /// The Jira project key (e.g. APP).
        jira_project: String,
        /// Jira status id for a group resolved here.
        #[arg(long)]
        on_resolve: String,
        /// Jira status id for a group unresolved here.
        #[arg(long)]
        on_unresolve: String,
    },
    /// The status mappings of an integration.
    Mappings { id: u64 },
    /// Remove the status mapping of a Jira project.
    UnmapStatus { id: u64, jira_project: String },
    /// The Jira user links of an integration (who a Jira account is here).
    JiraUsers { id: u64 },
    /// Link a Jira account (username or accountId) to a local user.
    LinkJiraUser {
        id: u64,
        jira_user: String,
        #[arg(long)]
        user: u64,
    },
    /// Remove the link of a Jira account.
    UnlinkJiraUser { id: u64, jira_user: String },
    /// Read back from Jira what its webhooks never delivered (a run now);
    /// without --wait, prints the run and returns.
    Reconcile {
        id: u64,
        /// Read from this time (RFC 3339) instead of the cursor.
        #[arg(long)]
        since: Option<String>,
        /// Wait for the run to end, showing its progress (a bar on a
        /// terminal, plain lines otherwise); exit 1 if the run failed.
        #[arg(long)]
        wait: bool,
    },
    /// The reconcile cursor, the run going on, and the last run.
    ReconcileStatus { id: u64 },
}

#[derive(Subcommand)]
pub enum LinkCmd {
    /// Link a group to a Jira issue.
    Create {
        #[arg(long)]
        group: u64,
        #[arg(long)]
        integration: u64,
        key: String,
    },
    /// A group's links.
    List { group: u64 },
    /// Remove a link.
    Delete {
        group: u64,
        integration: u64,
        key: String,
    },
}

#[derive(Subcommand)]
pub enum CacheCmd {
    /// Hit/miss/invalidation counters and size.
    Stats,
    /// Cached assignee of a group.
    Group { id: u64 },
}

#[derive(Args)]
pub struct DeliveriesArgs {
    #[arg(long)]
    pub integration: Option<u64>,
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub outcome: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub cmd: Option<OutboxCmd>,
    #[arg(long)]
    pub integration: Option<u64>,
    /// pending, done or dead.
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Subcommand)]
pub enum OutboxCmd {
    /// Try an entry again now (a dead one becomes pending).
    Retry { id: u64 },
    /// Drop an entry.
    Drop { id: u64 },
}

#[derive(Subcommand)]
pub enum IdCmd {
    /// Issue a new snowflake ID.
    New,
    /// Decode an ID into its fields.
    Decode { id: u64 },
}
