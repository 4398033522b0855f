//! `synclinkctl`: every admin route as a subcommand. Tables for people,
//! `--json` for scripts, the server's message and a non-zero exit on error.

mod args;
mod client;
mod reconcile;
mod table;

pub use args::Cli;
use args::*;

pub use client::{Client, CtlError};

use clap::Parser;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// How to print an answer for people.
enum View {
    Table(&'static [(&'static str, &'static str)]),
    Object,
    /// Nothing to print but this line (204 answers).
    Done(String),
}

const ORG_COLS: &[(&str, &str)] = &[("id", "id"), ("slug", "slug"), ("name", "name")];
const PROJECT_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("org", "org"),
    ("slug", "slug"),
    ("name", "name"),
    ("teams", "teams"),
];
const ACTIVITY_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("type", "type"),
    ("user", "user"),
    ("assignee", "data.assignee"),
    ("email", "data.assigneeEmail"),
    ("date", "date_added"),
];
const INTEGRATION_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("external id", "external_id"),
    ("base url", "base_url"),
    ("status", "status"),
    ("last error", "last_error"),
];
const LINK_COLS: &[(&str, &str)] = &[
    ("group", "group"),
    ("integration", "integration"),
    ("key", "key"),
];
const OUTBOX_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("integration", "integration"),
    ("key", "key"),
    ("kind", "kind"),
    ("state", "state"),
    ("attempts", "attempts"),
    ("next try", "next_try"),
    ("last error", "last_error"),
];
const INSTALLATION_COLS: &[(&str, &str)] = &[
    ("org", "org"),
    ("inbound assignee", "sync_inbound_assignee"),
    ("outbound assignee", "sync_outbound_assignee"),
    ("inbound status", "sync_inbound_status"),
    ("outbound status", "sync_outbound_status"),
];
const STATUS_COLS: &[(&str, &str)] = &[("id", "id"), ("name", "name"), ("category", "category")];
const MAPPING_COLS: &[(&str, &str)] = &[
    ("jira_project", "jira_project"),
    ("on_resolve", "on_resolve"),
    ("on_unresolve", "on_unresolve"),
];
const JIRA_USER_COLS: &[(&str, &str)] = &[("jira_user", "jira_user"), ("user", "user")];
const NOTIF_COLS: &[(&str, &str)] = &[("user", "user"), ("type", "type"), ("value", "value")];
const DELIVERY_COLS: &[(&str, &str)] = &[
    ("id", "id"),
    ("received", "received"),
    ("integration", "integration"),
    ("key", "key"),
    ("changelog", "changelog_id"),
    ("outcome", "outcome"),
    ("groups", "groups"),
    ("reason", "reason"),
];

fn read_file(p: &PathBuf) -> Result<String, CtlError> {
    std::fs::read_to_string(p)
        .map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", p.display())))
}

/// Percent-encode a path segment or query value.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The request a command makes: method, path, body, and how to show the answer.
fn request(cmd: Cmd) -> Result<(&'static str, String, Option<Value>, View), CtlError> {
    use View::*;
    Ok(match cmd {
        Cmd::Status => ("GET", "/v1/status".into(), None, Object),
        Cmd::Org(OrgCmd::Create { slug, name }) => (
            "POST",
            "/v1/orgs".into(),
            Some(json!({"slug": slug, "name": name})),
            Object,
        ),
        Cmd::Org(OrgCmd::List) => ("GET", "/v1/orgs".into(), None, Table(ORG_COLS)),
        Cmd::User(UserCmd::Create {
            name,
            emails,
            unverified,
        }) => {
            let mut list: Vec<Value> = emails
                .iter()
                .map(|e| json!({"email": e, "verified": true}))
                .collect();
            list.extend(
                unverified
                    .iter()
                    .map(|e| json!({"email": e, "verified": false})),
            );
            (
                "POST",
                "/v1/users".into(),
                Some(json!({"name": name, "emails": list})),
                Object,
            )
        }
        Cmd::User(UserCmd::Get { id }) => ("GET", format!("/v1/users/{id}"), None, Object),
        Cmd::Team(TeamCmd::Create { org, slug, name }) => (
            "POST",
            "/v1/teams".into(),
            Some(json!({"org": org, "slug": slug, "name": name})),
            Object,
        ),
        Cmd::Team(TeamCmd::AddMember { team, user }) => (
            "POST",
            format!("/v1/teams/{team}/members"),
            Some(json!({"user": user})),
            Done(format!("user {user} added to team {team}")),
        ),
        Cmd::Team(TeamCmd::RemoveMember { team, user }) => (
            "DELETE",
            format!("/v1/teams/{team}/members/{user}"),
            None,
            Done(format!("user {user} removed from team {team}")),
        ),
        Cmd::Project(ProjectCmd::Create {
            org,
            slug,
            teams,
            name,
        }) => {
            let mut body = json!({"org": org, "name": name, "teams": teams});
            if let Some(s) = slug {
                body["slug"] = json!(s);
            }
            ("POST", "/v1/projects".into(), Some(body), Object)
        }
        Cmd::Project(ProjectCmd::List { org }) => {
            let path = match org {
                Some(o) => format!("/v1/projects?org={o}"),
                None => "/v1/projects".into(),
            };
            ("GET", path, None, Table(PROJECT_COLS))
        }
        Cmd::Project(ProjectCmd::Get { id }) => ("GET", format!("/v1/projects/{id}"), None, Object),
        Cmd::Project(ProjectCmd::Delete { id }) => {
            ("DELETE", format!("/v1/projects/{id}"), None, Object)
        }
        Cmd::NotificationSettings(NotifCmd::Set {
            project,
            user,
            kind,
            value,
        }) => (
            "PUT",
            format!("/v1/projects/{project}/notification-settings/{user}"),
            Some(json!({"type": kind, "value": value})),
            Done("notification setting saved".into()),
        ),
        Cmd::NotificationSettings(NotifCmd::List { project }) => (
            "GET",
            format!("/v1/projects/{project}/notification-settings"),
            None,
            Table(NOTIF_COLS),
        ),
        Cmd::Group(GroupCmd::Create { project, title }) => (
            "POST",
            "/v1/groups".into(),
            Some(json!({"project": project, "title": title})),
            Object,
        ),
        Cmd::Group(GroupCmd::Get { id }) => ("GET", format!("/v1/groups/{id}"), None, Object),
        Cmd::Group(GroupCmd::Activity { id }) => (
            "GET",
            format!("/v1/groups/{id}/activity"),
            None,
            Table(ACTIVITY_COLS),
        ),
        Cmd::Group(GroupCmd::Assign { id, user }) => (
            "PUT",
            format!("/v1/groups/{id}/assignee"),
            Some(json!({"user": user})),
            Object,
        ),
        Cmd::Group(GroupCmd::Deassign { id }) => {
            ("DELETE", format!("/v1/groups/{id}/assignee"), None, Object)
        }
        Cmd::Group(GroupCmd::Resolve { id }) => (
            "PUT",
            format!("/v1/groups/{id}/status"),
            Some(json!({"status": "resolved"})),
            Object,
        ),
        Cmd::Group(GroupCmd::Unresolve { id }) => (
            "PUT",
            format!("/v1/groups/{id}/status"),
            Some(json!({"status": "unresolved"})),
            Object,
        ),
        Cmd::Group(GroupCmd::Links { id }) => (
            "GET",
            format!("/v1/groups/{id}/links"),
            None,
            Table(LINK_COLS),
        ),
        Cmd::Integration(IntegrationCmd::Connect {
            base_url,
            consumer_key,
            private_key,
            name,
            oob,
            no_verify_ssl,
        }) => {
            let mut body = json!({
                "base_url": base_url,
                "consumer_key": consumer_key,
                "private_key_pem": read_file(&private_key)?,
                "verify_ssl": !no_verify_ssl,
                "callback": if oob { "oob" } else { "web" },
            });
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            ("POST", "/v1/integrations".into(), Some(body), Object)
        }
        Cmd::Integration(IntegrationCmd::Verifier { id, verifier }) => (
            "POST",
            format!("/v1/integrations/{id}/verifier"),
            Some(json!({"verifier": verifier})),
            Object,
        ),
        Cmd::Integration(IntegrationCmd::Import {
            base_url,
            consumer_key,
            webhook_secret,
            external_id,
            private_key,
            access_token,
            access_token_secret,
        }) => {
            let mut body = json!({
                "base_url": base_url,
                "consumer_key": consumer_key,
                "webhook_secret": webhook_secret,
            });
            if let Some(x) = external_id {
                body["external_id"] = json!(x);
            }
            if let Some(p) = private_key {
                body["private_key_pem"] = json!(read_file(&p)?);
            }
            if let Some(x) = access_token {
                body["access_token"] = json!(x);
            }
            if let Some(x) = access_token_secret {
                body["access_token_secret"] = json!(x);
            }
            ("POST", "/v1/integrations/import".into(), Some(body), Object)
        }
        Cmd::Integration(IntegrationCmd::List) => (
            "GET",
            "/v1/integrations".into(),
            None,
            Table(INTEGRATION_COLS),
        ),
        Cmd::Integration(IntegrationCmd::Get { id }) => {
            ("GET", format!("/v1/integrations/{id}"), None, Object)
        }
        Cmd::Integration(IntegrationCmd::WebhookUrl { id }) => (
            "GET",
            format!("/v1/integrations/{id}/webhook-url"),
            None,
            Object,
        ),
        Cmd::Integration(IntegrationCmd::RegisterWebhook { id }) => (
            "POST",
            format!("/v1/integrations/{id}/webhook"),
            None,
            Object,
        ),
        Cmd::Integration(IntegrationCmd::Install {
            id,
            org,
            sync_inbound_assignee,
            sync_outbound_assignee,
            sync_inbound_status,
            sync_outbound_status,
        }) => {
            let mut body = json!({ "org": org });
            for (k, v) in [
                ("sync_inbound_assignee", sync_inbound_assignee),
                ("sync_outbound_assignee", sync_outbound_assignee),
                ("sync_inbound_status", sync_inbound_status),
                ("sync_outbound_status", sync_outbound_status),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            (
                "POST",
                format!("/v1/integrations/{id}/installations"),
                Some(body),
                Object,
            )
        }
        Cmd::Integration(IntegrationCmd::Installations { id }) => (
            "GET",
            format!("/v1/integrations/{id}/installations"),
            None,
            Table(INSTALLATION_COLS),
        ),
        Cmd::Integration(IntegrationCmd::Statuses { id, refresh }) => (
            if refresh { "POST" } else { "GET" },
            if refresh {
                format!("/v1/integrations/{id}/statuses/refresh")
            } else {
                format!("/v1/integrations/{id}/statuses")
            },
            None,
            Table(STATUS_COLS),
        ),
        Cmd::Integration(IntegrationCmd::MapStatus {
            id,
            jira_project,
            on_resolve,
            on_unresolve,
        }) => (
            "PUT",
            format!(
                "/v1/integrations/{id}/status-mappings/{}",
                enc(&jira_project)
            ),
            Some(json!({"on_resolve": on_resolve, "on_unresolve": on_unresolve})),
            Object,
        ),
        Cmd::Integration(IntegrationCmd::Mappings { id }) => (
            "GET",
            format!("/v1/integrations/{id}/status-mappings"),
            None,
            Table(MAPPING_COLS),
        ),
        Cmd::Integration(IntegrationCmd::UnmapStatus { id, jira_project }) => (
            "DELETE",
            format!(
                "/v1/integrations/{id}/status-mappings/{}",
                enc(&jira_project)
            ),
            None,
            Done(format!("status mapping of {jira_project} removed")),
        ),
        Cmd::Integration(IntegrationCmd::JiraUsers { id }) => (
            "GET",
            format!("/v1/integrations/{id}/jira-users"),
            None,
            Table(JIRA_USER_COLS),
        ),
        Cmd::Integration(IntegrationCmd::LinkJiraUser {
            id,
            jira_user,
            user,
        }) => (
            "PUT",
            format!("/v1/integrations/{id}/jira-users/{}", enc(&jira_user)),
            Some(json!({ "user": user })),
            Object,
        ),
        Cmd::Integration(IntegrationCmd::UnlinkJiraUser { id, jira_user }) => (
            "DELETE",
            format!("/v1/integrations/{id}/jira-users/{}", enc(&jira_user)),
            None,
            Done(format!("Jira user {jira_user} unlinked")),
        ),
        Cmd::Integration(IntegrationCmd::Reconcile { id, since, .. }) => (
            "POST",
            format!("/v1/integrations/{id}/reconcile"),
            Some(match since {
                Some(t) => json!({ "since": t }),
                None => json!({}),
            }),
            Object,
        ),
        Cmd::Integration(IntegrationCmd::ReconcileStatus { id }) => (
            "GET",
            format!("/v1/integrations/{id}/reconcile"),
            None,
            Object,
        ),
        Cmd::Link(LinkCmd::Create {
            group,
            integration,
            key,
        }) => (
            "POST",
            "/v1/links".into(),
            Some(json!({"group": group, "integration": integration, "key": key})),
            Done(format!("group {group} linked to {key}")),
        ),
        Cmd::Link(LinkCmd::List { group }) => (
            "GET",
            format!("/v1/groups/{group}/links"),
            None,
            Table(LINK_COLS),
        ),
        Cmd::Link(LinkCmd::Delete {
            group,
            integration,
            key,
        }) => (
            "DELETE",
            format!("/v1/groups/{group}/links/{integration}/{}", enc(&key)),
            None,
            Done(format!("link of group {group} to {key} removed")),
        ),
        Cmd::Cache(CacheCmd::Stats) => ("GET", "/v1/cache".into(), None, Object),
        Cmd::Cache(CacheCmd::Group { id }) => {
            ("GET", format!("/v1/cache/groups/{id}"), None, Object)
        }
        Cmd::Deliveries(a) => {
            let mut q = Vec::new();
            if let Some(i) = a.integration {
                q.push(format!("integration={i}"));
            }
            if let Some(k) = a.key {
                q.push(format!("key={}", enc(&k)));
            }
            if let Some(o) = a.outcome {
                q.push(format!("outcome={}", enc(&o)));
            }
            if let Some(l) = a.limit {
                q.push(format!("limit={l}"));
            }
            let path = if q.is_empty() {
                "/v1/deliveries".to_string()
            } else {
                format!("/v1/deliveries?{}", q.join("&"))
            };
            ("GET", path, None, Table(DELIVERY_COLS))
        }
        Cmd::Outbox(OutboxArgs {
            cmd: Some(OutboxCmd::Retry { id }),
            ..
        }) => ("POST", format!("/v1/outbox/{id}/retry"), None, Object),
        Cmd::Outbox(OutboxArgs {
            cmd: Some(OutboxCmd::Drop { id }),
            ..
        }) => ("DELETE", format!("/v1/outbox/{id}"), None, Object),
        Cmd::Outbox(a) => {
            let mut q = Vec::new();
            if let Some(i) = a.integration {
                q.push(format!("integration={i}"));
            }
            if let Some(s) = a.state {
                q.push(format!("state={}", enc(&s)));
            }
            if let Some(l) = a.limit {
                q.push(format!("limit={l}"));
            }
            let path = if q.is_empty() {
                "/v1/outbox".to_string()
            } else {
                format!("/v1/outbox?{}", q.join("&"))
            };
            ("GET", path, None, Table(OUTBOX_COLS))
        }
        Cmd::Id(IdCmd::New) => ("POST", "/v1/ids".into(), None, Object),
        Cmd::Id(IdCmd::Decode { id }) => ("GET", format!("/v1/ids/{id}"), None, Object),
    })
}

/// Lists may come bare or wrapped in an object (`{"deliveries": [...]}`).
fn rows(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m
            .values()
            .find_map(|x| x.as_array().cloned())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Where the packaged daemon listens (`/etc/synclink/config.toml`).
pub const PACKAGED_SOCKET: &str = "/run/synclink/synclink.sock";

/// The admin socket when neither `--socket` nor `SYNCLINK_SOCKET` names
/// one: the packaged daemon's when it exists (or when its directory is
/// closed to this user, who is then told what to do), else
/// `./synclink.sock` (the daemon's default, next to where it runs).
fn default_socket() -> PathBuf {
    let packaged = PathBuf::from(PACKAGED_SOCKET);
    match std::fs::metadata(&packaged) {
        Ok(_) => packaged,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => packaged,
        Err(_) => PathBuf::from("./synclink.sock"),
    }
}

/// Run one command; returns what to print on standard output.
pub fn run(cli: Cli) -> Result<String, CtlError> {
    let json_out = cli.json;
    let socket = cli.socket.clone().unwrap_or_else(default_socket);
    let client = Client::new(&socket)?;
    let wait = match &cli.cmd {
        Cmd::Integration(IntegrationCmd::Reconcile { id, wait: true, .. }) => Some(*id),
        _ => None,
    };
    let (method, path, body, view) = request(cli.cmd)?;
    let answer = client.call(method, &path, body)?;
    if let Some(id) = wait {
        return reconcile::wait(&client, id, &answer, json_out);
    }
    if json_out {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        ));
    }
    Ok(match view {
        View::Table(cols) => table::table(&rows(&answer), cols),
        View::Object => table::object(&answer),
        View::Done(line) => format!("{line}\n"),
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let CtlError::Failed { output, .. } = &e {
                print!("{output}");
            }
            eprintln!("synclinkctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
