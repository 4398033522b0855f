use super::*;
use crate::store::Store;
use rand::rngs::StdRng;
use rand::SeedableRng;

struct W {
    s: Store,
    org: Id,
    other_org: Id,
    team: Id,
    foreign_team: Id,
}

fn w() -> W {
    let s = Store::temporary().unwrap();
    let org = s.create_org("acme", "Acme").unwrap().id;
    let other_org = s.create_org("other", "Other").unwrap().id;
    let team = s.create_team(org, "core", "Core").unwrap().id;
    let foreign_team = s.create_team(other_org, "core", "Core").unwrap().id;
    W {
        s,
        org,
        other_org,
        team,
        foreign_team,
    }
}

fn req(org: Id, name: &str, slug: Option<&str>, teams: Vec<Id>) -> CreateProject {
    CreateProject {
        org,
        name: name.into(),
        slug: slug.map(String::from),
        teams,
    }
}

fn ids_cfg() -> IdsConfig {
    IdsConfig::default()
}

/// [`create_project`] on a current-thread runtime, with a synchronous ID
/// source (the actor's is the `IdActor`).
fn run_create(
    s: &Store,
    cfg: &IdsConfig,
    r: CreateProject,
    mut next: impl FnMut() -> Result<Id, Error>,
    now: i64,
) -> Result<Project, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(create_project(
        s.clone(),
        cfg.clone(),
        r,
        StdRng::seed_from_u64(1),
        move || std::future::ready(next()),
        now,
    ))
}

/// Create with an ID source counting up from `start`.
fn create(w: &W, r: CreateProject, next: &mut u64) -> Result<Project, Error> {
    run_create(
        &w.s,
        &ids_cfg(),
        r,
        || {
            *next += 1;
            Ok(*next)
        },
        1_000,
    )
}

#[test]
fn saves_with_derived_slug_teams_and_id() {
    let w = w();
    let mut n = 1_000_000;
    let p = create(
        &w,
        req(w.org, "My Backend", None, vec![w.team, w.team]),
        &mut n,
    )
    .unwrap();
    assert_eq!(p.slug, "my-backend");
    assert_eq!(p.id, 1_000_001);
    assert_eq!(p.teams, vec![w.team], "duplicates dropped");
    assert_eq!(p.date_added, 1_000);
    assert_eq!(w.s.get_project(p.id).unwrap().unwrap(), p);
    // Same name again: a suffixed slug.
    let p2 = create(&w, req(w.org, "my backend", None, vec![]), &mut n).unwrap();
    assert!(p2.slug.starts_with("my-backend-"), "{}", p2.slug);
    assert_eq!(p2.slug.len(), "my-backend-".len() + 2);
    // Same slug in another organization is fine.
    let p3 = create(&w, req(w.other_org, "My Backend", None, vec![]), &mut n).unwrap();
    assert_eq!(p3.slug, "my-backend");
}

#[test]
fn unknown_org_is_not_found() {
    let w = w();
    let mut n = 0;
    assert!(matches!(
        create(&w, req(999, "x", None, vec![]), &mut n),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn teams_must_exist_and_belong_to_the_org() {
    let w = w();
    let mut n = 0;
    assert!(matches!(
        create(&w, req(w.org, "x", None, vec![w.team, 999]), &mut n),
        Err(Error::NotFound(m)) if m.contains("999")
    ));
    assert!(matches!(
        create(&w, req(w.org, "x", None, vec![w.foreign_team]), &mut n),
        Err(Error::BadRequest(m)) if m.contains("does not belong")
    ));
    assert_eq!(w.s.list_projects(None).unwrap().len(), 0);
}

#[test]
fn explicit_slug_is_validated_and_unique_case_insensitively() {
    let w = w();
    let mut n = 0;
    for bad in ["Caps", "123", "settings", "a b", ""] {
        assert!(
            matches!(
                create(&w, req(w.org, "x", Some(bad), vec![]), &mut n),
                Err(Error::BadRequest(_))
            ),
            "{bad}"
        );
    }
    create(&w, req(w.org, "x", Some("web"), vec![]), &mut n).unwrap();
    assert!(matches!(
        create(&w, req(w.org, "y", Some("web"), vec![]), &mut n),
        Err(Error::Conflict(_))
    ));
    // The derived slug of "WEB" is `web`, taken: it gets a suffix.
    let p = create(&w, req(w.org, "WEB", None, vec![]), &mut n).unwrap();
    assert!(p.slug.starts_with("web-"));
}

#[test]
fn used_ids_are_retried_then_409() {
    let w = w();
    let mut n = 0;
    let first = create(&w, req(w.org, "a", None, vec![]), &mut n).unwrap();
    // An ID source that keeps answering the used ID, then a fresh one.
    let mut calls = 0;
    let p = run_create(
        &w.s,
        &ids_cfg(),
        req(w.org, "b", None, vec![]),
        || {
            calls += 1;
            Ok(if calls <= 5 { first.id } else { 77 })
        },
        0,
    )
    .unwrap();
    assert_eq!(
        (p.id, calls),
        (77, 6),
        "max_retries = 5 retries after the first try"
    );

    let mut calls = 0;
    let err = run_create(
        &w.s,
        &ids_cfg(),
        req(w.org, "c", None, vec![]),
        || {
            calls += 1;
            Ok(first.id)
        },
        0,
    )
    .unwrap_err();
    assert_eq!(calls, 6);
    match err {
        Error::Conflict(m) => assert_eq!(m, MAX_ID_RETRIES_MESSAGE),
        e => panic!("{e}"),
    }
    assert_eq!(
        MAX_ID_RETRIES_MESSAGE,
        "Max allowed ID retry reached. Please try again in a second"
    );
    assert!(w.s.list_projects(Some(w.org)).unwrap().len() == 2);
}

#[test]
fn sequential_ids_without_snowflake() {
    let w = w();
    let cfg = IdsConfig {
        use_snowflake: false,
        ..IdsConfig::default()
    };
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let p = run_create(
            &w.s,
            &cfg,
            req(w.org, name, None, vec![]),
            || panic!("no snowflake"),
            0,
        )
        .unwrap();
        ids.push(p.id);
    }
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn id_source_errors_propagate() {
    let w = w();
    let r = run_create(
        &w.s,
        &ids_cfg(),
        req(w.org, "a", None, vec![]),
        || Err(Error::Unavailable("down".into())),
        0,
    );
    assert!(matches!(r, Err(Error::Unavailable(_))));
    assert_eq!(w.s.list_projects(None).unwrap().len(), 0);
}

#[test]
fn actor_creates_with_snowflake_ids_and_deletes() {
    use crate::testing::deps;
    let store = Store::temporary().unwrap();
    let org = store.create_org("o", "O").unwrap().id;
    let d = deps(crate::config::Config::default(), store.clone());
    let (a, b, counts, after) = actix::System::new().block_on(async move {
        let ids = crate::actors::id::start(&d);
        let cache = crate::actors::cache::start(&d).1;
        let addr = start(&d, ids, cache);
        let a = addr
            .send(req(org, "Alpha", None, vec![]))
            .await
            .unwrap()
            .unwrap();
        let b = addr
            .send(req(org, "Alpha", None, vec![]))
            .await
            .unwrap()
            .unwrap();
        let counts = addr.send(DeleteProject(a.id)).await.unwrap().unwrap();
        let after = addr.send(DeleteProject(a.id)).await.unwrap();
        (a, b, counts, after)
    });
    assert!(b.id > a.id);
    assert!(a.id > 1 << 48, "a snowflake ID: {}", a.id);
    assert_eq!(crate::domain::snowflake::decode(a.id).unwrap().version, 1);
    assert_eq!(counts, DeleteCounts::default());
    assert!(matches!(after, Err(Error::NotFound(_))));
    assert!(store.get_project(a.id).unwrap().is_none());
    assert!(store.get_project(b.id).unwrap().is_some());
}

#[test]
fn start_resumes_unfinished_deletes() {
    use crate::testing::deps;
    let store = Store::temporary().unwrap();
    let org = store.create_org("o", "O").unwrap().id;
    let p = Project {
        id: 5,
        org,
        slug: "p".into(),
        name: "P".into(),
        teams: vec![],
        date_added: 0,
    };
    store.insert_project(&p).unwrap();
    store.create_group(5, "g", 0).unwrap();
    store.begin_project_delete(5).unwrap();
    let d = deps(crate::config::Config::default(), store.clone());
    actix::System::new().block_on(async move {
        let ids = crate::actors::id::start(&d);
        let cache = crate::actors::cache::start(&d).1;
        let _ = start(&d, ids, cache);
    });
    assert_eq!(store.pending_project_deletes().unwrap(), Vec::<Id>::new());
    assert!(!store.project_id_used(5).unwrap());
    assert_eq!(store.project_group_ids(5).unwrap(), Vec::<Id>::new());
}
