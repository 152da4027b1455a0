//! `/user`, org membership, bad tokens and rate-limit headers.

mod common;

use common::{ALICE, BOB, CAROL, MALLORY, api, octo, start};
use octocrab::models::orgs::OrgMembershipState;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn the_current_user_deserializes_as_octocrab_author() {
    let sim = start().await;
    let user = octo(&sim, BOB).current().user().await.unwrap();
    assert_eq!(user.login, "bob");
    assert_eq!(user.id.0, 2002);
    assert_eq!(user.r#type, "User");
    assert_eq!(user.html_url.as_str(), format!("{}/bob", sim.url()));
    let avatar = common::http().get(user.avatar_url.as_str()).send().await.unwrap();
    assert_eq!(avatar.status(), 200);
    assert_eq!(avatar.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn a_bad_token_gets_401_bad_credentials() {
    let sim = start().await;
    let response = api(Method::GET, &sim, "/user", "ghp_not_a_token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["status"], "401", "status is a string, like GitHub's basic-error");
    assert!(body["documentation_url"].is_string());

    let error = octo(&sim, "ghp_not_a_token").current().user().await.unwrap_err();
    match error {
        octocrab::Error::GitHub { source, .. } => {
            assert_eq!(source.status_code, 401);
            assert_eq!(source.message, "Bad credentials");
        }
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

#[tokio::test]
async fn no_token_on_user_is_401_requires_authentication() {
    let sim = start().await;
    let response = common::http().get(format!("{}/user", sim.url())).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-ratelimit-limit"], "60");
}

#[tokio::test]
async fn membership_is_active_for_members_pending_for_invitees_and_404_for_outsiders() {
    let sim = start().await;
    let alice = octo(&sim, ALICE).current().get_org_membership("acme").await.unwrap();
    assert_eq!((alice.role.as_str(), alice.state), ("admin", OrgMembershipState::Active));
    assert_eq!(alice.organization.id.0, 1000);
    assert_eq!(alice.user.login, "alice");

    let bob = octo(&sim, BOB).current().get_org_membership("acme").await.unwrap();
    assert_eq!((bob.role.as_str(), bob.state), ("member", OrgMembershipState::Active));

    let carol = octo(&sim, CAROL).current().get_org_membership("acme").await.unwrap();
    assert_eq!(carol.state, OrgMembershipState::Pending);

    let response = api(Method::GET, &sim, "/user/memberships/orgs/acme", MALLORY).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Not Found");
}

#[tokio::test]
async fn membership_needs_an_org_or_repo_scope() {
    let sim = start().await;
    let token = common::oauth_token(&sim, "alice", "gist").await;
    let response = api(Method::GET, &sim, "/user/memberships/orgs/acme", &token).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let orgs = api(Method::GET, &sim, "/user/orgs", &token).send().await.unwrap();
    assert_eq!(orgs.status(), 403);
}

#[tokio::test]
async fn every_api_response_carries_rate_limit_headers_and_counts_per_user() {
    let sim = start().await;
    let first = api(Method::GET, &sim, "/user", ALICE).send().await.unwrap();
    let second = api(Method::GET, &sim, "/repos/acme/nope", ALICE).send().await.unwrap();
    assert_eq!(second.status(), 404);
    for (response, used) in [(&first, "1"), (&second, "2")] {
        let h = response.headers();
        assert_eq!(h["x-ratelimit-limit"], "5000");
        assert_eq!(h["x-ratelimit-used"], used);
        assert_eq!(h["x-ratelimit-resource"], "core");
        let reset: i64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > time::OffsetDateTime::now_utc().unix_timestamp());
    }
    assert_eq!(second.headers()["x-ratelimit-remaining"], "4998");
    assert_eq!(first.headers()["x-oauth-scopes"], "repo, read:org, delete_repo");
}

#[tokio::test]
async fn an_exhausted_primary_rate_limit_is_403_with_remaining_zero_and_a_reset() {
    let sim = start().await;
    sim.sim().set_rate_limit_remaining("bob", 1);
    let last = api(Method::GET, &sim, "/user", BOB).send().await.unwrap();
    assert_eq!(last.status(), 200);
    assert_eq!(last.headers()["x-ratelimit-remaining"], "0");
    let refused = api(Method::GET, &sim, "/user", BOB).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("x-ratelimit-reset"));
    let body: Value = refused.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("API rate limit exceeded for user ID 2002."));
    let alice = api(Method::GET, &sim, "/user", ALICE).send().await.unwrap();
    assert_eq!(alice.status(), 200, "budgets are per user");
}
