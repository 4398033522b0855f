//! Tests of [`super`]: both indexes change together.

use super::*;
use crate::domain::Email;

fn setup() -> (Store, Id, Id, Id) {
    let s = Store::temporary().unwrap();
    let i = s
        .create_integration(crate::domain::integration::sample("ext-1"))
        .unwrap()
        .id;
    let email = |e: &str| Email {
        email: e.into(),
        verified: true,
    };
    let bob = s
        .create_user("Bob", &[email("bob@example.org")])
        .unwrap()
        .id;
    let ann = s
        .create_user("Ann", &[email("ann@example.org")])
        .unwrap()
        .id;
    (s, i, bob, ann)
}

fn link(integration: Id, jira_user: &str, user: Id) -> JiraUserLink {
    JiraUserLink {
        integration,
        jira_user: jira_user.into(),
        user,
    }
}

#[test]
fn a_link_is_found_by_either_side_case_insensitively() {
    let (s, i, bob, _) = setup();
    s.put_jira_user(&link(i, "Bob.Smith", bob)).unwrap();
    let l = s.jira_user(i, "bob.smith").unwrap().unwrap();
    assert_eq!((l.jira_user.as_str(), l.user), ("Bob.Smith", bob));
    assert_eq!(
        s.jira_user_of(i, bob).unwrap().unwrap().jira_user,
        "Bob.Smith"
    );
    let by_email = s.jira_user_for_email(i, "BOB@example.org").unwrap();
    assert_eq!(by_email.unwrap().jira_user, "Bob.Smith");
    assert!(s
        .jira_user_for_email(i, "ann@example.org")
        .unwrap()
        .is_none());
    assert_eq!(s.jira_users(i).unwrap().len(), 1);
    assert!(s.jira_user(i + 1, "bob.smith").unwrap().is_none());
}

#[test]
fn relinking_moves_the_user_side_and_delete_clears_both() {
    let (s, i, bob, ann) = setup();
    s.put_jira_user(&link(i, "shared", bob)).unwrap();
    s.put_jira_user(&link(i, "SHARED", ann)).unwrap();
    assert_eq!(s.jira_users(i).unwrap().len(), 1);
    assert!(
        s.jira_user_of(i, bob).unwrap().is_none(),
        "bob's side moved"
    );
    assert_eq!(s.jira_user_of(i, ann).unwrap().unwrap().user, ann);
    s.delete_jira_user(i, "Shared").unwrap();
    assert!(s.jira_user(i, "shared").unwrap().is_none());
    assert!(s.jira_user_of(i, ann).unwrap().is_none());
    assert!(matches!(
        s.delete_jira_user(i, "shared"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn unknown_integration_or_user_is_not_found_and_writes_nothing() {
    let (s, i, bob, _) = setup();
    assert!(matches!(
        s.put_jira_user(&link(i + 9, "x", bob)),
        Err(StoreError::NotFound(m)) if m.contains("integration")
    ));
    assert!(matches!(
        s.put_jira_user(&link(i, "x", 999_999)),
        Err(StoreError::NotFound(m)) if m.contains("user 999999")
    ));
    assert!(s.jira_users(i).unwrap().is_empty());
}
