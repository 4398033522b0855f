//! RFC 5849 OAuth 1.0a with RSA-SHA1. Filled in by the Jira connect work (issue 4).
