//! Sessions follow the organization: GitHub's word on a session's membership and role is trusted for
//! `SHIPYARD_MEMBERSHIP_TTL_SECS`, then asked again with the server's credential
//! (`GET /orgs/{org}/memberships/{username}`; the user's OAuth token was never kept). A removed member's
//! sessions end; a demoted admin's role follows at once. While GitHub cannot answer, the last answer is
//! kept for `SHIPYARD_MEMBERSHIP_GRACE_SECS` more, then the session is refused until GitHub answers.
//!
//! The check time and role live on the session row, so a request costs GitHub nothing until the TTL passes.

use time::OffsetDateTime;

use crate::{
    db::{
        self,
        audit::Outcome,
        audit::{AuditAction, NewAuditEvent},
        sessions::SessionRecord,
    },
    domain::OrgRole,
    error::AppError,
    provider::{ErrorKind, ProviderError, RetryPolicy, System},
    web::{AppState, bearer::CHECK_DEADLINE},
};

/// The role a session may act with now: `None` when its membership ended (its sessions are gone).
#[tracing::instrument(skip_all, fields(login = %record.user.login))]
pub async fn current_role(state: &AppState, record: &SessionRecord) -> Result<Option<OrgRole>, AppError> {
    let config = &state.config;
    let age = OffsetDateTime::now_utc() - record.membership_checked_at;
    if age < config.membership_ttl {
        return Ok(Some(record.org_role));
    }
    // A person is waiting on this request: one quick retry, never a wait for a rate-limit reset.
    let github = state.github.with_retry(RetryPolicy::interactive());
    let user = &record.user;
    // The same deadline as a token check: a slow GitHub takes the grace path, not the request's timeout.
    let answer = tokio::time::timeout(CHECK_DEADLINE, github.member_of(&config.github_org, &user.login))
        .await
        .unwrap_or_else(|_| {
            Err(ProviderError::new(
                System::GitHub,
                ErrorKind::Transient,
                format!("GitHub did not answer the membership re-check within {CHECK_DEADLINE:?}"),
            ))
        });
    match answer {
        // The login is only the address: an answer about another account (the login was renamed and
        // taken by someone else) says nothing about this user, and is treated as no membership.
        Ok(membership) => match membership
            .as_ref()
            .filter(|m| m.belongs_to(user.github_id))
            .and_then(|m| m.admitted_role())
        {
            Some(role) => {
                state.sessions.record_membership_check(&state.db, user.user_id, role).await?;
                if role != record.org_role {
                    tracing::info!(from = %record.org_role, to = %role, "organization role changed on GitHub");
                }
                Ok(Some(role))
            }
            None => {
                let ended = state.sessions.end_all_of(&state.db, user.user_id).await?;
                let detail = match membership {
                    Some(m) if !m.belongs_to(user.github_id) => format!(
                        "the login {} now belongs to another GitHub account: sessions ended",
                        user.login
                    ),
                    Some(m) => format!("GitHub reports a {} {} membership: sessions ended", m.state, m.role),
                    None => "no longer a member of the organization on GitHub: sessions ended".to_owned(),
                };
                tracing::info!(sessions = ended, "{detail}");
                let event = NewAuditEvent {
                    actor_user_id: Some(user.user_id),
                    actor_login: Some(&user.login),
                    outcome: Outcome::Denied,
                    detail: &detail,
                    ..NewAuditEvent::new(AuditAction::SessionEnded)
                };
                db::audit::insert_audit_event(&state.db, &event).await?;
                Ok(None)
            }
        },
        Err(e) if age < config.membership_ttl + config.membership_grace => {
            tracing::warn!(error = %e, "membership could not be re-checked; keeping GitHub's last answer for now");
            Ok(Some(record.org_role))
        }
        Err(e) => {
            tracing::warn!(error = %e, "membership could not be re-checked and the grace period is over");
            Err(AppError::MembershipUnconfirmed(config.github_org.clone()))
        }
    }
}
