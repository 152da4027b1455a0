//! Extra push roles: another branch, release tags, a deployment environment. Each is its own IAM role
//! whose trust admits only its runs, attached to the service's push policy, its ARN where those runs
//! read it. github-sim's runner mints each run's OIDC token and evaluates the trust as STS would, so
//! "assumes its own role and pushes" and "denied by the trust" are what the runs themselves show.

use std::time::Duration;

use github_sim::{Seed, SeedAwsPush, SeedWorkflow, SimConfig};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use shipyard::domain::ServiceStatus;
use sqlx::PgPool;

use crate::common::{
    app::{TestApp, unique_name},
    aws_faults::moto_sdk_config,
};

const BOB: &str = "ghp_sandbox_bob";
const ALICE: &str = "ghp_sandbox_alice";
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A workflow that pushes with the role in `role_secret`, run only when dispatched; `environment`
/// makes its job an environment's.
fn pushing(id: u64, file: &str, role_secret: &str, environment: Option<&str>) -> SeedWorkflow {
    SeedWorkflow {
        aws_push: Some(SeedAwsPush {
            role_secret: role_secret.into(),
            region_secret: "AWS_REGION".into(),
            repository_secret: "ECR_REPO_URL".into(),
        }),
        environment: environment.map(str::to_owned),
        permissions: Some(SeedWorkflow::oidc_permissions()),
        ..SeedWorkflow::new(
            id,
            file,
            file,
            &["workflow_dispatch"],
            &[role_secret, "AWS_REGION", "ECR_REPO_URL"],
        )
    }
}

/// The sandbox, with the service template also holding a release, a tag and a deploy workflow, and
/// a deploy workflow without the environment that reads a copy of the environment role's ARN.
async fn app_with_role_workflows(db: PgPool) -> TestApp {
    let mut seed = Seed::sandbox();
    let template = seed.repos.iter_mut().find(|r| r.name == "service-template").unwrap();
    template.workflows.extend([
        pushing(41, "release.yml", "GHA_BRANCH_RELEASE_ROLE_ARN", None),
        pushing(42, "tags.yml", "GHA_TAG_V_ROLE_ARN", None),
        pushing(43, "deploy.yml", "GHA_ENVIRONMENT_ROLE_ARN", Some("production")),
        pushing(44, "deploy-anywhere.yml", "COPIED_ENVIRONMENT_ROLE_ARN", None),
    ]);
    TestApp::spawn_with(db, SimConfig { seed, ..SimConfig::default() }, |_| {}).await
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let request = Client::new().request(method, app.at(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.header("content-type", "application/json").body(body.to_string()),
        None => request,
    };
    request.send().await.unwrap()
}

async fn create(app: &TestApp, name: &str, extra: Value) -> Response {
    let mut body =
        json!({"name": name, "environment": "dev", "template": "acme/service-template", "team": "payments"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    call(app, Method::POST, "/api/v1/services", BOB, Some(body)).await
}

async fn roles(app: &TestApp, name: &str) -> Vec<Value> {
    let body: Value =
        call(app, Method::GET, &format!("/api/v1/services/{name}"), BOB, None).await.json().await.unwrap();
    body["roles"].as_array().unwrap().clone()
}

fn role<'a>(roles: &'a [Value], name: &str) -> &'a Value {
    roles.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no role {name} in {roles:?}"))
}

async fn add_role(app: &TestApp, name: &str, body: Value) -> Response {
    call(app, Method::POST, &format!("/api/v1/services/{name}/roles"), BOB, Some(body)).await
}

async fn ready(app: &TestApp, name: &str) {
    let status = app.settle(&app.reconciler(), name).await;
    if status != ServiceStatus::Ready {
        let errors: Vec<(String, Option<String>)> = sqlx::query_as(
            "select step, error from step join service using (service_id) where name = $1 and error is not null",
        )
        .bind(name)
        .fetch_all(&app.db)
        .await
        .unwrap();
        panic!("{name} is {status}, not ready: {errors:?}");
    }
}

/// Dispatches `file` on `git_ref` and waits for it; (conclusion, secrets the job saw, log).
async fn run(app: &TestApp, name: &str, file: &str, git_ref: &str) -> (String, Value, String) {
    let sim = app.sim();
    let id = sim.dispatch("acme", name, file, git_ref).unwrap_or_else(|| panic!("{file} on {git_ref}"));
    let done = sim.wait_for_run("acme", name, id, RUN_TIMEOUT).await.expect("the run exists");
    let log = sim.job_log("acme", name, id).unwrap_or_default();
    let secrets = serde_json::to_value(sim.job_secrets("acme", name, id).unwrap_or_default()).unwrap();
    (done.conclusion.unwrap_or_default(), secrets, log)
}

async fn images(name: &str) -> Vec<String> {
    let ecr = aws_sdk_ecr::Client::new(&moto_sdk_config(&Default::default()).await);
    let out = ecr.describe_images().repository_name(name).send().await.unwrap();
    out.image_details().iter().flat_map(|d| d.image_tags().iter().cloned()).collect()
}

/// The last parts of the IAM roles named for the service, sorted.
async fn service_roles_in_iam(name: &str) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(&moto_sdk_config(&Default::default()).await);
    let prefix = format!("gha.acme.{name}.dev.");
    let roles = iam.list_roles().into_paginator().items().send().try_collect().await.unwrap();
    let mut names: Vec<String> = roles
        .into_iter()
        .map(|r| r.role_name().to_owned())
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn iam_role_exists(app: &TestApp, role: &str) -> bool {
    app.aws.get_role(role).await.unwrap().is_some()
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn branch_tag_and_environment_roles_each_admit_only_their_own_runs(db: PgPool) {
    let app = app_with_role_workflows(db).await;
    let name = unique_name("roles");
    assert_eq!(create(&app, &name, json!({})).await.status(), StatusCode::ACCEPTED);
    ready(&app, &name).await;
    for body in
        [json!({"branch": "release"}), json!({"tag_pattern": "v*"}), json!({"environment": "production"})]
    {
        let response = add_role(&app, &name, body.clone()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{body}");
        let role: Value = response.json().await.unwrap();
        assert_eq!(role["status"], "creating", "{role}");
    }
    assert_eq!(app.status_of(&name).await, ServiceStatus::Provisioning, "the roles are being made");
    ready(&app, &name).await;

    let listed = roles(&app, &name).await;
    let names: Vec<&str> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main", "release", "tag-v", "env-production"]);
    let repo_id = app.sim().repo("acme", &name).unwrap().id;
    // Pinned on the ids: a rename of the repository or the organization keeps every trust.
    let prefix = format!("repo:*@1000/*@{repo_id}");
    for (role_name, kind, subject, secret) in [
        ("main", "branch", format!("{prefix}:ref:refs/heads/main"), "GHA_DEFAULT_ROLE_ARN"),
        ("release", "branch", format!("{prefix}:ref:refs/heads/release"), "GHA_BRANCH_RELEASE_ROLE_ARN"),
        ("tag-v", "tag", format!("{prefix}:ref:refs/tags/v*"), "GHA_TAG_V_ROLE_ARN"),
        (
            "env-production",
            "environment",
            format!("{prefix}:environment:production"),
            "GHA_ENVIRONMENT_ROLE_ARN",
        ),
    ] {
        let r = role(&listed, role_name);
        assert_eq!((r["kind"].as_str(), r["subject"].as_str()), (Some(kind), Some(subject.as_str())), "{r}");
        assert_eq!((r["secret"].as_str(), r["status"].as_str()), (Some(secret), Some("ready")), "{r}");
        assert!(r["arn"].as_str().unwrap().ends_with(&format!("/gha.acme.{name}.dev.{role_name}")), "{r}");
    }
    let arn = |role_name: &str| role(&listed, role_name)["arn"].as_str().unwrap().to_owned();

    // The tag role's pattern is matched with StringLike, aud and the repository id stay exact.
    let tag_role = app.aws.get_role(&format!("gha.acme.{name}.dev.tag-v")).await.unwrap().unwrap();
    let condition = &tag_role.trust_policy["Statement"][0]["Condition"];
    assert_eq!(
        condition["StringLike"]["token.actions.githubusercontent.com:sub"],
        json!(format!("{prefix}:ref:refs/tags/v*"))
    );
    assert_eq!(condition["StringEquals"]["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
    assert_eq!(
        condition["StringEquals"]["token.actions.githubusercontent.com:repository_id"],
        json!(repo_id.to_string())
    );
    // Every extra role is attached to the service's one push policy.
    let push_policy = format!("gha.acme.{name}.dev.main-ecr-push");
    for role_name in ["release", "tag-v", "env-production"] {
        let found = app.aws.get_role(&format!("gha.acme.{name}.dev.{role_name}")).await.unwrap().unwrap();
        assert_eq!(found.attached_policy_arns.len(), 1, "{role_name}");
        assert!(
            found.attached_policy_arns[0].ends_with(&push_policy),
            "{role_name}: {:?}",
            found.attached_policy_arns
        );
    }
    // The environment exists with its secret; branch and tag ARNs are repository secrets.
    let sim = app.sim();
    assert!(sim.environments("acme", &name).contains(&"production".to_owned()));
    let env_secrets = sim.environment_secrets("acme", &name, "production").unwrap();
    assert_eq!(env_secrets.get("GHA_ENVIRONMENT_ROLE_ARN"), Some(&arn("env-production")));
    let repo_secrets = sim.secrets("acme", &name);
    assert_eq!(repo_secrets.get("GHA_BRANCH_RELEASE_ROLE_ARN"), Some(&arn("release")));
    assert_eq!(repo_secrets.get("GHA_TAG_V_ROLE_ARN"), Some(&arn("tag-v")));
    assert!(!repo_secrets.contains_key("GHA_ENVIRONMENT_ROLE_ARN"), "only the environment's jobs see it");

    // These runs all build the commit main's first build pushed as `sha-<commit>`, which the kept repository
    // (step ecr_settings) holds immutable: ECR would refuse each of them at the push. What this test is about
    // is which runs may assume which role, so the repository's tags are made mutable for it.
    let ecr =
        aws_sdk_ecr::Client::new(&crate::common::aws_faults::moto_sdk_config(&Default::default()).await);
    ecr.put_image_tag_mutability()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    // Each run assumes its own role and pushes.
    sim.push_branch("acme", &name, "release");
    sim.push_branch("acme", &name, "other");
    sim.push_tag("acme", &name, "v1.2.0");
    sim.push_tag("acme", &name, "x1");
    for (file, git_ref, role_name, secret) in [
        ("release.yml", "release", "release", "GHA_BRANCH_RELEASE_ROLE_ARN"),
        ("tags.yml", "v1.2.0", "tag-v", "GHA_TAG_V_ROLE_ARN"),
        ("deploy.yml", "main", "env-production", "GHA_ENVIRONMENT_ROLE_ARN"),
    ] {
        let (conclusion, secrets, log) = run(&app, &name, file, git_ref).await;
        assert_eq!(conclusion, "success", "{file} on {git_ref}:\n{log}");
        assert_eq!(secrets[secret], json!(arn(role_name)), "{file} used its own role");
        assert!(log.contains("Authenticated as assumedRoleId"), "{log}");
    }
    let tags = images(&name).await;
    for tag in ["release", "v1.2.0"] {
        assert!(tags.contains(&tag.to_owned()), "an image tagged {tag}: {tags:?}");
    }

    // Another branch, a tag outside the pattern, a job outside the environment: denied by the trust.
    let copied = secrecy::SecretString::from(arn("env-production"));
    app.github_client().put_secret("acme", &name, "COPIED_ENVIRONMENT_ROLE_ARN", &copied).await.unwrap();
    for (file, git_ref) in [("release.yml", "other"), ("tags.yml", "x1"), ("deploy-anywhere.yml", "main")] {
        let (conclusion, _, log) = run(&app, &name, file, git_ref).await;
        assert_eq!(conclusion, "failure", "{file} on {git_ref}:\n{log}");
        assert!(
            log.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
            "{file} on {git_ref}:\n{log}"
        );
    }

    // Removing a role removes its secret and its IAM role; the others stay.
    let removed =
        call(&app, Method::DELETE, &format!("/api/v1/services/{name}/roles/release"), BOB, None).await;
    assert_eq!(removed.status(), StatusCode::ACCEPTED);
    assert_eq!(role(&roles(&app, &name).await, "release")["status"], "removing");
    ready(&app, &name).await;
    assert!(
        !iam_role_exists(&app, &format!("gha.acme.{name}.dev.release")).await,
        "the role is gone from IAM"
    );
    assert!(!app.sim().secrets("acme", &name).contains_key("GHA_BRANCH_RELEASE_ROLE_ARN"), "and its secret");
    let names: Vec<String> =
        roles(&app, &name).await.iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["main", "tag-v", "env-production"]);
    let removed_env =
        call(&app, Method::DELETE, &format!("/api/v1/services/{name}/roles/env-production"), BOB, None).await;
    assert_eq!(removed_env.status(), StatusCode::ACCEPTED);
    ready(&app, &name).await;
    let env_secrets = app.sim().environment_secrets("acme", &name, "production").unwrap();
    assert!(
        env_secrets.is_empty(),
        "the environment secret is gone (the environment stays): {env_secrets:?}"
    );

    // Deleting the service removes every role.
    assert_eq!(
        call(&app, Method::DELETE, &format!("/api/v1/services/{name}"), BOB, None).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted);
    for role_name in ["main", "tag-v"] {
        assert!(
            !iam_role_exists(&app, &format!("gha.acme.{name}.dev.{role_name}")).await,
            "{role_name} is gone"
        );
    }
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_default_role_cannot_be_removed_and_only_the_creator_or_admins_change_roles(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("guard");
    let body =
        json!({"name": name, "environment": "dev", "template": "acme/service-template", "team": "payments"});
    assert_eq!(
        call(&app, Method::POST, "/api/v1/services", ALICE, Some(body)).await.status(),
        StatusCode::ACCEPTED
    );
    ready(&app, &name).await;
    let path = format!("/api/v1/services/{name}/roles");
    let refused = call(&app, Method::POST, &path, BOB, Some(json!({"tag_pattern": "v*"}))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "bob did not create it and is no admin");
    let default = call(&app, Method::DELETE, &format!("{path}/main"), ALICE, None).await;
    assert_eq!(default.status(), StatusCode::CONFLICT);
    let body: Value = default.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("default-branch role cannot be removed"), "{body}");
    let unknown = call(&app, Method::DELETE, &format!("{path}/nope"), ALICE, None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let roles: i64 =
        sqlx::query_scalar("select count(*) from service_role").fetch_one(&app.db).await.unwrap();
    assert_eq!(roles, 0);
    let denied: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'role_requested' and outcome = 'denied'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(denied, 1, "the refusal is audited");
}

/// Bad role input is a 422 naming the field, on an existing service and on a new one, and nothing is made.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn bad_role_input_is_a_422_naming_the_field_and_changes_nothing(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("bad");
    assert_eq!(
        create(&app, &name, json!({"roles": [{"tag_pattern": "v*"}]})).await.status(),
        StatusCode::ACCEPTED
    );
    ready(&app, &name).await;
    let long = "b".repeat(40);
    let cases = [
        (json!({"branch": "release-*"}), "branch", "wildcard"),
        (json!({"tag_pattern": "*"}), "tag_pattern", "lone *"),
        (json!({"tag_pattern": "v*.*"}), "tag_pattern", "Only one *"),
        (json!({"tag_pattern": "*v"}), "tag_pattern", "Only one *"),
        (json!({"branch": "a..b"}), "branch", "Not a valid git branch name"),
        (json!({"tag_pattern": "v..1*"}), "tag_pattern", "Not a valid tag prefix"),
        (json!({"environment": "prod env"}), "environment", "letters, digits"),
        (json!({"branch": "main"}), "branch", "default branch"),
        // IAM role names ignore case: `Main` would be the default branch's role.
        (json!({"branch": "Main"}), "branch", "default branch"),
        // Policy variables in the trust policy, dot segments in GitHub API paths.
        (json!({"branch": "release-${x}"}), "branch", "policy variable"),
        (json!({"tag_pattern": "v${x}*"}), "tag_pattern", "policy variable"),
        (json!({"environment": ".."}), "environment", "cannot start with ."),
        (json!({"environment": "."}), "environment", "cannot start with ."),
        (json!({"environment": ".prod"}), "environment", "cannot start with ."),
        (json!({"tag_pattern": "v*"}), "tag_pattern", "already has a role named tag-v"),
        (json!({"branch": long}), "branch", "IAM allows 64"),
        (json!({}), "role", "Give one of"),
        (json!({"branch": "a", "environment": "b"}), "role", "only one"),
        (json!({"branch": 7}), "branch", "Wrong type"),
        (json!({"tags": "v*"}), "tags", "not part of the request"),
    ];
    for (body, field, says) in cases {
        let response = add_role(&app, &name, body.clone()).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = response.json().await.unwrap();
        let message = problem["errors"][field].as_str().unwrap_or_else(|| panic!("{body}: {problem}"));
        assert!(message.contains(says), "{body}: {message}");
    }
    // A second branch whose secret folds to another's is refused, not stored over it.
    assert_eq!(add_role(&app, &name, json!({"branch": "release-1"})).await.status(), StatusCode::ACCEPTED);
    let clash = add_role(&app, &name, json!({"branch": "release_1"})).await;
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = clash.json().await.unwrap();
    assert!(
        problem["errors"]["branch"].as_str().unwrap().contains("GHA_BRANCH_RELEASE_1_ROLE_ARN"),
        "{problem}"
    );
    // Two roles whose IAM names differ only in case would be one IAM role: the second is refused.
    assert_eq!(add_role(&app, &name, json!({"branch": "env-Prod"})).await.status(), StatusCode::ACCEPTED);
    let clash = add_role(&app, &name, json!({"environment": "prod"})).await;
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = clash.json().await.unwrap();
    assert!(problem["errors"]["environment"].as_str().unwrap().contains("only in case"), "{problem}");
    let stored: Vec<String> =
        sqlx::query_scalar("select name from service_role order by name").fetch_all(&app.db).await.unwrap();
    assert_eq!(stored, ["env-Prod", "release-1", "tag-v"], "nothing else was recorded");

    // On a new service: the role's error names `roles[i].field` and no service is made.
    let other = unique_name("badnew");
    let response = create(&app, &other, json!({"roles": [{"tag_pattern": "v*"}, {"branch": "x*"}]})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert!(problem["errors"]["roles[1].branch"].as_str().unwrap().contains("wildcard"), "{problem}");
    let duplicate =
        create(&app, &other, json!({"roles": [{"tag_pattern": "v*"}, {"tag_pattern": "v*"}]})).await;
    assert_eq!(duplicate.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = duplicate.json().await.unwrap();
    assert!(problem["errors"]["roles[1].tag_pattern"].as_str().unwrap().contains("already has"), "{problem}");
    let made: i64 = sqlx::query_scalar("select count(*) from service where name = $1")
        .bind(&other)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(made, 0);
}

/// Kill the reconciler after every step boundary of adding roles, of removing one and of deleting the
/// service; a fresh reconciler always finishes with exactly the roles asked for.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_reconciler_killed_after_any_role_step_is_resumed_without_duplicates(db: PgPool) {
    let app = TestApp::spawn(db).await;
    // Adding two roles is six steps; removing one is three.
    for k in 1..=6 {
        let name = unique_name(&format!("rolecrash{k}"));
        assert_eq!(create(&app, &name, json!({})).await.status(), StatusCode::ACCEPTED);
        ready(&app, &name).await;
        for body in [json!({"tag_pattern": "v*"}), json!({"environment": "production"})] {
            assert_eq!(add_role(&app, &name, body).await.status(), StatusCode::ACCEPTED);
        }
        app.reconciler().stopping_after_steps(k).run_until_idle().await.unwrap();
        ready(&app, &name).await;
        let listed = roles(&app, &name).await;
        assert!(listed.iter().all(|r| r["status"] == "ready"), "k={k}: {listed:?}");
        let sim = app.sim();
        assert!(sim.secrets("acme", &name).contains_key("GHA_TAG_V_ROLE_ARN"), "k={k}");
        assert!(
            sim.environment_secrets("acme", &name, "production")
                .unwrap()
                .contains_key("GHA_ENVIRONMENT_ROLE_ARN")
        );
        // An ensure cut off mid-call runs again: the environment is still one, as are the roles.
        assert_eq!(sim.environments("acme", &name), ["production"], "k={k}");
        assert_eq!(service_roles_in_iam(&name).await, ["env-production", "main", "tag-v"], "k={k}");

        if k <= 3 {
            let path = format!("/api/v1/services/{name}/roles/tag-v");
            assert_eq!(call(&app, Method::DELETE, &path, BOB, None).await.status(), StatusCode::ACCEPTED);
            app.reconciler().stopping_after_steps(k).run_until_idle().await.unwrap();
            ready(&app, &name).await;
            assert!(!iam_role_exists(&app, &format!("gha.acme.{name}.dev.tag-v")).await, "k={k}");
            assert!(!app.sim().secrets("acme", &name).contains_key("GHA_TAG_V_ROLE_ARN"), "k={k}");
        }
        assert_eq!(
            call(&app, Method::DELETE, &format!("/api/v1/services/{name}"), BOB, None).await.status(),
            StatusCode::ACCEPTED
        );
        app.reconciler().stopping_after_steps(k.min(2)).run_until_idle().await.unwrap();
        assert_eq!(app.settle(&app.reconciler(), &name).await, ServiceStatus::Deleted, "k={k}");
        for role_name in ["main", "tag-v", "env-production"] {
            assert!(
                !iam_role_exists(&app, &format!("gha.acme.{name}.dev.{role_name}")).await,
                "k={k}: {role_name}"
            );
        }
    }
}

/// A release-tag role asked for with the new service, on the form: made with the service.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn the_new_service_form_can_ask_for_a_release_tag_role(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("formrole");
    let form = [
        ("name", name.as_str()),
        ("environment", "dev"),
        ("visibility", "private"),
        ("template", "acme/service-template"),
        ("default_branch", "main"),
        ("team", "payments"),
        ("role_tag_pattern", "*"),
    ];
    let refused = app.submit_service(&browser, &form).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("id=\"role_tag_pattern-error\""), "the message is next to the field");
    let mut form = form;
    form[6] = ("role_tag_pattern", "v*");
    assert_eq!(app.submit_service(&browser, &form).await.status(), StatusCode::SEE_OTHER);
    ready(&app, &name).await;
    assert!(iam_role_exists(&app, &format!("gha.acme.{name}.dev.tag-v")).await);
    let page = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("GHA_TAG_V_ROLE_ARN") && page.contains("tags v*"),
        "the page shows the role and its secret"
    );
}

/// The drift check covers extra roles: one deleted out of band is found, and Repair makes it again.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_deleted_extra_role_is_drift_and_repair_makes_it_again(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let name = unique_name("roledrift");
    assert_eq!(
        create(&app, &name, json!({"roles": [{"tag_pattern": "v*"}]})).await.status(),
        StatusCode::ACCEPTED
    );
    ready(&app, &name).await;
    let role_name = format!("gha.acme.{name}.dev.tag-v");
    let service_id: uuid::Uuid = sqlx::query_scalar("select service_id from service where name = $1")
        .bind(&name)
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.aws.delete_role(&role_name, service_id).await.unwrap();
    let check = call(&app, Method::POST, &format!("/api/v1/services/{name}/check"), BOB, None).await;
    assert!(check.status().is_success(), "{}", check.status());
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let body: Value =
        call(&app, Method::GET, &format!("/api/v1/services/{name}"), BOB, None).await.json().await.unwrap();
    let findings = body["drift"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["resource"] == "push_role" && f["role"] == "tag-v" && f["problem"] == "missing"),
        "{findings:?}"
    );
    let repair = call(&app, Method::POST, &format!("/api/v1/services/{name}/repair"), BOB, None).await;
    assert_eq!(repair.status(), StatusCode::ACCEPTED);
    ready(&app, &name).await;
    assert!(iam_role_exists(&app, &role_name).await, "repaired");
}

/// The service page's Roles section: add a role with its form (CSRF), a bad value comes back with the
/// message next to the field, and Remove takes it away.
#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn roles_are_added_and_removed_from_the_service_page(db: PgPool) {
    let app = TestApp::spawn(db).await;
    let browser = app.signed_in("bob").await;
    let name = unique_name("pageroles");
    app.create_service(&browser, &name).await;
    ready(&app, &name).await;
    let page_url = app.at(&format!("/services/{name}"));
    let token = app.csrf_token(&browser).await;

    let without_token = browser
        .post(app.at(&format!("/services/{name}/roles")))
        .form(&[("kind", "tag"), ("value", "v*")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN, "no CSRF token, no role");
    let bad = browser
        .post(app.at(&format!("/services/{name}/roles")))
        .form(&[("csrf_token", token.as_str()), ("kind", "tag"), ("value", "*")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(
        page.contains("data-testid=\"role-error\"") && page.contains("lone *"),
        "the message is on the page"
    );
    let added = browser
        .post(app.at(&format!("/services/{name}/roles")))
        .form(&[("csrf_token", token.as_str()), ("kind", "tag"), ("value", "v*")])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    ready(&app, &name).await;
    let page = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("data-role=\"tag-v\"") && page.contains("GHA_TAG_V_ROLE_ARN"),
        "listed with its secret"
    );

    let removed = browser
        .post(app.at(&format!("/services/{name}/roles/tag-v/remove")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    ready(&app, &name).await;
    let page = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("data-role=\"tag-v\""), "gone from the page");
    assert!(!iam_role_exists(&app, &format!("gha.acme.{name}.dev.tag-v")).await);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .filter(|a| a.starts_with("role"))
        .collect();
    assert_eq!(actions.len(), 2, "both requests are audited: {actions:?}");
}

/// `method path` on github-sim with the server's token (what a team's admin could do on GitHub):
/// (status, JSON body or `Null`).
async fn on_github(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, format!("{}{path}", app.github.url()))
        .bearer_auth("ghp_sandbox_shipyard_bot")
        .header("user-agent", "shipyard-tests");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A ready service with the environment role `production`.
async fn service_with_environment_role(app: &TestApp, prefix: &str) -> String {
    let name = unique_name(prefix);
    let body = json!({"roles": [{"environment": "production"}]});
    assert_eq!(create(app, &name, body).await.status(), StatusCode::ACCEPTED);
    ready(app, &name).await;
    name
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_environment_roles_environment_is_created_for_the_default_branch_only_and_shown_so(db: PgPool) {
    let app = app_with_role_workflows(db).await;
    let name = service_with_environment_role(&app, "gated").await;

    let env_path = format!("/repos/acme/{name}/environments/production");
    let (status, env) = on_github(&app, Method::GET, &env_path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        env["deployment_branch_policy"],
        json!({"protected_branches": false, "custom_branch_policies": true}),
        "{env}"
    );
    let (_, policies) =
        on_github(&app, Method::GET, &format!("{env_path}/deployment-branch-policies"), None).await;
    let names: Vec<(&str, &str)> = policies["branch_policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["type"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("main", "branch")], "one policy, the default branch: {policies}");
    let listed = roles(&app, &name).await;
    let env_role = role(&listed, "env-production");
    assert_eq!(env_role["protection"], json!({"rules": "custom: main", "set_by": "shipyard"}));
    assert_eq!(role(&listed, "main")["protection"], Value::Null, "a branch role has no environment");
    let browser = app.signed_in("bob").await;
    let page = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Deploys: custom: main"), "the page shows the gate");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn a_job_from_another_branch_gets_no_credentials_from_the_environment_role(db: PgPool) {
    let app = app_with_role_workflows(db).await;
    let name = service_with_environment_role(&app, "gatedrun").await;
    let sim = app.sim();
    // No classic branch protection rule anywhere (Shipyard's ruleset is not one): the gate bites on its own.
    sim.push_branch("acme", &name, "other");

    let (conclusion, secrets, log) = run(&app, &name, "deploy.yml", "other").await;
    assert_eq!(conclusion, "failure", "{log}");
    assert!(
        log.contains(
            "Branch \"other\" is not allowed to deploy to production due to environment protection rules."
        ),
        "{log}"
    );
    assert!(secrets.get("GHA_ENVIRONMENT_ROLE_ARN").is_none(), "the job never saw the role's ARN: {secrets}");
    assert!(!log.contains("Authenticated as"), "and assumed nothing:\n{log}");

    let (conclusion, _, log) = run(&app, &name, "deploy.yml", "main").await;
    assert_eq!(conclusion, "success", "the protected branch deploys:\n{log}");
    assert!(log.contains("Authenticated as assumedRoleId"), "{log}");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_environment_with_the_teams_own_rules_is_left_as_it_is_and_reported(db: PgPool) {
    let app = app_with_role_workflows(db).await;
    let name = unique_name("teamenv");
    assert_eq!(create(&app, &name, json!({})).await.status(), StatusCode::ACCEPTED);
    ready(&app, &name).await;
    // The team's environment: selected branches (release/*) only.
    let env_path = format!("/repos/acme/{name}/environments/production");
    let custom =
        json!({"deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true}});
    assert_eq!(on_github(&app, Method::PUT, &env_path, Some(custom)).await.0, StatusCode::OK);
    let policies = format!("{env_path}/deployment-branch-policies");
    let added = on_github(&app, Method::POST, &policies, Some(json!({"name": "release/*"}))).await;
    assert_eq!(added.0, StatusCode::OK, "{}", added.1);

    assert_eq!(
        add_role(&app, &name, json!({"environment": "production"})).await.status(),
        StatusCode::ACCEPTED
    );
    ready(&app, &name).await;

    let (_, env) = on_github(&app, Method::GET, &env_path, None).await;
    assert_eq!(
        env["deployment_branch_policy"],
        json!({"protected_branches": false, "custom_branch_policies": true}),
        "the team's policy stays: {env}"
    );
    let (_, listed) = on_github(&app, Method::GET, &policies, None).await;
    assert_eq!(listed["total_count"], 1, "{listed}");
    let listed = roles(&app, &name).await;
    assert_eq!(
        role(&listed, "env-production")["protection"],
        json!({"rules": "custom: release/*", "set_by": "team"})
    );
    let browser = app.signed_in("bob").await;
    let page = browser.get(app.at(&format!("/services/{name}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Deploys: custom: release/*"), "the page shows the team's gate");
    assert!(page.contains("rules, left as they are)"), "and says whose it is");
}

#[sqlx::test(migrator = "shipyard::db::MIGRATOR")]
async fn an_environment_roles_protection_removed_is_drift_and_repair_puts_it_back(db: PgPool) {
    let app = app_with_role_workflows(db).await;
    let name = service_with_environment_role(&app, "gatedrift").await;
    let env_path = format!("/repos/acme/{name}/environments/production");
    let open = json!({"deployment_branch_policy": null});
    assert_eq!(on_github(&app, Method::PUT, &env_path, Some(open)).await.0, StatusCode::OK);

    let check = call(&app, Method::POST, &format!("/api/v1/services/{name}/check"), BOB, None).await;
    assert!(check.status().is_success(), "{}", check.status());
    assert_eq!(app.status_of(&name).await, ServiceStatus::Drifted);
    let body: Value =
        call(&app, Method::GET, &format!("/api/v1/services/{name}"), BOB, None).await.json().await.unwrap();
    let findings = body["drift"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!(
        (f["resource"].as_str(), f["role"].as_str(), f["problem"].as_str()),
        (Some("push_role_secret"), Some("env-production"), Some("unprotected")),
        "{f}"
    );
    assert_eq!(body["drift"]["repairable"], true);

    let repair = call(&app, Method::POST, &format!("/api/v1/services/{name}/repair"), BOB, None).await;
    assert_eq!(repair.status(), StatusCode::ACCEPTED);
    ready(&app, &name).await;
    let (_, env) = on_github(&app, Method::GET, &env_path, None).await;
    assert_eq!(
        env["deployment_branch_policy"],
        json!({"protected_branches": false, "custom_branch_policies": true}),
        "repaired: {env}"
    );
    let again = call(&app, Method::POST, &format!("/api/v1/services/{name}/check"), BOB, None).await;
    assert!(again.status().is_success());
    assert_eq!(app.status_of(&name).await, ServiceStatus::Ready, "nothing left to find");
}
