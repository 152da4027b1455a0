//! Owners: the organization's base permission, teams and their grants, direct collaborators, and the
//! effective permission GitHub computes from them.

mod common;

use common::{ALICE, BOB, BOT, CAROL, MALLORY, api, generate, get_json, start, start_with};
use reqwest::Method;
use serde_json::{Value, json};

async fn permission(sim: &github_sim::RunningSim, repo: &str, login: &str) -> (String, String) {
    let body = get_json(sim, &format!("/repos/acme/{repo}/collaborators/{login}/permission"), ALICE).await;
    (body["permission"].as_str().unwrap_or("?").into(), body["role_name"].as_str().unwrap_or("?").into())
}

async fn put(sim: &github_sim::RunningSim, path: &str, token: &str, body: Value) -> reqwest::Response {
    api(Method::PUT, sim, path, token).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_member_has_the_base_permission_until_a_team_grant_raises_it() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    assert_eq!(permission(&sim, "svc", "bob").await, ("read".into(), "read".into()));
    assert_eq!(permission(&sim, "svc", "alice").await, ("admin".into(), "admin".into()), "owners are admins");
    assert_eq!(permission(&sim, "svc", "mallory").await, ("none".into(), "none".into()));
    assert_eq!(permission(&sim, "svc", "carol").await, ("none".into(), "none".into()), "pending");

    // Read-only bob cannot write to the repository: a secret write is refused.
    let key = api(Method::GET, &sim, "/repos/acme/svc/actions/secrets", BOB).send().await.unwrap();
    assert_eq!(key.status(), 403, "bob with read cannot use the repository's secrets");

    let grant = "/orgs/acme/teams/payments/repos/acme/svc";
    assert_eq!(put(&sim, grant, BOT, json!({"permission": "maintain"})).await.status(), 204);
    assert_eq!(permission(&sim, "svc", "bob").await, ("write".into(), "maintain".into()));
    let teams = get_json(&sim, "/repos/acme/svc/teams", BOT).await;
    assert_eq!(teams.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (teams[0]["slug"].as_str(), teams[0]["permission"].as_str()),
        (Some("payments"), Some("maintain"))
    );

    // The repository as bob sees it says so too.
    let repo = get_json(&sim, "/repos/acme/svc", BOB).await;
    assert_eq!(
        repo["permissions"],
        json!({"admin": false, "maintain": true, "push": true, "triage": true, "pull": true})
    );

    // A direct grant below the team's changes nothing; the higher one wins.
    assert_eq!(
        put(&sim, "/repos/acme/svc/collaborators/bob", BOT, json!({"permission": "triage"})).await.status(),
        204
    );
    assert_eq!(permission(&sim, "svc", "bob").await.1, "maintain");
    let removed = api(Method::DELETE, &sim, grant, BOT).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(permission(&sim, "svc", "bob").await, ("read".into(), "triage".into()));
    let check = api(Method::GET, &sim, grant, BOT).send().await.unwrap();
    assert_eq!(check.status(), 404, "the team no longer has the repository");
}

#[tokio::test]
async fn the_base_permission_comes_from_the_seed() {
    let sim = start_with(|c| c.seed.orgs[0].default_repository_permission = "write".into()).await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    assert_eq!(permission(&sim, "svc", "bob").await, ("write".into(), "write".into()));
    let sim = start_with(|c| c.seed.orgs[0].default_repository_permission = "none".into()).await;
    let template = generate(&sim, BOT, "service-template", "svc").await;
    assert_eq!(template.status(), 404, "with no base permission the bot cannot see the private template");
    assert_eq!(generate(&sim, ALICE, "service-template", "svc").await.status(), 201);
    assert_eq!(permission(&sim, "svc", "bob").await.0, "none");
    let hidden = api(Method::GET, &sim, "/repos/acme/svc", BOB).send().await.unwrap();
    assert_eq!(hidden.status(), 404, "no base permission, no grant: the private repository is invisible");
}

#[tokio::test]
async fn teams_show_their_members_and_roles() {
    let sim = start().await;
    let teams = get_json(&sim, "/orgs/acme/teams", BOB).await;
    let slugs: Vec<&str> = teams.as_array().unwrap().iter().filter_map(|t| t["slug"].as_str()).collect();
    assert_eq!(slugs, ["payments", "platform"]);
    let payments = get_json(&sim, "/orgs/acme/teams/payments", BOB).await;
    assert_eq!(
        (payments["members_count"].as_u64(), payments["organization"]["login"].as_str()),
        (Some(1), Some("acme"))
    );
    let bob = get_json(&sim, "/orgs/acme/teams/payments/memberships/bob", ALICE).await;
    assert_eq!((bob["role"].as_str(), bob["state"].as_str()), (Some("member"), Some("active")));
    let alice = get_json(&sim, "/orgs/acme/teams/platform/memberships/alice", BOB).await;
    assert_eq!(alice["role"], "maintainer");
    let not_member =
        api(Method::GET, &sim, "/orgs/acme/teams/payments/memberships/alice", BOB).send().await.unwrap();
    assert_eq!(not_member.status(), 404, "an org owner is not a member of every team");
    let outsider = api(Method::GET, &sim, "/orgs/acme/teams", MALLORY).send().await.unwrap();
    assert_eq!(outsider.status(), 403);
    let pending = api(Method::GET, &sim, "/orgs/acme/teams/payments", CAROL).send().await.unwrap();
    assert_eq!(pending.status(), 404, "a pending member does not see teams");
}

#[tokio::test]
async fn the_plan_and_base_permission_show_to_owners_with_admin_org() {
    let sim = start_with(|c| c.seed.orgs[0].plan = "free".into()).await;
    let owner = common::oauth_token(&sim, "alice", "admin:org").await;
    let org = get_json(&sim, "/orgs/acme", &owner).await;
    assert_eq!(
        (org["plan"]["name"].as_str(), org["default_repository_permission"].as_str()),
        (Some("free"), Some("read"))
    );
    let without_scope = get_json(&sim, "/orgs/acme", ALICE).await;
    assert!(without_scope.get("plan").is_none(), "read:org is not enough: {without_scope}");
    let member = common::oauth_token(&sim, "bob", "admin:org").await;
    assert!(get_json(&sim, "/orgs/acme", &member).await.get("plan").is_none(), "members never see it");
}

#[tokio::test]
async fn an_outsider_gets_an_invitation_not_access() {
    let sim = start().await;
    assert_eq!(generate(&sim, BOT, "service-template", "svc").await.status(), 201);
    let response =
        put(&sim, "/repos/acme/svc/collaborators/mallory", BOT, json!({"permission": "push"})).await;
    assert_eq!(response.status(), 201);
    let invitation: Value = response.json().await.unwrap();
    assert_eq!(
        (invitation["invitee"]["login"].as_str(), invitation["permissions"].as_str()),
        (Some("mallory"), Some("write"))
    );
    assert_eq!(permission(&sim, "svc", "mallory").await.0, "none", "until accepted");
    let bad = put(&sim, "/repos/acme/svc/collaborators/bob", BOT, json!({"permission": "owner"})).await;
    assert_eq!(bad.status(), 422);
    assert_eq!(permission(&sim, "svc", "bob").await.0, "read", "a refused grant changes nothing");
    let listed = get_json(&sim, "/repos/acme/svc/collaborators?affiliation=outside", BOT).await;
    assert_eq!(listed, json!([]), "an invitee is not a collaborator");
}
