//! The Jira HTTP client (reqwest). Filled in by the Jira connect work (issue 4).
